"""``python -m langgraph_runner``: the ``langgraph-runner`` command line."""

import sys

from langgraph_runner._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
