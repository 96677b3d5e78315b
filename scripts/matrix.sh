#!/usr/bin/env bash
# The whole test suite on every supported Python found on this machine, and on the lowest
# supported LangGraph release. .ci/run runs it after the README's test command.
#
#   bash scripts/matrix.sh              # every Python in PYTHONS that is installed, then LangGraph
#   PYTHONS="3.12" bash scripts/matrix.sh
#   LANGGRAPHS="" bash scripts/matrix.sh  # Pythons only
#
# Interpreters are looked up under `pyenv root` (versions/X.Y.*) and on PATH (pythonX.Y).
# Each gets its own virtualenv under .venvs/ (made once per pyproject.toml version).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHONS=${PYTHONS-"3.10 3.11 3.12 3.13"}
# The lowest LangGraph release we support (pyproject.toml's lower bound); the newest is what
# a plain install resolves to, tested above.
LANGGRAPHS=${LANGGRAPHS-"1.2.15"}
LANGGRAPH_PYTHON=${LANGGRAPH_PYTHON:-3.11}

find_python() {
  local v=$1 root candidate
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    candidate=$(ls -d "$root"/versions/"$v".* 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$candidate" ] && [ -x "$candidate/bin/python" ]; then
      echo "$candidate/bin/python"
      return
    fi
  fi
  command -v "python$v" 2>/dev/null || true
}

stamp=$(sha256sum pyproject.toml | cut -c1-16)
results=()
failed=0

run_suite() {  # label venv-dir python [extra pip requirement]
  local label=$1 venv=$2 python=$3 extra=${4:-}
  if [ ! -f "$venv/.installed-$stamp" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    if [ -n "$extra" ]; then
      # The package itself without its pins, then its dependencies with the one override.
      "$venv/bin/python" -m pip install --quiet --no-deps -e .
      "$venv/bin/python" scripts/requirements.py --override "$extra" > "$venv/requirements.txt"
      "$venv/bin/python" -m pip install --quiet -r "$venv/requirements.txt"
    else
      "$venv/bin/python" -m pip install --quiet -e ".[dev]"
    fi
    touch "$venv/.installed-$stamp"
  fi
  echo "=== $label: $("$venv/bin/python" -c 'import sys, langgraph.version as v; print(sys.version.split()[0], "langgraph", v.__version__)' 2>/dev/null || "$venv/bin/python" --version)"
  local out
  out=$(mktemp)
  if "$venv/bin/python" -m pytest -q -n "$(python3 -c 'import os; print(min(8, 2 * (os.cpu_count() or 1)))')" -p no:cacheprovider -o addopts="-rfE --dist loadfile --no-loadscope-reorder" 2>&1 | tee "$out" \
      | grep -E '^(FAILED|ERROR) tests/|(passed|failed|error).* in [0-9.]+s'; then
    results+=("$label: $(tail -n 1 "$out")")
  else
    results+=("$label: FAILED: $(tail -n 1 "$out")")
    failed=1
    # What failed, in full enough to diagnose (the last lines of pytest's failure report).
    echo "--- $label: pytest's failure report (last 300 lines)"
    sed -n '/^=\+ \(ERRORS\|FAILURES\) =\+$/,$p' "$out" | tail -n 300
  fi
  rm -f "$out"
}

for v in $PYTHONS; do
  python=$(find_python "$v")
  if [ -z "$python" ]; then
    results+=("Python $v: not installed here, skipped")
    continue
  fi
  run_suite "Python $v" ".venvs/py$v" "$python"
done

for lg in $LANGGRAPHS; do
  python=$(find_python "$LANGGRAPH_PYTHON")
  [ -n "$python" ] || python=python3
  run_suite "LangGraph $lg (Python $LANGGRAPH_PYTHON)" ".venvs/langgraph-$lg" "$python" "langgraph==$lg"
done

echo
echo "Matrix:"
printf '  %s\n' "${results[@]}"
exit $failed
