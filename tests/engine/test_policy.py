"""After a failed attempt: retry or give up, and the warning when LangGraph retries too."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy
from typing_extensions import TypedDict

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._engine.records import code_and_category, redact_exception
from langgraph_runner._records.classify import PER_CLASS_MAX, classify_failure
from langgraph_runner._records.logs import EventLogger
from langgraph_runner._traces import spans
from langgraph_runner.testing import no_wait


class S(TypedDict, total=False):
    x: int


def test_native_retry_policy_on_a_retrying_node_warns_once_and_multiplies() -> None:
    """retry=2 under RetryPolicy(max_attempts=3) runs 6 times, with one RuntimeWarning."""
    calls: list[int] = []

    def always(state: S) -> dict[str, Any]:
        calls.append(1)
        raise ConnectionError("down")

    node = create_node(always, retry=RetryConfig(max_attempts=2), on_error="raise")
    g = StateGraph(S)
    g.add_node("n", node, retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.0))
    g.add_edge(START, "n")
    compiled = g.compile()
    with (
        no_wait(),
        pytest.warns(RuntimeWarning, match=r"'n'.*multiplies") as caught,
        pytest.raises(ConnectionError),
    ):
        compiled.invoke({})
    assert len(calls) == 6
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1


def test_no_warning_without_a_native_retry_policy(recwarn: pytest.WarningsRecorder) -> None:
    """Our own retries alone never warn."""

    def always(state: S) -> dict[str, Any]:
        raise ConnectionError("down")

    g = StateGraph(S)
    g.add_node("n", create_node(always, retry=RetryConfig(max_attempts=3), on_error="raise"))
    g.add_edge(START, "n")
    with no_wait(), pytest.raises(ConnectionError):
        g.compile().invoke({})
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# --------------------------------------------------------------------------- the lean failure path

OUR_MODULE_LIMIT = {"record": 8, "raise": 8}
"""Distinct langgraph_runner modules a warm failure with one retry may pass through (issue 47):
the entry (adapters), the loop (which ends the call), call, the decision (_policies.retry),
the record, its line and update (records), the log sink, LangGraph's internals (compat) and
the run's ids and loop guard (_policies.run_scope)."""

OUR_FUNCTION_LIMIT = 30
"""Distinct langgraph_runner functions it may run (issue 47: one place decides a retry)."""


EGRESS = (
    EventLogger.emit.__code__,
    EventLogger.emit_checked.__code__,
    EventLogger.emit_rendered.__code__,
    redact_exception.__code__,
)


def _one_retry_graph(mode: Any, is_async: bool) -> Any:
    if is_async:

        async def node(state: S) -> dict[str, Any]:
            raise ConnectionError("upstream returned 503")

    else:

        def node(state: S) -> dict[str, Any]:  # type: ignore[misc]  # the sync twin
            raise ConnectionError("upstream returned 503")

    g = StateGraph(GraphState)
    wrapped: Any = create_node(node, retry=RetryConfig(max_attempts=2), on_error=mode)
    g.add_node("n", wrapped)
    g.add_edge(START, "n")
    return g.compile()


def _traced_modules(graph: Any, is_async: bool) -> tuple[set[str], set[str], list[int]]:
    """Our modules, our functions (``module:qualname``) and tenacity's calls in LangGraph's
    calls of the node, filled as it runs.

    The two egress points count as the module they are in, not what they call: the
    log sink (``EventLogger.emit``, ``emit_checked`` and ``emit_rendered``: the line's
    redaction and stdlib logging are the line's own cost, which
    ``benchmarks/error_path.py`` compares with a plain structlog line) and, in raise
    mode, ``redact_exception`` (the redaction of the exception that leaves the node, in
    ``_records``).
    """
    ours: set[str] = set()
    functions: set[str] = set()
    tenacity_calls = [0]
    sink: list[Any] = []  # the emit frame being run, if any

    def profile(frame: Any, event: str, arg: Any) -> None:
        if sink:
            if event == "return" and frame is sink[0]:
                sink.clear()
            return
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if module.startswith("langgraph_runner"):
                ours.add(module)
                functions.add(f"{module}:{_qualname(frame)}")
                if frame.f_code in EGRESS:
                    sink.append(frame)
            elif module.startswith("tenacity"):
                tenacity_calls[0] += 1

    runnable = graph.nodes["n"].bound
    name = "ainvoke" if is_async else "invoke"
    inner = getattr(runnable, name)

    def traced(*args: Any, **kwargs: Any) -> Any:
        sys.setprofile(profile)
        try:
            return inner(*args, **kwargs)
        finally:
            sys.setprofile(None)

    async def atraced(*args: Any, **kwargs: Any) -> Any:
        sys.setprofile(profile)
        try:
            return await inner(*args, **kwargs)
        finally:
            sys.setprofile(None)

    setattr(runnable, name, atraced if is_async else traced)
    return ours, functions, tenacity_calls


