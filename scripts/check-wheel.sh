#!/usr/bin/env bash
# The package as users get it: build the sdist and wheel, install the wheel into a clean venv
# outside the repository, and run the quick start there (nothing is imported from src/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PY" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls "$work/dist"
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/langgraph_runner-*.whl
cp examples/pipeline.py "$work/pipeline.py"
cd "$work"
# -I: no PYTHONPATH, no user site, no script directory on sys.path: only the installed wheel.
venv/bin/python -I -c 'import langgraph_runner, sys; print(langgraph_runner.__file__)' \
  | grep -q "^$work/venv/" || { echo "langgraph_runner was not imported from the wheel" >&2; exit 1; }
PIPELINE_DB="$work/pipeline.db" venv/bin/python -I pipeline.py | tee "$work/out.txt"
thread=$(sed -n 's/^thread: \([^ ]*\).*/\1/p' "$work/out.txt")
venv/bin/langgraph-runner report --checkpointer "sqlite:///$work/pipeline.db" --thread "$thread" \
  --status failed
venv/bin/python -I -m langgraph_runner --version
# The browser UI's files ship as package data (no JavaScript toolchain at install time).
venv/bin/python -I -c 'from importlib import resources
static = resources.files("langgraph_runner._service") / "static"
for name in ("runs.html", "run.html", "ui.css", "common.js", "graph.js", "runs.js", "run.js"):
    assert (static / name).is_file(), f"the wheel lacks the UI file {name}"'
echo "wheel check: ok"
