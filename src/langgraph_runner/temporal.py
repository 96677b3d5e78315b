"""Run hardened graphs on Temporal, through Temporal's LangGraph plugin.

``for_temporal(builder)`` returns a copy of a ``StateGraph`` builder prepared for
``temporalio.langgraph.LangGraphPlugin`` (the builder itself is left as it was):
every node runs as an activity, and a node built by ``create_node``,
``node_factory`` or ``harden`` gets an activity body of ours, so nothing of the
package runs inside the workflow::

    from temporalio.langgraph import LangGraphPlugin
    from langgraph_runner.temporal import for_temporal

    plugin = LangGraphPlugin(graphs={"orders": for_temporal(builder)})

The runs service runs its triggered runs on Temporal with
``create_app(executor=TemporalExecutor(client=..., task_queue=...))``, and
``runs_worker(...)`` is the worker those runs need.

Importing this module needs the ``temporal`` extra
(``pip install "langgraph-runner[temporal]"``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, cast

from langchain_core.runnables import Runnable
from langgraph.graph import StateGraph

from langgraph_runner._internal.checks import check_count
from langgraph_runner._internal.compat import copy_builder
from langgraph_runner._internal.durations import optional_seconds, seconds
from langgraph_runner._internal.extras import require_extra

require_extra("temporal", "temporalio.langgraph")

from temporalio.common import RetryPolicy  # noqa: E402 (after the extra's check)

from langgraph_runner._engine.activity import (  # noqa: E402
    ActivityNode,
    activity_body,
    foreign_body,
    spec_of,
)
from langgraph_runner._engine.spec import NodeSpec  # noqa: E402
from langgraph_runner._temporal.executor import TemporalExecutor  # noqa: E402

__all__ = ["TemporalExecutor", "activity_options", "for_temporal", "runs_worker"]

Retries = Literal["temporal", "runner"]


_INFRA_RETRIES = 3


def activity_options(
    spec: NodeSpec,
    *,
    retries: Retries = "temporal",
    default_timeout: float | timedelta = 300.0,
    timeout_grace: float | timedelta = 5.0,
    infra_retries: int = _INFRA_RETRIES,
) -> dict[str, Any]:
    """The ``workflow.execute_activity`` options a wrapped node maps to.

    Args:
        spec: The node's spec (what ``create_node`` validated).
        retries: ``"temporal"``: each activity attempt runs one attempt of the node
            and the node's retries are Temporal's; ``"runner"``: the node retries
            inside the activity attempt.
        default_timeout: Start-to-close timeout of a node without ``timeout``.
        timeout_grace: Added to the node's own limit, so the node's timeout (a
            record, a retry decision) fires before Temporal's.
        infra_retries: How many activity attempts Temporal may add for failures the
            node never sees (a lost worker, a start-to-close or heartbeat timeout, a
            worker shutdown). The node's own failures never use them.

    Returns:
        ``start_to_close_timeout`` and ``retry_policy`` (``maximum_attempts`` is the
        node's ``max_attempts`` under Temporal retries, else 1, plus
        ``infra_retries``); with an idle limit
        (``TimeoutPolicy(idle_timeout=...)``), ``heartbeat_timeout`` (the limit plus
        ``timeout_grace``); with a ``deadline``, ``schedule_to_close_timeout`` (the
        deadline plus ``timeout_grace``: the whole set of attempts and waits).
    """
    owner = "activity_options"
    grace = seconds(timeout_grace, "timeout_grace", owner=owner, zero=True)
    default = seconds(default_timeout, "default_timeout", owner=owner)
    extra = check_count(infra_retries, "infra_retries", owner, least=0)
    retry = spec.retry
    attempts = retry.max_attempts if retry is not None else 1
    options: dict[str, Any]
    if retries == "temporal":
        per_attempt = spec.timeout if spec.timeout is not None else spec.deadline
        start = per_attempt + grace if per_attempt is not None else default
        # The node ends its own failures (a record, or a non-retryable error) within
        # its attempts, so what is left is for the failures it never sees.
        policy = RetryPolicy(maximum_attempts=attempts + extra)
        if retry is not None:
            policy = RetryPolicy(
                maximum_attempts=attempts + extra,
                initial_interval=timedelta(seconds=max(retry.initial_interval, 0.001)),
                backoff_coefficient=retry.backoff_factor,
                maximum_interval=timedelta(seconds=max(retry.max_interval, 0.001)),
            )
        options = {"start_to_close_timeout": timedelta(seconds=start), "retry_policy": policy}
    else:
        whole = spec.deadline
        if whole is None and spec.timeout is not None and retry is not None:
            whole = spec.timeout * attempts + retry.max_interval * (attempts - 1)
        elif whole is None and spec.timeout is not None:
            whole = spec.timeout
        start = whole + grace if whole is not None else default
        options = {
            "start_to_close_timeout": timedelta(seconds=start),
            "retry_policy": RetryPolicy(maximum_attempts=1 + extra),
        }
    if spec.deadline is not None:  # the deadline counts from the first scheduling
        options["schedule_to_close_timeout"] = timedelta(seconds=spec.deadline + grace)
    if spec.idle_timeout is not None:
        options["heartbeat_timeout"] = timedelta(seconds=spec.idle_timeout + grace)
    return options


def for_temporal(
    builder: StateGraph[Any, Any, Any, Any],
    /,
    *,
    retries: Retries = "temporal",
    default_timeout: float | timedelta = 300.0,
    timeout_grace: float | timedelta = 5.0,
    heartbeat: float | timedelta | None = None,
    infra_retries: int = _INFRA_RETRIES,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """A copy of ``builder`` prepared for ``LangGraphPlugin(graphs={...: prepared})``.

    ``builder`` itself is left as it was: compiled and run in-process it behaves as
    before (give the plugin the copy; the plugin changes the nodes it is given).

    Every node gets ``metadata["execute_in"] = "activity"`` (a node of yours may set
    its own; a node of this package runs only as an activity).
    A node this package built is replaced by an activity body of ours: the plugin
    registers it and the node's retries, timeouts, records and routing flags run in
    the activity. Any other node (yours, a ``ToolNode`` hardened per tool call) runs
    as it is, and its own failure is final (it runs once, as in-process) unless
    ``options`` or its metadata give it a ``retry_policy``. Either way the activity
    turns message dicts in its input back into LangChain messages (Temporal's data
    converter sends them as plain data).

    Failures the node never sees (a lost worker, a start-to-close or heartbeat
    timeout, a worker shutdown) never use the node's attempts: Temporal retries them,
    up to ``infra_retries`` more activity attempts than the node's own.

    Args:
        builder: The graph builder (not compiled), after ``harden`` or ``add_node``
            with ``create_node`` nodes.
        retries: Who retries the node's own failures. ``"temporal"`` (default):
            Temporal, after the node's ``RetryConfig`` decided; one node attempt per
            activity attempt; on the last one, record mode returns the record.
            ``"runner"``: the node's own loop, inside the activity attempt.
        default_timeout: Start-to-close timeout of a node without ``timeout``
            (seconds or a timedelta; Temporal requires one).
        timeout_grace: Added to a node's own time limit so it fires first.
        heartbeat: The activities' heartbeat timeout (seconds or a timedelta), or
            None. With one, a node heartbeats three times per timeout while it runs:
            a lost worker's node is retried after this timeout, and a cancelled
            workflow cancels the running node (its task is cancelled). A node of
            ours with an idle limit (``TimeoutPolicy(idle_timeout=...)``) has its own
            heartbeat timeout, the limit plus ``timeout_grace``, and under Temporal
            retries sends only its own beats (``heartbeat()``, ``runtime.heartbeat()``).
        infra_retries: How many activity attempts Temporal may add to a node's own
            for failures the node never sees (default 3; 0: none, a lost worker
            then fails the workflow).
        options: Per node name, ``execute_activity`` options that win over ours
            (for example ``{"fetch": {"task_queue": "gpu"}}``).

    Returns:
        A new builder, prepared.

    Raises:
        TypeError: A wrong type for an option.
        ValueError: An unknown ``retries``, a non-positive time, a negative
            ``infra_retries``, a node with a LangGraph ``retry_policy`` (the plugin
            refuses it), a node of this package given ``execute_in`` other than
            ``"activity"``, or an ``options`` key naming no node.
    """
    owner = "for_temporal"
    if retries not in ("temporal", "runner"):
        raise ValueError(f"{owner}: retries must be 'temporal' or 'runner', got {retries!r}")
    default = seconds(default_timeout, "default_timeout", owner=owner)
    seconds(timeout_grace, "timeout_grace", owner=owner, zero=True)
    beat = optional_seconds(heartbeat, "heartbeat", owner=owner)
    extra_attempts = check_count(infra_retries, "infra_retries", owner, least=0)
    extra = dict(options or {})
    unknown = sorted(set(extra) - set(builder.nodes))
    if unknown:
        raise ValueError(f"{owner}: options name no node of the graph: {unknown}")
    prepared = copy_builder(builder)
    for name, node in builder.nodes.items():
        if node.retry_policy:
            raise ValueError(
                f"{owner}: node {name!r} has a LangGraph retry_policy; Temporal's plugin "
                "refuses it (use create_node(retry=...) or activity options)"
            )
        metadata = dict(node.metadata or {})
        found = spec_of(node.runnable)
        if found is None:
            # A node of yours (or a hardened ToolNode, whose tool calls carry the
            # retries): its own failure is final, as in-process, unless you say otherwise.
            foreign = {
                "execute_in": "activity",
                "start_to_close_timeout": timedelta(seconds=default),
                "retry_policy": RetryPolicy(maximum_attempts=1 + extra_attempts),
            }
            if beat is not None:
                foreign["heartbeat_timeout"] = timedelta(seconds=beat)
            given = {**metadata, **extra.get(name, {})}
            merged = {**foreign, **given}
            # The plugin swaps the function of the runnable it is given: never the original's.
            runnable = copy.copy(node.runnable)
            if merged["execute_in"] == "activity":
                body = foreign_body(
                    name,
                    cast("Runnable[Any, Any]", node.runnable),
                    final="retry_policy" not in given,
                )
                runnable = ActivityNode(None, body, name=name, trace=False)
            prepared.nodes[name] = dataclasses.replace(node, runnable=runnable, metadata=merged)
            continue
        body = activity_body(name, node.runnable, found, temporal_retries=retries == "temporal")
        ours = activity_options(
            found,
            retries=retries,
            default_timeout=default_timeout,
            timeout_grace=timeout_grace,
            infra_retries=extra_attempts,
        )
        if beat is not None and "heartbeat_timeout" not in ours:  # a node's idle limit wins
            ours["heartbeat_timeout"] = timedelta(seconds=beat)
        merged = {"execute_in": "activity", **ours, **metadata, **extra.get(name, {})}
        if merged["execute_in"] != "activity":
            raise ValueError(
                f"{owner}: node {name!r} is a node of langgraph_runner and runs only as an "
                f"activity, not with execute_in={merged['execute_in']!r} (its retries, "
                "waits and time limits are not replayed in workflow code)"
            )
        runnable = ActivityNode(None, body, name=name, trace=False)
        prepared.nodes[name] = dataclasses.replace(node, runnable=runnable, metadata=merged)
    return prepared


def runs_worker(
    client: Any,
    *,
    task_queue: str,
    workflows: Mapping[str, StateGraph[Any, Any, Any, Any]],
    checkpointer: Any,
    heartbeat: float | timedelta | None = 10.0,
    **worker_options: Any,
) -> Any:
    """A Temporal worker for the runs a ``TemporalExecutor`` starts (``create_app(executor=)``).

    Each workflow runs with ``for_temporal(builder, heartbeat=heartbeat)`` under the
    LangGraph plugin, its checkpoints and run rows written to ``checkpointer`` (the
    service's), so the service reads them as it reads a run of its own queue.

    Args:
        client: A connected ``temporalio.client.Client``.
        task_queue: The executor's task queue.
        workflows: Workflow name -> builder (not compiled), the names the service uses.
        checkpointer: The service's checkpoint saver (the same database).
        heartbeat: The nodes' heartbeat timeout (``for_temporal(heartbeat=)``): a
            cancelled run reaches its running node, and a lost worker's node runs
            again, within about this long. None: only nodes with an idle limit beat.
        **worker_options: More ``temporalio.worker.Worker`` options.

    Returns:
        The ``temporalio.worker.Worker`` (``await worker.run()``, or ``async with``).

    Raises:
        ValueError: No workflows, or an empty ``task_queue``.
    """
    from temporalio.langgraph import LangGraphPlugin
    from temporalio.worker import Worker

    from langgraph_runner._temporal.activity_tracker import tracked
    from langgraph_runner._temporal.node_times import NodeTimes
    from langgraph_runner._temporal.run_workflow import RunActivities, RunWorkflow

    if not isinstance(task_queue, str) or not task_queue:
        raise ValueError(f"runs_worker: task_queue must be a non-empty string, got {task_queue!r}")
    if not workflows:
        raise ValueError("runs_worker: workflows must be a non-empty mapping of name -> builder")
    prepared = {
        name: tracked(for_temporal(b, heartbeat=heartbeat), checkpointer)
        for name, b in workflows.items()
    }
    compiled = {name: b.compile(checkpointer=checkpointer) for name, b in workflows.items()}
    activities = RunActivities(compiled, checkpointer)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RunWorkflow],
        activities=activities.activities(),
        plugins=[LangGraphPlugin(graphs=prepared)],
        interceptors=[NodeTimes(compiled, checkpointer), *worker_options.pop("interceptors", ())],
        **worker_options,
    )
