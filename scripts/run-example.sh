#!/usr/bin/env bash
# Set up (first run only) and run the example pipeline on the embedded SQLite checkpointer.
source "$(dirname "$0")/_venv.sh"
python examples/pipeline.py "$@"
