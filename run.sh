#!/usr/bin/env bash
# fasr_nb from a fresh clone. Two commands do everything:
#   ./run.sh main   train a small FASRGAN on the bundled photographs, evaluate it on Set5, draw the figure
#   ./run.sh test   run every notebook's tests, then open 10_visualize in JupyterLab in Chromium (what CI runs)
# Each sets itself up first: a virtual environment in .venv with fasr_nb installed in editable mode,
# rebuilt whenever pyproject.toml changes. FASR_VENV=path picks another environment folder.
set -euo pipefail
cd "$(dirname "$0")"
venv=${FASR_VENV:-.venv}
py="$venv/bin/python"

setup() {
  local stamp="$venv/.fasr-installed" want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ -x "$py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  echo "Setting up $venv (first run: a few minutes, most of it PyTorch)..." >&2
  [ -x "$py" ] || python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q -e ".[dev,notebooks]"
  echo "$want" > "$stamp"
}

cmd=${1:-}; shift || true
case "$cmd" in
  setup) setup ;;
  main)  setup; exec "$venv/bin/fasr" demo "$@" ;;
  test)  setup
         status=0
         "$py" tools/test_notebooks.py "$@" || status=1
         if [ $# -eq 0 ]; then "$py" tools/test_jupyterlab.py || status=1; fi   # a full run: also JupyterLab in Chromium
         exit $status ;;
  *) echo "usage: ./run.sh main|test|setup [args...]" >&2; exit 2 ;;
esac
