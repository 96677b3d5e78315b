"""The runs service on Temporal, behind ``langgraph_runner.temporal``. Private: not part
of the public API (``TemporalExecutor`` and ``runs_worker`` are re-exported there).

Modules::

    executor        TemporalExecutor: what the service's routes call, runs as workflows
    run_workflow    RunWorkflow and its activities: a run's row, checkpoints and end
    activity_saver  ActivitySaver: the workflow's checkpointer, every call an activity
    checkpoint_ids  LangGraph's checkpoint ids from the workflow: the same on a replay
    node_times      NodeTimes: each node activity's own start and end (task_times)
    activity_tracker  ActivityTracker: a node activity's run tracker (attempts, rebuild hits)
"""
