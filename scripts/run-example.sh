#!/usr/bin/env bash
# Set up (first run only) and run the example pipeline on the embedded SQLite checkpointer.
source "$(dirname "$0")/_venv.sh"
echo "running examples/pipeline.py ..." >&2
python examples/pipeline.py "$@"
