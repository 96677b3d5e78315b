"""factory.py: node_factory's graph-wide defaults, and on_failure across the nodes of a graph."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from langgraph._internal._runnable import is_async_callable
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from langgraph_runner import (
    CircuitBreaker,
    CircuitBreakerConfig,
    GraphState,
    NodeError,
    NodeOptions,
    RetryConfig,
    create_node,
    get_circuit_breaker,
    node_factory,
)
from langgraph_runner.testing import fail_times
from tests.conftest import MODES, EventCapture, as_mode, run_graph

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    x: int


def graph_of(*nodes: tuple[str, Any], checkpointer: Any = None) -> Any:
    """START -> each node in turn -> END."""
    g = StateGraph(S)
    prev = START
    for name, node in nodes:
        g.add_node(name, node)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile(checkpointer=checkpointer)


def _boom(state: Any) -> Any:
    raise ConnectionError("down")


def _ok(state: Any) -> dict[str, Any]:
    return {"x": 1}


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("mode", MODES)
async def test_defaults_apply_to_every_node(mode: str) -> None:
    """retry=3 as a default: every node made by the factory retries up to 3 attempts."""
    make = node_factory(retry=3)
    a = fail_times(2, name="a", result={"x": 1})
    b = fail_times(5, name="b")
    out = await run_graph(
        graph_of(("a", make(as_mode(mode, a))), ("b", make(as_mode(mode, b)))), mode, {}
    )
    assert (a.calls, b.calls) == (3, 3)
    [record] = out["errors"]
    assert (record["node"], record["attempts"]) == ("b", 3)


@pytest.mark.parametrize("mode", MODES)
async def test_per_node_arguments_win_even_none(mode: str) -> None:
    """A per-node argument replaces the default; an explicit None switches the default off."""
    make = node_factory(retry=3, fallback=lambda s: {"x": 7})
    fewer = fail_times(5, name="fewer")
    bare = fail_times(5, name="bare")
    graph = graph_of(
        ("fewer", make(as_mode(mode, fewer), retry=RetryConfig(max_attempts=2))),
        ("bare", make(as_mode(mode, bare), retry=None, fallback=None)),
    )
    out = await run_graph(graph, mode, {})
    assert (fewer.calls, bare.calls) == (2, 1)
    recovered, blocked = out["errors"]
    assert (recovered["node"], recovered["attempts"], recovered["recovered"]) == ("fewer", 2, True)
    assert (blocked["node"], blocked["attempts"], blocked["recovered"]) == ("bare", 1, False)
    assert out["x"] == 7
    assert out["routing_flags"] == {"blocked": True}


def test_factory_nodes_keep_metadata_and_accept_a_name() -> None:
    """A factory node is a create_node node: name, doc kept; name= is a per-node option."""

    def fetch(state: Any) -> dict[str, Any]:
        """Fetch."""
        return {"x": 1}

    make = node_factory(retry=2)
    node = make(fetch)
    assert (node.name, node.__doc__, node.__wrapped__) == ("fetch", "Fetch.", fetch)
    assert make(fetch, name="fetch_orders").name == "fetch_orders"
    assert node({}) == {"x": 1}


async def test_factory_makes_async_nodes_from_async_functions() -> None:
    """An async function gives an async node, like create_node."""

    async def fetch(state: Any) -> dict[str, Any]:
        return {"x": 2}

    node = node_factory(timeout=5)(fetch)
    assert is_async_callable(node)
    assert await node({}) == {"x": 2}


# --------------------------------------------------------------------------- validation


def test_unknown_option_lists_the_options() -> None:
    """A misspelt default is a TypeError naming it and listing what create_node takes."""
    with pytest.raises(TypeError) as info:
        node_factory(retries=3, time_out=1)
    message = str(info.value)
    assert "unknown option(s) retries, time_out;" in message
    listed = message.split("create_node takes ", 1)[1].split(", ")
    expected = set(NodeOptions.__optional_keys__)
    assert listed == sorted(expected)
    assert {"retry", "timeout", "deadline", "fallback", "on_failure", "circuit_breaker"} <= expected


def test_create_node_refuses_a_misspelt_option() -> None:
    """create_node names an unknown keyword and lists the options there are."""
    with pytest.raises(
        TypeError, match=r"create_node: unknown option\(s\) retries; create_node takes"
    ):
        create_node(lambda state: None, retries=3)  # type: ignore[call-overload]


def test_name_cannot_be_a_default() -> None:
    """name= names one node, so it is refused as a default."""
    with pytest.raises(TypeError, match="'name' cannot be a default"):
        node_factory(name="fetch")


@pytest.mark.parametrize(
    ("defaults", "error", "pattern"),
    [
        ({"timeout": 0}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"deadline": "5"}, TypeError, "deadline must be seconds"),
        ({"on_failure": 5}, TypeError, "on_failure must be callable"),
        ({"circuit_breaker": 3}, TypeError, "circuit_breaker must be"),
        ({"fallback": ""}, ValueError, "fallback must be a non-empty"),
        ({"on_error": "ignore"}, ValueError, "on_error must be 'record' or 'raise'"),
        ({"retry": "3"}, TypeError, "retry must be a RetryConfig, an int"),
    ],
)
def test_bad_default_fails_at_factory_time(
    defaults: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    """A bad default raises when node_factory() is called, not when a node is made."""
    with pytest.raises(error, match=pattern):
        node_factory(**defaults)


def test_defaults_are_read_only() -> None:
    """.defaults shows what was given and cannot be changed; repr shows it too."""
    make = node_factory(retry=3, on_error="raise")
    assert dict(make.defaults) == {"retry": 3, "on_error": "raise"}
    with pytest.raises(TypeError):
        make.defaults["retry"] = 5  # type: ignore[index]
    assert repr(make) == "node_factory(retry=3, on_error='raise')"


# --------------------------------------------------------------------------- circuit breakers


def test_breaker_config_default_gives_each_node_its_own_breaker() -> None:
    """A CircuitBreakerConfig default: one node's open circuit does not reject the other."""
    make = node_factory(circuit_breaker=CircuitBreakerConfig(failure_threshold=1))
    a, b = fail_times(99, name="a"), fail_times(99, name="b")
    graph_a, graph_b = graph_of(("a", make(a))), graph_of(("b", make(b)))
    graph_a.invoke({})
    out = graph_a.invoke({})
    assert out["errors"][0]["code"] == "CIRCUIT_OPEN"
    assert "Circuit 'a' is open" in out["errors"][0]["message"]
    out = graph_b.invoke({})
    assert out["errors"][0]["code"] == "RETRY_EXHAUSTED"
    assert (a.calls, b.calls) == (1, 1)


