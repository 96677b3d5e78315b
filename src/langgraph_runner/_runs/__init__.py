"""The machinery behind ``run()`` and ``rebuild()``. Private: not part of the public API.

tracker   follows a run's node tasks through callbacks: statuses, counts, cancellation
history   reads a base run back from its checkpoints (for plan and rebuild)
cli       the ``plan`` and ``rebuild`` commands of ``langgraph-runner``
"""
