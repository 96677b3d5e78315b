"""Run hardened graphs on Temporal, through Temporal's LangGraph plugin.

``for_temporal(builder)`` prepares a ``StateGraph`` builder for
``temporalio.langgraph.LangGraphPlugin``: every node runs as an activity, and a
node built by ``create_node``, ``node_factory`` or ``harden`` gets an activity
body of ours, so nothing of the package runs inside the workflow::

    from temporalio.langgraph import LangGraphPlugin
    from langgraph_runner.temporal import for_temporal

    plugin = LangGraphPlugin(graphs={"orders": for_temporal(builder)})

Importing this module needs the ``temporal`` extra
(``pip install "langgraph-runner[temporal]"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, cast

from langchain_core.runnables import Runnable
from langgraph.graph import StateGraph

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

__all__ = ["activity_options", "for_temporal"]

Retries = Literal["temporal", "runner"]


def activity_options(
    spec: NodeSpec,
    *,
    retries: Retries = "temporal",
    default_timeout: float | timedelta = 300.0,
    timeout_grace: float | timedelta = 5.0,
) -> dict[str, Any]:
    """The ``workflow.execute_activity`` options a wrapped node maps to.

    Args:
        spec: The node's spec (what ``create_node`` validated).
        retries: ``"temporal"``: the node's ``RetryConfig`` becomes the activity's
            retry policy and each activity attempt runs the node once;
            ``"runner"``: the node retries inside one activity attempt
            (``maximum_attempts=1``).
        default_timeout: Start-to-close timeout of a node without ``timeout``.
        timeout_grace: Added to the node's own limit, so the node's timeout (a
            record, a retry decision) fires before Temporal's.

    Returns:
        ``start_to_close_timeout`` and ``retry_policy``; with an idle limit
        (``TimeoutPolicy(idle_timeout=...)``), ``heartbeat_timeout`` (the limit plus
        ``timeout_grace``); with a ``deadline`` under Temporal retries,
        ``schedule_to_close_timeout`` (the deadline plus ``timeout_grace``: the whole
        set of attempts and waits).
    """
    owner = "activity_options"
    grace = seconds(timeout_grace, "timeout_grace", owner=owner, zero=True)
    default = seconds(default_timeout, "default_timeout", owner=owner)
    retry = spec.retry
    attempts = retry.max_attempts if retry is not None else 1
    options: dict[str, Any]
    if retries == "temporal":
        per_attempt = spec.timeout if spec.timeout is not None else spec.deadline
        start = per_attempt + grace if per_attempt is not None else default
        policy = RetryPolicy(maximum_attempts=attempts)
        if retry is not None:
            policy = RetryPolicy(
                maximum_attempts=attempts,
                initial_interval=timedelta(seconds=max(retry.initial_interval, 0.001)),
                backoff_coefficient=retry.backoff_factor,
                maximum_interval=timedelta(seconds=max(retry.max_interval, 0.001)),
            )
        options = {"start_to_close_timeout": timedelta(seconds=start), "retry_policy": policy}
        if spec.deadline is not None:
            options["schedule_to_close_timeout"] = timedelta(seconds=spec.deadline + grace)
    else:
        whole = spec.deadline
        if whole is None and spec.timeout is not None and retry is not None:
            whole = spec.timeout * attempts + retry.max_interval * (attempts - 1)
        elif whole is None and spec.timeout is not None:
            whole = spec.timeout
        start = whole + grace if whole is not None else default
        options = {
            "start_to_close_timeout": timedelta(seconds=start),
            "retry_policy": RetryPolicy(maximum_attempts=1),
        }
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
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """Prepare ``builder`` for ``LangGraphPlugin(graphs={...: builder})``, in place.

    Every node gets ``metadata["execute_in"] = "activity"`` (unless it set its own).
    A node this package built is replaced by an activity body of ours: the plugin
    registers it and the node's retries, timeouts, records and routing flags run in
    the activity. Any other node (yours, a ``ToolNode`` hardened per tool call) runs
    as it is, once per run (``maximum_attempts=1`` unless ``options`` say otherwise).
    Either way the activity turns message dicts in its input back into LangChain
    messages (Temporal's data converter sends them as plain data).

    Args:
        builder: The graph builder (not compiled), after ``harden`` or ``add_node``
            with ``create_node`` nodes.
        retries: Who retries. ``"temporal"`` (default): Temporal, with the node's
            ``RetryConfig`` as the activity's retry policy; one node attempt per
            activity attempt; on the last one, record mode returns the record.
            ``"runner"``: the node's own loop, inside one activity attempt.
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
        options: Per node name, ``execute_activity`` options that win over ours
            (for example ``{"fetch": {"task_queue": "gpu"}}``).

    Returns:
        ``builder``, prepared.

    Raises:
        TypeError: A wrong type for an option.
        ValueError: An unknown ``retries``, a non-positive time, a node with a
            LangGraph ``retry_policy`` (the plugin refuses it), or an ``options``
            key naming no node.
    """
    owner = "for_temporal"
    if retries not in ("temporal", "runner"):
        raise ValueError(f"{owner}: retries must be 'temporal' or 'runner', got {retries!r}")
    default = seconds(default_timeout, "default_timeout", owner=owner)
    seconds(timeout_grace, "timeout_grace", owner=owner, zero=True)
    beat = optional_seconds(heartbeat, "heartbeat", owner=owner)
    extra = dict(options or {})
    unknown = sorted(set(extra) - set(builder.nodes))
    if unknown:
        raise ValueError(f"{owner}: options name no node of the graph: {unknown}")
    for name, node in list(builder.nodes.items()):
        if node.retry_policy:
            raise ValueError(
                f"{owner}: node {name!r} has a LangGraph retry_policy; Temporal's plugin "
                "refuses it (use create_node(retry=...) or activity options)"
            )
        metadata = dict(node.metadata or {})
        found = spec_of(node.runnable)
        if found is None:
            # A node of yours (or a hardened ToolNode, whose tool calls carry the
            # retries): one attempt per run, as in-process, unless you say otherwise.
            foreign = {
                "execute_in": "activity",
                "start_to_close_timeout": timedelta(seconds=default),
                "retry_policy": RetryPolicy(maximum_attempts=1),
            }
            if beat is not None:
                foreign["heartbeat_timeout"] = timedelta(seconds=beat)
            merged = {**foreign, **metadata, **extra.get(name, {})}
            runnable = node.runnable
            if merged["execute_in"] == "activity":
                body = foreign_body(name, cast("Runnable[Any, Any]", node.runnable))
                runnable = ActivityNode(None, body, name=name, trace=False)
            builder.nodes[name] = dataclasses.replace(node, runnable=runnable, metadata=merged)
            continue
        body = activity_body(name, node.runnable, found, temporal_retries=retries == "temporal")
        ours = activity_options(
            found, retries=retries, default_timeout=default_timeout, timeout_grace=timeout_grace
        )
        if beat is not None and "heartbeat_timeout" not in ours:  # a node's idle limit wins
            ours["heartbeat_timeout"] = timedelta(seconds=beat)
        merged = {"execute_in": "activity", **ours, **metadata, **extra.get(name, {})}
        runnable = ActivityNode(None, body, name=name, trace=False)
        builder.nodes[name] = dataclasses.replace(node, runnable=runnable, metadata=merged)
    return builder
