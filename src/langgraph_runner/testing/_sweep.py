"""``sweep``: fail every call point of a graph run in turn and report what the run did.

One watching run lists the points (``_points``); then one run per point fails that
point and nothing else, under ``no_wait()`` so that retries do not sleep. Each run
gets a fresh ``thread_id``; a graph factory (a function returning the compiled
graph) gives each run fresh models, tools and breakers too.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

from langgraph_runner._engine.faults import fault_plan
from langgraph_runner._engine.waits import no_wait_scope
from langgraph_runner._node.factory import is_wrapped
from langgraph_runner._records.exceptions import HangNotStopped, SweepError
from langgraph_runner.testing._points import Point, PointKind, Probe, Seen, names_of
from langgraph_runner.testing._report import (
    ALL_KINDS,
    TEXT_LIMIT,
    ErrorSpec,
    GraphSource,
    Outcome,
    PointResult,
    SweepReport,
)

__all__ = [
    "ALL_KINDS",
    "Outcome",
    "PointResult",
    "SweepError",
    "SweepReport",
    "acall_points",
    "afail_point",
    "asweep",
    "call_points",
    "fail_point",
    "sweep",
]


def _graph(source: GraphSource) -> Pregel[Any, Any, Any, Any]:
    graph = source if isinstance(source, Pregel) else source()
    if not isinstance(graph, Pregel):
        raise TypeError(
            "sweep: graph must be a compiled graph or a function returning one, "
            f"got {type(graph).__name__}"
        )
    return graph


NodeSet = frozenset[tuple[tuple[str, ...], str]]


def _node_sets(graph: Pregel[Any, Any, Any, Any]) -> tuple[NodeSet, NodeSet]:
    """``(subgraph path, node)`` of the nodes built by ``create_node`` (``harden``),
    and of the ``ToolNode`` nodes."""
    from langgraph.prebuilt import ToolNode

    wrapped, tools = set(), set()
    graphs: list[tuple[str, Any]] = [("", graph)]
    graphs += list(graph.get_subgraphs(recurse=True))
    for ns, g in graphs:
        path = names_of(ns)
        for name, node in g.nodes.items():
            bound = getattr(node, "bound", None)
            if is_wrapped(bound):
                wrapped.add((path, name))
            elif isinstance(bound, ToolNode):
                tools.add((path, name))
    return frozenset(wrapped), frozenset(tools)


class _Quiet(logging.Filter):
    """Drops LangChain's warning about each fault the probe raises (it is the point)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "Probe." not in text or "sweep: " not in text


@contextmanager
def _running(probe: Probe) -> Iterator[None]:
    quiet = _Quiet()
    log = logging.getLogger("langchain_core.callbacks.manager")
    log.addFilter(quiet)
    try:
        with no_wait_scope(), fault_plan(probe.plan):
            yield
    finally:
        log.removeFilter(quiet)


def _config(config: RunnableConfig | None, probe: Probe) -> RunnableConfig:
    cfg: dict[str, Any] = dict(config or {})
    callbacks = cfg.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(probe, inherit=True)
        cfg["callbacks"] = manager
    else:
        cfg["callbacks"] = [*(callbacks or []), probe]
    cfg["configurable"] = {
        **dict(cfg.get("configurable") or {}),
        "thread_id": f"sweep-{uuid.uuid4().hex}",
    }
    return cast(RunnableConfig, cfg)


def _error_for(error: ErrorSpec, point: Point) -> Callable[[], BaseException]:
    if isinstance(error, BaseException):
        return lambda: error
    if isinstance(error, type):
        return lambda: error(f"sweep: {point} failed")
    return lambda: error(point)


def _check_kinds(kinds: Collection[str]) -> None:
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown or not kinds:
        raise ValueError(f"sweep: kinds must be among {ALL_KINDS}, got {sorted(kinds)}")


def _points(seen: Sequence[Seen], kinds: Collection[str], hangs: bool) -> tuple[Point, ...]:
    """Ordinals per kind and name in key order; a hang point after each timed node."""
    ordinals: dict[tuple[str, str], int] = {}
    points: list[Point] = []
    for s in sorted(seen, key=lambda s: s.key):
        n = ordinals[(s.kind, s.name)] = ordinals.get((s.kind, s.name), 0) + 1
        if s.kind not in kinds:
            continue
        points.append(_point(s, n, hang=False))
        if hangs and s.kind == "node" and s.timeout is not None:
            points.append(_point(s, n, hang=True))
    return tuple(points)


