#!/usr/bin/env bash
# Regenerate requirements/lock.txt (every package, transitive ones included) with pip-tools,
# then environment.yml from it. The lock pins the environment the tests passed in: the
# versions installed in the venv are given to the resolver as constraints, so the lock records
# exactly what ran, and pip-compile checks that it is a consistent resolution of pyproject.toml.
#
#   scripts/lock.sh            # after `make setup` and a passing `make test`
#   scripts/lock.sh --upgrade  # resolve afresh (newest allowed releases); then install, test
#
# pip-tools runs from its own throw-away venv so that it never enters the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q pip-tools
constraint=()
if [[ "${1:-}" != "--upgrade" ]]; then
  "$VENV/bin/pip" freeze --exclude-editable > "$tools/installed.txt"
  constraint=(--constraint "$tools/installed.txt")
fi
CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$tools/venv/bin/pip-compile" -q --extra test \
  --extra notebooks --strip-extras --no-emit-index-url --no-emit-find-links \
  --annotation-style line "${constraint[@]}" --output-file requirements/lock.txt pyproject.toml
# The throw-away constraint file is not a reason for a pin: keep only the real ones.
sed -i -E -e "s@-c $tools/installed.txt(, )?@@" -e 's@ +# via *$@@' requirements/lock.txt
"$VENV/bin/python" scripts/environment_yml.py
echo "wrote requirements/lock.txt ($(grep -c '==' requirements/lock.txt) pins) and environment.yml"
