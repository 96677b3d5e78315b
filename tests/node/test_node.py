"""create_node through real compiled graphs: sync fn under invoke and ainvoke, async fn."""

from __future__ import annotations

import asyncio
import functools
import inspect
import operator
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph._internal._runnable import is_async_callable
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained
from langgraph.errors import NodeError as LGNodeError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command, RetryPolicy, Send, StreamWriter, interrupt
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

from langgraph_runner import (
    ErrorCode,
    GraphState,
    NodeError,
    RetryConfig,
    StateSchemaError,
    create_node,
    get_node_context,
    route_on_blocked,
)
from tests.conftest import MODES, EventCapture, as_mode, needs_async_context, run_graph

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    x: int
    log: Annotated[list[str], operator.add]


def chain(*nodes: tuple[str, Any], state: Any = S, **compile_kw: Any) -> Any:
    g = StateGraph(state)
    prev = START
    for name, node in nodes:
        g.add_node(name, node)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile(**compile_kw)


class Private(TypedDict):
    secret: str


class Flaky:
    """Fails ``failures`` times with ``exc`` and then returns ``result``."""

    def __init__(self, failures: int, exc: BaseException, result: Any = None) -> None:
        self.failures = failures
        self.exc = exc
        self.result = {"x": 1} if result is None else result
        self.calls = 0
        self.contexts: list[Any] = []

    def __call__(self, state: Any) -> Any:
        self.calls += 1
        self.contexts.append(get_node_context())
        if self.calls <= self.failures:
            raise self.exc
        return self.result


# --------------------------------------------------------------------------- factory


def test_sync_fn_gives_callable_with_metadata() -> None:
    """A sync fn keeps its name, qualname and doc, and can be called directly."""

    def fetch(state: dict[str, Any]) -> dict[str, Any]:
        """Fetch things."""
        return {"x": state["x"] + 1}

    node = create_node(fetch)
    assert not inspect.iscoroutinefunction(node)
    assert node.name == "fetch"
    assert node.__qualname__ == fetch.__qualname__
    assert node.__doc__ == "Fetch things."
    assert node.__wrapped__ is fetch  # type: ignore[attr-defined]
    assert node({"x": 1}) == {"x": 2}
    assert list(inspect.signature(node).parameters) == ["state", "config"]


def test_async_fn_gives_an_async_runnable_that_awaits_like_the_function() -> None:
    """An async fn gives an async-only Runnable: same metadata, awaitable when called."""

    async def fetch(state: dict[str, Any]) -> dict[str, Any]:
        """Fetch async."""
        return {"x": 1}

    node = create_node(fetch)
    assert isinstance(node, Runnable)
    assert is_async_callable(node)  # how LangGraph tells an async node apart
    if sys.version_info >= (3, 12):  # inspect.markcoroutinefunction exists
        assert inspect.iscoroutinefunction(node)
    assert (node.name, node.__doc__, node.__wrapped__) == ("fetch", "Fetch async.", fetch)  # type: ignore[attr-defined]
    assert list(inspect.signature(node).parameters) == ["state", "config"]
    assert asyncio.run(node({})) == {"x": 1}
    assert asyncio.run(node.ainvoke({})) == {"x": 1}  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="No synchronous function provided"):
        node.invoke({})  # type: ignore[attr-defined]  # as LangGraph's own async nodes


def test_name_argument_names_node_in_graph_and_records() -> None:
    """An explicit name becomes the function name add_node uses and the record's node."""

    def boom(state: Any) -> Any:
        raise KeyError("k")

    node = create_node(boom, name="custom")
    g = StateGraph(S)
    g.add_node(node)
    g.add_edge(START, "custom")
    out = g.compile().invoke({"x": 0})
    assert out["errors"][0]["node"] == "custom"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"on_error": "ignore"}, ValueError),
        ({"retry": "3"}, TypeError),
        ({"retry": 2.5}, TypeError),
        ({"retry": RetryConfig}, TypeError),
        ({"on_retry_attempt": 42}, TypeError),
        ({"name": ""}, ValueError),
    ],
)
def test_bad_factory_arguments_fail_at_factory_time(kwargs: dict[str, Any], error: type) -> None:
    """Bad configuration raises at create_node, naming what was wrong."""
    with pytest.raises(error):
        create_node(lambda s: s, **kwargs)


