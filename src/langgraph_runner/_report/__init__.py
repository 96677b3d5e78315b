"""The machinery behind ``run_report`` and ``langgraph-runner report``. Private.

steps     a thread's steps and tasks, read from a graph or straight from a saver
follow    the live view of a running thread (``report --follow``)
"""
