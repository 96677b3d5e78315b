"""Planned partial rebuilds and reruns of a thread's nodes. Private: not public API.

Modules::

    partial          plan and rebuild: a change as data, a partial rebuild from a base run
    history          the base run of a rebuild, read from the checkpoint history
    rerun            rerun a thread's blocked nodes or failed Send items
    dag              require_dag: a DAG workflow with a cycle is refused, the cycle named
"""
