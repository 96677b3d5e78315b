"""The ``langgraph-runner`` command line. Private: the command is the interface.

Modules::

    main     the entry point, ``report`` and the exit codes
    follow   ``report --follow``: watch a thread's report until its run ends
    rebuild  the ``plan`` and ``rebuild`` commands
    runs     the ``runs`` and ``cancel`` commands
    serve    the ``serve`` command: the runs service with uvicorn
    worker   the ``worker`` command: execute the runs service's queued runs
"""