def _point(s: Seen, ordinal: int, *, hang: bool) -> Point:
    return Point(s.kind, s.name, ordinal, s.where, hang, _seen=s)


def _seen(point: Point) -> Seen:
    seen = point._seen
    if not isinstance(seen, Seen):
        raise ValueError(f"sweep: {point} was not listed by call_points (or a sweep)")
    return seen


def _text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."


def _result(point: Point, probe: Probe, out: Any, exc: BaseException | None) -> PointResult:
    after = tuple(probe.after)
    if not probe.fired:
        return PointResult(point, "not reached", after=after)
    if exc is not None:
        outcome: Outcome = "hung" if isinstance(exc, HangNotStopped) else "raised"
        return PointResult(
            point, outcome, error_type=type(exc).__name__, error=_text(exc), after=after
        )
    state = out if isinstance(out, Mapping) else {}
    records = _new(_records_of(state), point._baseline)
    if any(
        isinstance(r, Mapping) and r.get("error_type") == HangNotStopped.__name__
        for r in state.get("errors") or ()
    ):
        return PointResult(point, "hung", records=records, after=after)
    flags = tuple(sorted(k for k, v in (state.get("routing_flags") or {}).items() if v))
    call_id = _seen(point).call_id
    tool_error = call_id is not None and any(
        getattr(m, "tool_call_id", None) == call_id and getattr(m, "status", None) == "error"
        for m in state.get("messages") or ()
    )
    outcome = "recorded" if records else "answered" if tool_error else "returned"
    return PointResult(point, outcome, records, flags, tool_error, after=after)


_Record = tuple[str, str, str, str]  # node, code, error type, message


def _records_of(state: Any) -> tuple[_Record, ...]:
    if not isinstance(state, Mapping):
        return ()
    return tuple(
        (str(r.get("node")), str(r.get("code")), str(r.get("error_type")), str(r.get("message")))
        for r in state.get("errors") or ()
        if isinstance(r, Mapping)
    )


def _new(
    records: tuple[_Record, ...], baseline: tuple[_Record, ...]
) -> tuple[tuple[str, str], ...]:
    """``(node, code)`` of ``records`` without one occurrence of each of ``baseline``'s."""
    left = list(baseline)
    new = []
    for record in records:
        if record in left:
            left.remove(record)
        else:
            new.append(record[:2])
    return tuple(new)


def _listed(points: tuple[Point, ...], out: Any) -> tuple[Point, ...]:
    baseline = _records_of(out)
    return tuple(dataclasses.replace(p, _baseline=baseline) for p in points)


def _watch_probe(graph: Pregel[Any, Any, Any, Any]) -> Probe:
    return Probe(*_node_sets(graph))


def _fault_probe(
    graph: Pregel[Any, Any, Any, Any], point: Point, error: ErrorSpec, hang_limit: float
) -> Probe:
    return Probe(
        *_node_sets(graph),
        target=_seen(point),
        make_error=_error_for(error, point),
        hang=point.hang,
        hang_limit=hang_limit,
    )


# ---------------------------------------------------------------------- sync


def call_points(
    graph: GraphSource,
    input: Any,
    *,
    config: RunnableConfig | None = None,
    kinds: Collection[PointKind] = ALL_KINDS,
    hangs: bool = True,
) -> tuple[Point, ...]:
    """Run the graph once, without faults, and list the points a sweep would fail.

    Use it to parametrise a test, one test per point::

        @pytest.mark.parametrize("point", call_points(make_graph, inputs), ids=str)
        def test_point(point):
            assert fail_point(make_graph, inputs, point).recorded

    Args:
        graph: A compiled graph, or a function returning a fresh one per run (needed
            when it holds state a run uses up, like a fake chat model's script).
        input: The graph's input.
        config: The run's config (callbacks, configurable, recursion limit); each run
            gets a fresh ``thread_id``.
        kinds: Which kinds of points to list: ``"node"``, ``"model"``, ``"tool"``.
        hangs: Also list a hang for each execution of a node built with a ``timeout``.

    Returns:
        The points in run order (by step and task, not by timing).

    Raises:
        SweepError: The graph fails without any fault.
        ValueError: An unknown kind.
    """
    _check_kinds(kinds)
    g = _graph(graph)
    probe = _watch_probe(g)
    try:
        with _running(probe):
            out = g.invoke(input, _config(config, probe))
    except Exception as exc:
        raise SweepError(f"sweep: the graph fails without a fault: {_text(exc)}") from exc
    return _listed(_points(probe.seen, kinds, hangs), out)