@pytest.mark.parametrize("shared", ["key", "instance"])
def test_key_or_instance_default_shares_one_breaker(shared: str) -> None:
    """A key (or one CircuitBreaker) as the default: one node tripping it rejects the other."""
    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=60)
    key = f"test-factory-{uuid.uuid4().hex}"
    breaker: Any = key if shared == "key" else CircuitBreaker(key, config)
    if shared == "key":
        get_circuit_breaker(key, config)  # configure the shared breaker before naming it
    make = node_factory(circuit_breaker=breaker)
    a, b = fail_times(99, name="a"), fail_times(99, name="b")
    graph_of(("a", make(a))).invoke({})
    out = graph_of(("b", make(b))).invoke({})
    assert out["errors"][0]["code"] == "CIRCUIT_OPEN"
    assert f"Circuit '{key}' is open" in out["errors"][0]["message"]
    assert (a.calls, b.calls) == (1, 0)


def test_naming_a_key_before_configuring_it_keeps_the_defaults() -> None:
    """A key named first (by a factory or node) gets defaults; configuring it later fails."""
    key = f"test-factory-{uuid.uuid4().hex}"
    node_factory(circuit_breaker=key)
    assert get_circuit_breaker(key).config == CircuitBreakerConfig()
    with pytest.raises(ValueError, match="already exists"):
        get_circuit_breaker(key, CircuitBreakerConfig(failure_threshold=1))


# --------------------------------------------------------------------------- on_failure


