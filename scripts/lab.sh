#!/usr/bin/env bash
# `make lab` / `make lab-full`: JupyterLab on a working copy of the course.
#
#   scripts/lab.sh fast    # GMGAN_FAST=1: every notebook runs in minutes on a laptop's CPU
#   scripts/lab.sh full    # GMGAN_FAST=0: the real thing (notebook 04's training takes long)
#   scripts/lab.sh edit    # FAST, on notebooks/ itself: for changing the course (then make sync)
#
# The notebooks are copied once into a git-ignored folder (LAB_DIR, default work/notebooks) and
# JupyterLab opens that copy: a student's answers never meet the tests or a rebuild of
# notebooks/, and a copy that exists is never overwritten (delete it to start afresh).
# JupyterLab refuses to run as root; so does this script unless ALLOW_ROOT=1 is given
# (`make lab ALLOW_ROOT=1`, e.g. in a container).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  fast) fast=1 ;;
  full) fast=0 ;;
  edit) fast=1 ;;
  *) echo "usage: scripts/lab.sh fast|full|edit" >&2; exit 2 ;;
esac
args=()
if [ "$(id -u)" = 0 ]; then
  if [ "${ALLOW_ROOT:-0}" != 1 ]; then
    echo "error: refusing to start JupyterLab as root; run it as a normal user, or say" \
         "make lab ALLOW_ROOT=1 if you mean it (a container, a throw-away VM)" >&2
    exit 2
  fi
  args+=(--allow-root)
fi
if [ "$mode" = edit ]; then
  # jupytext (jupytext.toml) saves each notebook and its text twin together; `make sync`
  # afterwards removes what the project does not keep (notebooks/README.md, "Editing").
  work=notebooks
else
  work=${LAB_DIR:-work/notebooks}
  mkdir -p "$work"
  for nb in notebooks/*.ipynb; do
    [ -e "$work/$(basename "$nb")" ] || cp "$nb" "$work/"
  done
fi
label=$([ "$fast" = 1 ] && echo "FAST (GMGAN_FAST=1)" || echo "FULL (GMGAN_FAST=0)")
echo "JupyterLab on $work, mode $label; the first cell of every notebook prints the mode."
export GMGAN_FAST=$fast
exec "${JUPYTER:-.venv/bin/jupyter}" lab "${args[@]}" "$work"
