#!/usr/bin/env bash
# Set up (first run only), then lint, type-check, build the docs strictly and run the whole test suite.
source "$(dirname "$0")/_venv.sh"
ruff check src tests examples benchmarks
ruff format --check src tests examples benchmarks
mypy --strict
# A broken link, anchor or API reference in docs/ fails the build (strict: true in mkdocs.yml);
# not --quiet: any warning is printed, so the log says what failed.
site_dir=$(mktemp -d)
trap 'rm -rf "$site_dir"' EXIT
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$site_dir"
# -n auto: one worker process per core (tests use unique names and their own databases).
python -m pytest -n auto "$@"
