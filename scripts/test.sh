#!/usr/bin/env bash
# Set up (first run only), then lint, type-check, build the docs strictly and run the whole test suite.
source "$(dirname "$0")/_venv.sh"
source "$(dirname "$0")/_phoenix.sh"
# Bytecode is cached in __pycache__ (ignored by git): with PYTHONDONTWRITEBYTECODE set, every
# test worker re-compiles and re-rewrites ~500 modules (about 5 s of CPU each) and every
# Python subprocess a test starts compiles the package again.
unset PYTHONDONTWRITEBYTECODE
ruff check src tests examples benchmarks
ruff format --check src tests examples benchmarks
mypy --strict
# A broken link, anchor or API reference in docs/ fails the build (strict: true in mkdocs.yml);
# not --quiet: any warning is printed, so the log says what failed.
site_dir=$(mktemp -d)
trap 'rm -rf "$site_dir"' EXIT
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$site_dir"
# Two pytest workers per core, at most 8: about half of the suite's time is spent waiting
# (subprocesses, real servers, short real timeouts), so one worker per core leaves the cores
# idle. Tests use unique names and their own databases, so any number of workers is safe.
workers=$(python -c 'import os; print(min(8, 2 * (os.cpu_count() or 1)))')
python -m pytest -n "$workers" "$@"
