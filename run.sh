#!/usr/bin/env bash
# fasr_nb from a fresh clone. These commands do everything:
#   ./run.sh main   train a small FASRGAN on the bundled photographs, evaluate it on Set5, draw the figure
#   ./run.sh test   run every notebook's tests (what CI runs), then JupyterLab and the documentation site in Chromium
#   ./run.sh docs   build the documentation site into _docs/ (--serve: serve it on 127.0.0.1)
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
  test)  setup; rc=0; "$py" tools/test_notebooks.py "$@" || rc=1
         # the whole suite (no notebook named): also the browser tests, JupyterLab and the documentation site
         if [[ " $* " != *.ipynb* ]]; then
           "$py" tools/test_jupyterlab.py || rc=1
           "$py" tools/test_docs.py || rc=1
         fi
         exit $rc ;;
  docs)  setup; exec "$py" tools/make_docs.py "$@" ;;   # build the site into _docs/; --serve: serve it on 127.0.0.1
  *) echo "usage: ./run.sh main|test|docs|setup [args...]" >&2; exit 2 ;;
esac