def _hook(kind: str, calls: list[tuple[NodeError, Any]]) -> Any:
    if kind == "sync":

        def on_failure(record: NodeError, state: Any) -> None:
            calls.append((record, state))

        return on_failure

    async def aon_failure(record: NodeError, state: Any) -> None:
        await asyncio.sleep(0)
        calls.append((record, state))

    return aon_failure


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("mode", MODES)
async def test_on_failure_default_sees_every_terminal_failure(mode: str, kind: str) -> None:
    """The default on_failure gets (record, state) for each failing node, never for successes."""
    calls: list[tuple[NodeError, Any]] = []
    make = node_factory(on_failure=_hook(kind, calls), retry=2)
    graph = graph_of(
        ("a", make(as_mode(mode, _boom))),
        ("ok", make(as_mode(mode, _ok))),
        ("b", make(as_mode(mode, _boom), fallback=lambda s: {"x": 3})),
    )
    out = await run_graph(graph, mode, {"x": 0})
    assert [(r.node, r.attempts, r.recovered) for r, _ in calls] == [
        ("a", 2, False),
        ("b", 2, True),
    ]
    assert all(isinstance(r, NodeError) for r, _ in calls)
    assert calls[0][1]["x"] == 0 and calls[1][1]["x"] == 1  # each node's own input state
    assert [r.to_state() for r, _ in calls] == out["errors"]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("mode", MODES)
async def test_failing_on_failure_is_logged_and_swallowed(
    mode: str, kind: str, events: EventCapture
) -> None:
    """An on_failure that raises is logged as hook.failed; the node still returns its record."""

    def broken(record: NodeError, state: Any) -> None:
        raise RuntimeError("pager down")

    async def abroken(record: NodeError, state: Any) -> None:
        raise RuntimeError("pager down")

    make = node_factory(on_failure=broken if kind == "sync" else abroken, logger=events)
    out = await run_graph(graph_of(("a", make(as_mode(mode, _boom)))), mode, {})
    assert out["errors"][0]["node"] == "a"
    assert out["routing_flags"] == {"blocked": True}
    [failed] = events.named("hook.failed")
    assert (failed["hook"], failed["node"], failed["error_type"]) == (
        "on_failure",
        "a",
        "RuntimeError",
    )


@pytest.mark.parametrize("mode", MODES)
async def test_on_failure_runs_before_a_raise(mode: str) -> None:
    """With on_error='raise' the hook still sees the record before the exception leaves."""
    calls: list[tuple[NodeError, Any]] = []
    make = node_factory(on_failure=_hook("sync", calls), on_error="raise")
    with pytest.raises(ConnectionError):
        await run_graph(graph_of(("a", make(as_mode(mode, _boom)))), mode, {})
    assert [(r.node, r.error_type) for r, _ in calls] == [("a", "ConnectionError")]


@pytest.mark.parametrize("mode", MODES)
async def test_on_failure_is_not_called_on_interrupt(mode: str) -> None:
    """interrupt() is not a failure: the hook stays silent across pause and resume."""
    calls: list[tuple[NodeError, Any]] = []
    make = node_factory(on_failure=_hook("sync", calls), retry=3)
    graph = graph_of(
        ("ask", make(as_mode(mode, lambda s: {"x": interrupt("x?")}))),
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": f"factory-interrupt-{mode}"}}
    out = await run_graph(graph, mode, {}, config)
    assert "__interrupt__" in out
    out = await run_graph(graph, mode, Command(resume=4), config)
    assert out["x"] == 4
    assert calls == []


def test_factory_defaults_match_create_node() -> None:
    """A factory node behaves exactly like create_node with the same arguments."""
    flaky_a = fail_times(1, name="n", result={"x": 1})
    flaky_b = fail_times(1, name="n", result={"x": 1})
    out_a = graph_of(("n", node_factory(retry=2)(flaky_a))).invoke({})
    out_b = graph_of(("n", create_node(flaky_b, retry=2))).invoke({})
    assert out_a == out_b
    assert out_a["x"] == 1
    assert (flaky_a.calls, flaky_b.calls) == (2, 2)