def fail_point(
    graph: GraphSource,
    input: Any,
    point: Point,
    *,
    config: RunnableConfig | None = None,
    error: ErrorSpec = ConnectionError,
    hang_limit: float = 0.01,
) -> PointResult:
    """Run the graph failing ``point`` (every retry of it) and nothing else.

    Args:
        graph: The compiled graph or graph factory ``point`` was listed from.
        input: The same input.
        point: A point from ``call_points`` (or a sweep).
        config: The run's config.
        error: What the point raises: an exception instance, a class (made with a
            message naming the point) or a function of the point returning one.
        hang_limit: A hang point's attempt time limit in seconds, in place of the
            node's own (the node's timeout machinery runs for real, sooner).

    Returns:
        What the run did.
    """
    g = _graph(graph)
    probe = _fault_probe(g, point, error, hang_limit)
    out: Any = None
    exc: BaseException | None = None
    try:
        with _running(probe):
            out = g.invoke(input, _config(config, probe))
    except Exception as err:
        exc = err
    return _result(point, probe, out, exc)


def sweep(
    graph: GraphSource,
    input: Any,
    *,
    config: RunnableConfig | None = None,
    error: ErrorSpec = ConnectionError,
    kinds: Collection[PointKind] = ALL_KINDS,
    hangs: bool = True,
    hang_limit: float = 0.01,
) -> SweepReport:
    """Fail every call point of a run in turn: ``assert sweep(graph, inputs).all_recorded()``.

    One run without faults lists the points (each node execution, chat model call
    and tool call, in subgraphs and ``Send`` tasks too); then one run per point fails
    it: the exception ``error``, or a hang for nodes built with a ``timeout``. Retry
    waits are skipped (``no_wait``).

    Args:
        graph: A compiled graph, or a function returning a fresh one per run.
        input: The graph's input.
        config: The runs' config; each run gets a fresh ``thread_id``.
        error: What a failed point raises (see ``fail_point``).
        kinds: Which kinds of points to fail.
        hangs: Also hang each execution of a node built with a ``timeout``.
        hang_limit: A hang's attempt time limit (see ``fail_point``).

    Returns:
        The report: ``all_recorded()``, ``not_recorded()``, ``table()``, ``str()``.

    Raises:
        SweepError: The graph fails without any fault.
        ValueError: An unknown kind.
    """
    points = call_points(graph, input, config=config, kinds=kinds, hangs=hangs)
    return SweepReport(
        tuple(
            fail_point(graph, input, p, config=config, error=error, hang_limit=hang_limit)
            for p in points
        )
    )


# ---------------------------------------------------------------------- async


async def acall_points(
    graph: GraphSource,
    input: Any,
    *,
    config: RunnableConfig | None = None,
    kinds: Collection[PointKind] = ALL_KINDS,
    hangs: bool = True,
) -> tuple[Point, ...]:
    """The async ``call_points`` (the graph runs with ``ainvoke``)."""
    _check_kinds(kinds)
    g = _graph(graph)
    probe = _watch_probe(g)
    try:
        with _running(probe):
            out = await g.ainvoke(input, _config(config, probe))
    except Exception as exc:
        raise SweepError(f"sweep: the graph fails without a fault: {_text(exc)}") from exc
    return _listed(_points(probe.seen, kinds, hangs), out)


async def afail_point(
    graph: GraphSource,
    input: Any,
    point: Point,
    *,
    config: RunnableConfig | None = None,
    error: ErrorSpec = ConnectionError,
    hang_limit: float = 0.01,
) -> PointResult:
    """The async ``fail_point``."""
    g = _graph(graph)
    probe = _fault_probe(g, point, error, hang_limit)
    out: Any = None
    exc: BaseException | None = None
    try:
        with _running(probe):
            out = await g.ainvoke(input, _config(config, probe))
    except Exception as err:
        exc = err
    return _result(point, probe, out, exc)


async def asweep(
    graph: GraphSource,
    input: Any,
    *,
    config: RunnableConfig | None = None,
    error: ErrorSpec = ConnectionError,
    kinds: Collection[PointKind] = ALL_KINDS,
    hangs: bool = True,
    hang_limit: float = 0.01,
) -> SweepReport:
    """The async ``sweep`` (the graph runs with ``ainvoke``)."""
    points = await acall_points(graph, input, config=config, kinds=kinds, hangs=hangs)
    results = []
    for p in points:
        results.append(
            await afail_point(graph, input, p, config=config, error=error, hang_limit=hang_limit)
        )
    return SweepReport(tuple(results))