@pytest.mark.parametrize("mode", ["record", "raise"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_failure_with_one_retry_stays_in_few_of_our_modules_and_functions(
    mode: str, is_async: bool
) -> None:
    """A warm failing call with one retry (default log line, loop guard) runs <= 30 of our
    functions in <= 8 of our modules."""
    graph = _one_retry_graph(mode, is_async)
    # Whatever ran before in this process: classes made on the fly may have filled every
    # per-class answer. The warm path must be warm again after them.
    for i in range(PER_CLASS_MAX + 1):
        made = type(f"Made{i}", (ConnectionError,), {})
        classify_failure(made("down"))
        code_and_category(made("down"), None)

    async def run() -> None:
        try:
            if is_async:
                await graph.ainvoke({})
            else:
                graph.invoke({})
        except ConnectionError:
            assert mode == "raise"

    with no_wait():
        for _ in range(3):  # warm: what is kept per class and per failing site is kept
            await run()
        ours, functions, _ = _traced_modules(graph, is_async)
        # No tracer provider, and the look for one (once a second at most) not due.
        look, spans.NEXT_LOOK[0] = spans.NEXT_LOOK[0], float("inf")
        try:
            await run()
        finally:
            spans.NEXT_LOOK[0] = look
    assert "langgraph_runner._policies.retry:Retrier.decide" in functions  # the retry was decided
    assert len(ours) <= OUR_MODULE_LIMIT[mode], "\n".join(sorted(ours))
    assert len(functions) <= OUR_FUNCTION_LIMIT, "\n".join(sorted(functions))


def test_tenacity_decides_but_leaves_no_frame_on_the_raised_exception() -> None:
    """The error re-raised after the retries carries the node's frames, none of tenacity's."""
    graph = _one_retry_graph("raise", is_async=False)
    with no_wait(), pytest.raises(ConnectionError) as caught:
        graph.invoke({})
    files = [entry.path for entry in caught.traceback]
    assert not [f for f in files if "tenacity" in str(f)]


def test_the_per_class_answer_is_not_used_for_an_exception_that_carries_a_status() -> None:
    """A plain instance is answered per class; one with an HTTP 400 of its own is not retried."""

    class Flaky(Exception):
        pass

    calls: list[int] = []

    def node(state: S) -> dict[str, Any]:
        calls.append(1)
        exc = Flaky("boom")
        if len(calls) > 2:
            exc.status_code = 400  # type: ignore[attr-defined]  # a client error: not retried
        raise exc

    wrapped: Any = create_node(node, retry=RetryConfig(max_attempts=2), on_error="raise")
    with no_wait():
        with pytest.raises(Flaky):
            wrapped.invoke({})
        assert len(calls) == 2  # retried once, answered (and kept) for the class
        with pytest.raises(Flaky):
            wrapped.invoke({})
        assert len(calls) == 3  # the status of its own decides: no retry


def test_a_retry_after_hint_sets_the_wait_after_a_plain_failure_of_the_class() -> None:
    """A Retry-After hint on an instance is honoured even once the class was kept as hintless."""

    class Limited(Exception):
        pass

    calls: list[int] = []

    def node(state: S) -> dict[str, Any]:
        calls.append(1)
        exc = Limited("slow down")
        if len(calls) > 2:
            exc.retry_after = 7.0  # type: ignore[attr-defined]
        raise exc

    retry = RetryConfig(max_attempts=2, initial_interval=0.5, jitter=0.0)
    wrapped: Any = create_node(node, retry=retry, on_error="raise")
    with no_wait() as skipped:
        for _ in range(2):
            with pytest.raises(Limited):
                wrapped.invoke({})
    assert skipped == [0.5, 7.0]


def _qualname(frame: Any) -> str:
    """The called function's qualified name (``co_qualname`` from Python 3.11; on 3.10
    the class that defines the method is looked up from ``self``)."""
    code = frame.f_code
    name = getattr(code, "co_qualname", None)
    if name is not None:
        return str(name)
    owner = frame.f_locals.get("self") if code.co_varnames[:1] == ("self",) else None
    for cls in type(owner).__mro__ if owner is not None else ():
        found = vars(cls).get(code.co_name)
        if getattr(getattr(found, "__func__", found), "__code__", None) is code:
            return f"{cls.__name__}.{code.co_name}"
    return str(code.co_name)
