#!/usr/bin/env bash
# `make lab` / `make lab-full` / `make lab-edit`: JupyterLab on the course.
#
#   scripts/lab.sh fast  # GMGAN_FAST=1: every notebook runs in minutes on a laptop's CPU
#   scripts/lab.sh full  # GMGAN_FAST=0: the real thing (notebook 04's training takes long)
#   scripts/lab.sh edit  # FAST, on notebooks/ itself: for changing the course (then make sync)
#
# Options after the mode go to `jupyter lab` as they are (e.g. scripts/lab.sh fast --port=8890).
#
# fast and full: the notebooks are copied once into a git-ignored folder, LAB_ROOT/notebooks
# (LAB_ROOT defaults to work/), and JupyterLab opens that copy: a student's answers never meet
# the tests or a rebuild of notebooks/, and a copy that exists is never overwritten (delete it
# to start afresh).
#
# Pictures and links: the notebooks point into the repository with paths relative to
# notebooks/ (`../docs/img/...`, `../docs/experiments.md`), which is what a code host's static
# view resolves. JupyterLab resolves them inside its root folder only, so the root must hold
# docs/ beside the notebooks: edit serves the repository and opens notebooks/; fast and full
# serve LAB_ROOT, which gets a fresh copy of docs/ at every start (the course's reference text,
# never a student's work). A copy, not a symlink: jupyter_server (tornado >= 6.5.9) answers 403
# to a /files/ request whose symlink leads out of its root, so pictures behind a
# `work/docs -> ../docs` link would stay broken (Markdown files would open, pictures would not).
#
# JupyterLab refuses to run as root; so does this script unless ALLOW_ROOT=1 is given
# (`make lab ALLOW_ROOT=1`, e.g. in a container).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  fast) fast=1 ;;
  full) fast=0 ;;
  edit) fast=1 ;;
  *) echo "usage: scripts/lab.sh fast|full|edit [jupyter lab option...]" >&2; exit 2 ;;
esac
shift
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
  root=.
else
  root=${LAB_ROOT:-work}
  mkdir -p "$root/notebooks"
  for nb in notebooks/*.ipynb; do
    [ -e "$root/notebooks/$(basename "$nb")" ] || cp "$nb" "$root/notebooks/"
  done
  rm -rf "$root/docs"
  cp -R docs "$root/docs"
fi
label=$([ "$fast" = 1 ] && echo "FAST (GMGAN_FAST=1)" || echo "FULL (GMGAN_FAST=0)")
echo "JupyterLab on $root/notebooks, mode $label; the first cell of every notebook prints the mode."
export GMGAN_FAST=$fast
# The file browser starts in notebooks/ (preferred_dir, a path inside the root).
exec "${JUPYTER:-.venv/bin/jupyter}" lab "${args[@]}" --ServerApp.root_dir="$root" \
  --FileContentsManager.preferred_dir=notebooks "$@"
