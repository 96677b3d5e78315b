#!/usr/bin/env bash
# Set up (first run only), then lint, type-check and run the whole test suite.
source "$(dirname "$0")/_venv.sh"
ruff check src tests examples benchmarks
ruff format --check src tests examples benchmarks
mypy --strict
python -m pytest "$@"
