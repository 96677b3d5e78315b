"""The ``langgraph-runner`` command line. Private: the command is the interface."""