def test_non_callable_and_bad_retry_values() -> None:
    """A non-callable fn is a TypeError; bad RetryConfig values name the field."""
    with pytest.raises(TypeError, match="callable"):
        create_node(42)  # type: ignore[type-var]
    with pytest.raises(ValueError, match=r"^RetryConfig: max_attempts "):
        create_node(lambda s: s, retry=RetryConfig(max_attempts=0))
    with pytest.raises(ValueError, match=r"^create_node: retry=-1 "):
        create_node(lambda s: s, retry=-1)
    with pytest.raises(ValueError, match=r"^RetryConfig: jitter "):
        RetryConfig(jitter=1.5)


def test_int_retry_means_max_attempts() -> None:
    """retry=5 behaves like RetryConfig(max_attempts=5)."""
    flaky = Flaky(4, ConnectionError("down"))
    out = create_node(flaky, retry=5)({})
    assert out == {"x": 1}
    assert flaky.calls == 5


# --------------------------------------------------------------------------- passthrough


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "returned",
    [None, {"x": 5}, "command"],
    ids=["none", "dict", "command"],
)
async def test_return_values_pass_through(mode: str, returned: Any) -> None:
    """None, dicts and Command objects reach LangGraph unchanged."""
    if returned == "command":
        returned = Command(update={"x": 9}, goto="after")

    def first(state: Any) -> Any:
        return returned

    def after(state: Any) -> Any:
        return {"log": ["after"]}

    g = StateGraph(S)
    g.add_node("first", create_node(as_mode(mode, first)))
    g.add_node("after", after)
    g.add_edge(START, "first")
    g.add_edge("first", "after")
    out = await run_graph(g.compile(), mode, {"x": 0})
    expected_x = (
        {None: 0}.get(None) if returned is None else (5 if isinstance(returned, dict) else 9)
    )
    assert out["x"] == expected_x
    assert out["log"] == ["after"]
    assert "errors" not in out or out["errors"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_send_payloads_and_concurrent_contexts(mode: str) -> None:
    """Send fan-out reaches the wrapped node with its payload; each call has its own context."""
    seen: list[tuple[int, int]] = []

    def work(payload: dict[str, Any]) -> dict[str, Any]:
        ctx = get_node_context()
        assert ctx is not None
        seen.append((payload["i"], ctx.attempt))
        return {"log": [f"item{payload['i']}"]}

    def fan(state: Any) -> list[Send]:
        return [Send("work", {"i": i}) for i in range(5)]

    g = StateGraph(S)
    g.add_node("work", create_node(as_mode(mode, work)))
    g.add_conditional_edges(START, fan, ["work"])
    out = await run_graph(g.compile(), mode, {"x": 0})
    assert sorted(out["log"]) == [f"item{i}" for i in range(5)]
    assert sorted(seen) == [(i, 1) for i in range(5)]


# --------------------------------------------------------------------------- retries and records


@pytest.mark.parametrize("mode", MODES)
async def test_retry_then_success(mode: str, events: EventCapture) -> None:
    """A retryable error is retried; attempts, contexts and hooks see each attempt."""
    flaky = Flaky(2, ConnectionError("reset"))
    seen: list[tuple[int, float, str]] = []

    def on_retry(attempt: Any) -> None:
        seen.append((attempt.attempt, attempt.next_delay, type(attempt.error).__name__))

    cfg = RetryConfig(max_attempts=4, initial_interval=1.0, backoff_factor=2.0, jitter=0.0)
    node = create_node(as_mode(mode, flaky), retry=cfg, on_retry_attempt=on_retry, logger=events)
    out = await run_graph(chain(("flaky", node)), mode, {"x": 0})
    assert out["x"] == 1
    assert flaky.calls == 3
    assert [c.attempt for c in flaky.contexts] == [1, 2, 3]
    assert all(c.max_attempts == 4 for c in flaky.contexts)
    assert seen == [(1, 1.0, "ConnectionError"), (2, 2.0, "ConnectionError")]
    assert [e["attempt"] for e in events.named("node.retrying")] == [1, 2]
    assert events.named("node.succeeded")[0]["attempt"] == 3
    assert "errors" not in out or out["errors"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_async_retry_hook(mode: str) -> None:
    """An async on_retry_attempt hook is awaited (or run) before each wait."""
    calls: list[int] = []

    async def on_retry(attempt: Any) -> None:
        await asyncio.sleep(0)
        calls.append(attempt.attempt)

    node = create_node(
        as_mode(mode, Flaky(1, TimeoutError("t"))), retry=3, on_retry_attempt=on_retry
    )
    out = await run_graph(chain(("n", node)), mode, {})
    assert out["x"] == 1
    assert calls == [1]


@pytest.mark.parametrize("mode", MODES)
async def test_failing_hook_is_logged_not_raised(mode: str, events: EventCapture) -> None:
    """A hook that raises does not break the node."""

    def on_retry(attempt: Any) -> None:
        raise RuntimeError("hook bug")

    node = create_node(
        as_mode(mode, Flaky(1, ConnectionError("x"))),
        retry=2,
        on_retry_attempt=on_retry,
        logger=events,
    )
    out = await run_graph(chain(("n", node)), mode, {})
    assert out["x"] == 1
    assert events.named("hook.failed")[0]["hook"] == "on_retry_attempt"


@pytest.mark.parametrize("mode", MODES)
async def test_retry_exhausted_is_recorded_and_routed(mode: str, events: EventCapture) -> None:
    """After the last attempt a sanitized record and the blocked flag route to recovery."""
    flaky = Flaky(10, ConnectionError("upstream down"))

    def recover(state: Any) -> dict[str, Any]:
        return {"log": ["recovered"], "routing_flags": {"blocked": None}}

    g = StateGraph(S)
    g.add_node("fetch", create_node(as_mode(mode, flaky), retry=3, logger=events))
    g.add_node("ok", lambda s: {"log": ["ok"]})
    g.add_node("recover", recover)
    g.add_edge(START, "fetch")
    g.add_conditional_edges("fetch", route_on_blocked("ok", "recover"))
    out = await run_graph(g.compile(), mode, {"x": 0}, {"configurable": {"trace_id": "tr-1"}})
    assert flaky.calls == 3
    assert out["log"] == ["recovered"]
    assert out["routing_flags"] == {}
    [record] = out["errors"]
    parsed = NodeError.model_validate(record)
    assert parsed.code is ErrorCode.RETRY_EXHAUSTED
    assert (parsed.node, parsed.attempts, parsed.category.value) == ("fetch", 3, "network")
    assert parsed.recoverable is True
    assert parsed.trace_id == "tr-1"
    assert "fetch" in parsed.message and "3 attempt" in parsed.message
    assert parsed.stack is not None and "__call__" in parsed.stack
    failed = events.named("node.failed")[0]
    assert (failed["code"], failed["category"], failed["attempt"]) == (
        "RETRY_EXHAUSTED",
        "network",
        3,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("exc", "code", "attempts"),
    [
        (TypeError("bad arg"), ErrorCode.NON_RETRYABLE, 1),
        (KeyError("missing"), ErrorCode.NON_RETRYABLE, 1),
        ("validation", ErrorCode.VALIDATION_FAILED, 1),
        (ConnectionError("once"), ErrorCode.RETRY_EXHAUSTED, 1),
    ],
    ids=["type", "key", "validation", "one-attempt"],
)
async def test_error_codes(mode: str, exc: Any, code: ErrorCode, attempts: int) -> None:
    """Non-retryable errors stop at once; a retryable error with one attempt is RETRY_EXHAUSTED."""
    if exc == "validation":

        class M(BaseModel):
            n: int

        try:
            M.model_validate({"n": "x"})
        except ValidationError as err:
            exc = err
    flaky = Flaky(10, exc)
    retry = None if code is ErrorCode.RETRY_EXHAUSTED else 5
    out = await run_graph(chain(("n", create_node(as_mode(mode, flaky), retry=retry))), mode, {})
    assert flaky.calls == attempts
    assert out["errors"][0]["code"] == code.value
    assert out["errors"][0]["attempts"] == attempts
    assert out["routing_flags"] == {"blocked": True}


@pytest.mark.parametrize("mode", MODES)
async def test_retry_on_predicate_and_types(mode: str) -> None:
    """retry_on overrides the default predicate, by types or by a function."""
    by_type = Flaky(2, ValueError("v"))
    out = await run_graph(
        chain(("n", create_node(as_mode(mode, by_type), retry=RetryConfig(retry_on=ValueError)))),
        mode,
        {},
    )
    assert (by_type.calls, out["x"]) == (3, 1)
    never = Flaky(2, ConnectionError("c"))
    out = await run_graph(
        chain(
            ("n", create_node(as_mode(mode, never), retry=RetryConfig(retry_on=lambda e: False)))
        ),
        mode,
        {},
    )
    assert never.calls == 1
    assert out["errors"][0]["code"] == "NON_RETRYABLE"


async def test_retry_after_hint_sets_delay() -> None:
    """An exception's retry_after sets the reported wait, capped by max_interval."""

    class Throttled(Exception):
        retry_after = 7.0

    delays: list[float] = []
    node = create_node(
        Flaky(2, Throttled("slow down")),
        retry=RetryConfig(max_attempts=3, max_interval=5.0),
        on_retry_attempt=lambda a: delays.append(a.next_delay),
    )
    assert node({}) == {"x": 1}
    assert delays == [5.0, 5.0]


def test_waits_really_happen_without_no_wait() -> None:
    """Outside no_wait the wrapper sleeps the computed delay (kept tiny here)."""
    import time as _time

    from langgraph_runner._engine.waits import no_wait_scope

    with no_wait_scope(enabled=False):
        node = create_node(
            Flaky(1, ConnectionError("x")), retry=RetryConfig(initial_interval=0.05, jitter=0)
        )
        t0 = _time.perf_counter()
        assert node({}) == {"x": 1}
        assert _time.perf_counter() - t0 >= 0.045


# --------------------------------------------------------------------------- on_error="raise"


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_reraises_original_redacted_with_notes(mode: str) -> None:
    """on_error='raise' re-raises the same exception object, redacted, with a note."""
    original = ConnectionError("auth failed api_key=sk-live-abcdefghijklmnopqrstuvwx")
    node = create_node(as_mode(mode, Flaky(10, original)), retry=2, on_error="raise")
    with pytest.raises(ConnectionError) as info:
        await run_graph(chain(("n", node)), mode, {})
    assert info.value is original
    assert "sk-live" not in str(info.value) and "[REDACTED]" in str(info.value)
    assert any("node 'n' failed on attempt 2/2" in n for n in info.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_hands_over_to_langgraph_error_handler(mode: str) -> None:
    """LangGraph's error_handler receives our re-raised exception (langgraph.errors.NodeError)."""
    got: list[tuple[str, str]] = []

    def handler(state: Any, error: LGNodeError) -> Command[Any]:
        got.append((error.node, type(error.error).__name__))
        return Command(update={"log": ["handled"]}, goto=END)

    # LangGraph injects `error` by the annotation object or the exact text "NodeError";
    # under `from __future__ import annotations` this module's text is "LGNodeError".
    handler.__annotations__["error"] = LGNodeError

    g = StateGraph(S)
    g.add_node(
        "n",
        create_node(as_mode(mode, Flaky(10, TimeoutError("t"))), on_error="raise"),
        error_handler=handler,
    )
    g.add_edge(START, "n")
    out = await run_graph(g.compile(), mode, {})
    assert got == [("n", "TimeoutError")]
    assert out["log"] == ["handled"]


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_under_native_retry_policy(mode: str) -> None:
    """LangGraph's RetryPolicy can retry a node whose wrapper re-raises."""
    flaky = Flaky(1, ConnectionError("c"))
    g = StateGraph(S)
    g.add_node(
        "n",
        create_node(as_mode(mode, flaky), on_error="raise"),
        retry_policy=RetryPolicy(initial_interval=0.0, jitter=False),
    )
    g.add_edge(START, "n")
    out = await run_graph(g.compile(), mode, {})
    assert out["x"] == 1
    assert flaky.calls == 2


@pytest.mark.parametrize("mode", MODES)
async def test_missing_channels_fail_loudly(mode: str) -> None:
    """A state without errors/routing_flags makes a recorded failure a clear StateSchemaError."""

    class Plain(TypedDict, total=False):
        x: int

    node = create_node(as_mode(mode, Flaky(1, ConnectionError("c"))))
    with pytest.raises(StateSchemaError, match="GraphState") as info:
        await run_graph(chain(("n", node), state=Plain), mode, {"x": 1})
    assert info.value.missing == ("errors", "routing_flags")
    assert isinstance(info.value.__cause__, ConnectionError)


# --------------------------------------------------------------------------- injection and schemas


@needs_async_context()
async def test_injects_config_runtime_store_writer_sync_and_async() -> None:
    """config, runtime, store and writer reach fn only when it declares them."""
    seen: dict[str, Any] = {}

    def sync_fn(
        state: S,
        config: RunnableConfig,
        *,
        runtime: Runtime[Any],
        store: BaseStore,
        writer: StreamWriter,
    ) -> Any:
        seen["sync"] = (config["configurable"]["thread_id"], runtime.store is store)
        writer({"progress": "sync"})
        store.put(("ns",), "k", {"v": 1})
        return {"x": 1}

    async def async_fn(
        state: S,
        config: RunnableConfig,
        *,
        runtime: Runtime[Any],
        store: BaseStore,
        writer: StreamWriter,
    ) -> Any:
        seen["async"] = (config["configurable"]["thread_id"], runtime.store is store)
        writer({"progress": "async"})
        return {"x": 2}

    def state_only(state: S) -> Any:
        return {"log": ["plain"]}

    store = InMemoryStore()
    graph = chain(
        ("a", create_node(sync_fn)),
        ("b", create_node(async_fn)),
        ("c", create_node(state_only)),
        checkpointer=InMemorySaver(),
        store=store,
    )
    chunks = [
        c
        async for c in graph.astream(
            {}, {"configurable": {"thread_id": "inj"}}, stream_mode="custom"
        )
    ]
    assert chunks == [{"progress": "sync"}, {"progress": "async"}]
    assert seen == {"sync": ("inj", True), "async": ("inj", True)}
    assert store.get(("ns",), "k").value == {"v": 1}  # type: ignore[union-attr]


def test_store_without_store_matches_langgraph() -> None:
    """A fn declaring a store in a graph without one gets what LangGraph gives a bare node."""
    got: list[Any] = []

    def needs_store(state: S, *, store: BaseStore) -> Any:
        got.append(store)
        return {}

    chain(("n", needs_store)).invoke({})
    chain(("n", create_node(needs_store, on_error="raise"))).invoke({})
    assert got == [None, None]


@pytest.mark.parametrize("mode", MODES)
async def test_pydantic_state(mode: str) -> None:
    """Pydantic state schemas work, records included."""

    class PState(BaseModel):
        x: int = 0
        errors: Annotated[list[dict[str, Any]], operator.add] = []
        routing_flags: Annotated[dict[str, bool], lambda a, b: {**a, **b}] = {}

    def inc(state: PState) -> dict[str, Any]:
        return {"x": state.x + 1}

    def fail(state: PState) -> dict[str, Any]:
        raise ConnectionError("nope")

    out = await run_graph(
        chain(
            ("inc", create_node(as_mode(mode, inc))),
            ("fail", create_node(as_mode(mode, fail))),
            state=PState,
        ),
        mode,
        {"x": 1},
    )
    assert out["x"] == 2
    assert out["errors"][0]["node"] == "fail"
    assert out["routing_flags"] == {"blocked": True}


def test_input_schema_and_command_destinations_are_inferred() -> None:
    """add_node still infers fn's private input schema and Command[Literal] destinations."""

    def router(state: S) -> Command[Literal["left", "right"]]:
        return Command(goto="left", update={"x": 1})

    def reads_private(state: Private) -> dict[str, Any]:
        return {"log": [state["secret"]]}

    g = StateGraph(S)
    g.add_node("router", create_node(router))
    g.add_node("left", lambda s: {"log": ["L"]})
    g.add_node("right", lambda s: {"log": ["R"]})
    g.add_node("private", create_node(reads_private))
    g.add_edge(START, "router")
    compiled = g.compile()
    edges = {(e.source, e.target) for e in compiled.get_graph().edges}
    assert {("router", "left"), ("router", "right")} <= edges
    assert g.nodes["private"].input_schema is Private


# --------------------------------------------------------------------------- LangGraph control flow


@pytest.mark.parametrize("mode", MODES)
async def test_interrupt_resume_then_retry_does_not_ask_again(mode: str) -> None:
    """After resume, a failing-then-retried node reuses the answer instead of interrupting again."""
    state = {"asked": 0, "post": 0}

    def ask(s: Any) -> dict[str, Any]:
        answer = interrupt("approve?")
        state["post"] += 1
        if state["post"] == 1:
            raise ConnectionError("flaky after resume")
        return {"log": [f"answer={answer}"]}

    graph = chain(("ask", create_node(as_mode(mode, ask), retry=3)), checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": f"int-{mode}"}}
    first = await run_graph(graph, mode, {}, cfg)
    assert first["__interrupt__"][0].value == "approve?"
    out = await run_graph(graph, mode, Command(resume="yes"), cfg)
    assert "__interrupt__" not in out
    assert out["log"] == ["answer=yes"]
    assert state["post"] == 2
    assert not graph.get_state(cfg).next


@pytest.mark.parametrize("mode", [pytest.param(m, marks=needs_async_context(m)) for m in MODES])
async def test_interrupt_is_never_retried_or_recorded(mode: str, events: EventCapture) -> None:
    """interrupt() passes straight through: no retry, no record, no failure event."""
    calls = []

    def ask(s: Any) -> Any:
        calls.append(1)
        return {"log": [interrupt("q")]}

    graph = chain(
        ("ask", create_node(as_mode(mode, ask), retry=5, logger=events)),
        checkpointer=InMemorySaver(),
    )
    out = await run_graph(graph, mode, {}, {"configurable": {"thread_id": f"ni-{mode}"}})
    assert "__interrupt__" in out and len(calls) == 1
    assert not events.named("node.failed") and not events.named("node.retrying")


@pytest.mark.parametrize("mode", MODES)
async def test_invalid_resume_passes_through(mode: str) -> None:
    """A resume value failing response_schema is LangGraph's error, not a record."""

    class Answer(BaseModel):
        ok: bool

    def ask(s: Any) -> Any:
        return {"log": [str(interrupt("q", response_schema=Answer).ok)]}

    graph = chain(("ask", create_node(as_mode(mode, ask), retry=5)), checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": f"ir-{mode}"}}
    await run_graph(graph, mode, {}, cfg)
    with pytest.raises(ValidationError):
        await run_graph(graph, mode, Command(resume={"ok": "not-a-bool"}), cfg)
    out = await run_graph(graph, mode, Command(resume={"ok": True}), cfg)
    assert out["log"] == ["True"]
    assert "errors" not in out or out["errors"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_parent_command_from_subgraph(mode: str) -> None:
    """Command(graph=Command.PARENT) raised inside a wrapped subgraph node reaches the parent."""

    def escalate(state: Any) -> Command[Any]:
        return Command(graph=Command.PARENT, goto="handler", update={"log": ["escalated"]})

    sub = chain(("escalate", create_node(as_mode(mode, escalate), retry=3)))
    g = StateGraph(S)
    g.add_node("sub", sub)
    g.add_node("handler", lambda s: {"log": ["handled"]})
    g.add_edge(START, "sub")
    out = await run_graph(g.compile(), mode, {})
    assert out["log"] == ["escalated", "handled"]
    assert "errors" not in out or out["errors"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_graph_drained_passes_through(mode: str) -> None:
    """A node raising GraphDrained is not retried or recorded; the run drains."""
    calls = []

    def drain(state: Any) -> Any:
        calls.append(1)
        raise GraphDrained("test")

    with pytest.raises(GraphDrained):
        await run_graph(chain(("d", create_node(as_mode(mode, drain), retry=4))), mode, {})
    assert calls == [1]


@pytest.mark.parametrize("mode", ["sync-ainvoke", "async"])
async def test_cancellation_propagates_and_is_not_recorded(mode: str, events: EventCapture) -> None:
    """Cancelling the run stops the node: CancelledError escapes, nothing retried or recorded."""
    import threading

    from langgraph_runner._policies.timeouts import wait_for_abandoned_threads

    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    release, returned = threading.Event(), threading.Event()

    if mode == "async":

        async def slow(state: Any) -> Any:
            started.set()
            await asyncio.sleep(5)
            return {}
    else:

        def slow(state: Any) -> Any:
            loop.call_soon_threadsafe(started.set)
            try:
                release.wait(5)  # returns late: only once the run was cancelled
                return {}
            finally:
                returned.set()

    graph = chain(("slow", create_node(slow, retry=5, logger=events)))
    task = asyncio.create_task(graph.ainvoke({}))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if mode != "async":  # the abandoned sync body has returned, and its thread is done
        release.set()
        assert await asyncio.to_thread(returned.wait, 5)
        assert await asyncio.to_thread(wait_for_abandoned_threads, 5)
    await asyncio.sleep(0.4)  # a retry or a late record would show by now
    assert not events.named("node.failed")
    assert not events.named("node.retrying")
    assert len(events.named("node.started")) == 1


# --------------------------------------------------------------------------- subgraphs


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("decorated", [False, True])
def test_subgraph_detection(mode: str, decorated: bool) -> None:
    """get_subgraphs() still finds a subgraph the wrapped fn calls (also through a decorator)."""
    inner = chain(("leaf", lambda s: {"x": 1}))

    if mode == "sync":

        def call_sub(state: Any) -> Any:
            return inner.invoke(state)
    else:

        async def call_sub(state: Any) -> Any:
            return await inner.ainvoke(state)

    fn: Any = call_sub
    if decorated:

        def deco(f: Any) -> Any:
            if inspect.iscoroutinefunction(f):

                @functools.wraps(f)
                async def w(*a: Any, **k: Any) -> Any:
                    return await f(*a, **k)
            else:

                @functools.wraps(f)
                def w(*a: Any, **k: Any) -> Any:
                    return f(*a, **k)

            return w

        fn = deco(call_sub)
    graph = chain(("outer", create_node(fn)), checkpointer=InMemorySaver())
    assert [name for name, _ in graph.get_subgraphs()] == ["outer"]


# ----------------------------------------------------------------- persistence and secrets


_STRICT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import StateGraph, START, END
    from langgraph_runner import GraphState, create_node
    from langgraph_runner.testing import no_wait

    class S(GraphState, total=False):
        x: int

    def ok(state):
        return {"x": 1}

    def bad(state):
        raise ConnectionError("db refused password=hunter2secret token=tok_abcdef123456")

    g = StateGraph(S)
    g.add_node("ok", create_node(ok))
    g.add_node("bad", create_node(bad, retry=2))
    g.add_edge(START, "ok"); g.add_edge("ok", "bad"); g.add_edge("bad", END)
    with SqliteSaver.from_conn_string(sys.argv[1]) as saver, no_wait():
        graph = g.compile(checkpointer=saver)
        cfg = {"configurable": {"thread_id": "strict"}}
        graph.invoke({"x": 0}, cfg)
        state = graph.get_state(cfg).values
        out = {"errors": state["errors"], "flags": state["routing_flags"], "x": state["x"]}
        print(json.dumps(out))
    """
)


def test_sqlite_saver_with_strict_msgpack_and_no_secret_in_bytes(tmp_path: Path) -> None:
    """Records survive SqliteSaver under LANGGRAPH_STRICT_MSGPACK=true; no secret hits the file."""
    import json

    db = tmp_path / "state.db"
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", _STRICT_SCRIPT, str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["x"] == 1 and out["flags"] == {"blocked": True}
    assert NodeError.model_validate(out["errors"][0]).code is ErrorCode.RETRY_EXHAUSTED
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    with sqlite3.connect(db) as conn:
        for table in ("checkpoints", "writes"):
            for row in conn.execute(f"select * from {table}"):
                raw += b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert b"hunter2secret" not in raw and b"tok_abcdef123456" not in raw
    assert b"RETRY_EXHAUSTED" in raw
    assert "hunter2secret" not in proc.stderr


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_keeps_secrets_out_of_checkpoints(mode: str) -> None:
    """In raise mode the exception LangGraph writes to the checkpoint is already redacted."""
    saver = InMemorySaver()
    node = create_node(
        as_mode(mode, Flaky(5, RuntimeError("Bearer abcdefghijklmnopqrstuvwxyz0123"))),
        on_error="raise",
    )
    graph = chain(("n", node), checkpointer=saver)
    cfg = {"configurable": {"thread_id": f"sec-{mode}"}}
    with pytest.raises(RuntimeError):
        await run_graph(graph, mode, {}, cfg)
    dump = repr(saver.storage) + repr(saver.writes)
    assert "abcdefghijklmnopqrstuvwxyz0123" not in dump
    assert "[REDACTED]" in dump


# --------------------------------------------------------------------------- Runnable API


async def test_sync_node_runnable_invoke_and_ainvoke_pass_config_and_recurse() -> None:
    """A sync node used as a Runnable gets its config, and a returned Runnable is run (recurse)."""
    from langchain_core.runnables import RunnableLambda

    seen: list[Any] = []

    def fn(state: dict[str, Any], config: RunnableConfig) -> Any:
        seen.append(config["configurable"]["k"])
        if state.get("nested"):
            return RunnableLambda(lambda s: {"x": 41 + len(s)})
        return {"x": 1}

    node: Any = create_node(fn, name="n")
    config: RunnableConfig = {"configurable": {"k": "v"}}
    assert node.invoke({}, config) == {"x": 1}
    assert await node.ainvoke({}, config) == {"x": 1}
    assert node.invoke({"nested": True}, config) == {"x": 42}
    assert await node.ainvoke({"nested": True}, config) == {"x": 42}
    assert seen == ["v", "v", "v", "v"]
