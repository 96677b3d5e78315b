"""harden(): every node of an existing builder wrapped with the same defaults, metadata kept."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableLambda
from langgraph.errors import NodeError as LGNodeError
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import CachePolicy, Command, RetryPolicy

from langgraph_runner import GraphState, NodeMetricsCollector, create_node, harden
from langgraph_runner.metrics._collector import METRICS_COLLECTOR_KEY
from tests.agent_kit import MODES3, AgentState, call, fake_model, normalized

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    x: int
    seen: list[str]


class Narrow(GraphState, total=False):
    x: int


class Inner(TypedDict, total=False):
    x: int


def _app() -> StateGraph[Any, Any, Any, Any]:
    """An existing app: a function, an async function, a Runnable and a subgraph."""

    def fetch(state: S) -> dict[str, Any]:
        raise ConnectionError("upstream down")

    async def parse(state: Narrow) -> dict[str, Any]:
        return {"x": 1}

    sub = StateGraph(Inner)
    sub.add_node("inner", lambda s: {"x": (s.get("x") or 0) + 10})
    sub.add_edge(START, "inner")

    b = StateGraph(S)
    b.add_node("fetch", fetch, retry_policy=RetryPolicy(max_attempts=1), metadata={"team": "a"})
    b.add_node("parse", parse, cache_policy=CachePolicy(ttl=60))
    b.add_node("chain", RunnableLambda(lambda s: {"seen": ["chain"]}))
    b.add_node("child", sub.compile())
    b.add_edge(START, "fetch")
    b.add_edge("fetch", "parse")
    b.add_edge("parse", "chain")
    b.add_edge("chain", "child")
    b.add_edge("child", END)
    return b


async def test_every_kind_of_node_is_wrapped_and_metadata_is_kept() -> None:
    """Functions, Runnables and subgraphs get records; schemas, policies, metadata stay."""
    b = _app()
    before = dict(b.nodes)
    collector = NodeMetricsCollector()
    assert harden(b, retry=2, metrics=collector) is b
    for name, spec in b.nodes.items():
        old = before[name]
        assert spec.runnable is not old.runnable
        assert (spec.input_schema, spec.retry_policy, spec.cache_policy, spec.metadata) == (
            old.input_schema,
            old.retry_policy,
            old.cache_policy,
            old.metadata,
        )
    assert b.nodes["parse"].input_schema is Narrow
    graph = b.compile()
    out = await graph.ainvoke({})
    assert [(r["node"], r["attempts"]) for r in out["errors"]] == [("fetch", 2)]
    assert (out["x"], out["seen"]) == (11, ["chain"])
    assert [name for name, _ in graph.get_subgraphs()] == ["child"]
    assert set(collector.get_all_node_metrics()) == {"fetch", "parse", "chain", "child"}
    assert collector.get_node_metrics("fetch").retry_count == 1


async def test_overrides_win_and_none_leaves_a_node_as_it_was() -> None:
    """Per-node options merge over the defaults; None skips the node."""
    b = _app()
    chain = b.nodes["chain"].runnable
    harden(b, retry=3, overrides={"fetch": {"retry": None}, "chain": None})
    assert b.nodes["chain"].runnable is chain
    out = await b.compile().ainvoke({})
    assert [(r["node"], r["attempts"]) for r in out["errors"]] == [("fetch", 1)]


def test_wrapped_nodes_and_destinations_are_kept() -> None:
    """A node made with create_node is not wrapped twice; Command destinations survive."""

    def route(state: S) -> Command[Literal["b"]]:
        return Command(goto="b")

    own = create_node(lambda s: {"x": 1})
    b = StateGraph(S)
    b.add_node("a", route)
    b.add_node("b", own)
    b.add_edge(START, "a")
    harden(b)
    assert b.nodes["b"].runnable is own
    assert b.nodes["a"].ends == ("b",)
    graph = b.compile()
    assert graph.invoke({})["x"] == 1
    assert any(e.source == "a" and e.target == "b" for e in graph.get_graph().edges)


def test_a_node_with_an_error_handler_keeps_its_handler() -> None:
    """Such a node gets on_error='raise': LangGraph's handler still runs after our retries."""
    calls = {"n": 0}

    def flaky(state: S) -> dict[str, Any]:
        calls["n"] += 1
        raise ConnectionError("down")

    def handler(state: S, error: LGNodeError) -> dict[str, Any]:
        return {"seen": ["handled"]}

    # LangGraph injects `error` by the annotation object (postponed annotations are text here).
    handler.__annotations__["error"] = LGNodeError

    b = StateGraph(S)
    b.add_node("n", flaky, error_handler=handler)
    b.add_edge(START, "n")
    harden(b, retry=2)
    out = b.compile().invoke({})
    assert (calls["n"], out["seen"], out["errors"]) == (2, ["handled"], [])


def test_hardened_react_agent_streams_as_the_plain_one() -> None:
    """An agent app hardened in one call streams exactly what the plain app streams."""

    def build(hardened: bool) -> Any:
        model = fake_model(call("noop", {}, "c1", "ai1"), AIMessage(id="ai2", content="ok"))

        def noop() -> str:
            """Do nothing."""
            return "done"

        def agent(state: AgentState) -> dict[str, Any]:
            return {"messages": [model.invoke(state["messages"])]}

        b = StateGraph(AgentState)
        b.add_node("agent", agent)
        b.add_node("tools", ToolNode([noop]))
        b.add_edge(START, "agent")
        b.add_conditional_edges("agent", tools_condition)
        b.add_edge("tools", "agent")
        return (harden(b, retry=2) if hardened else b).compile()

    inp = {"messages": [HumanMessage("hi", id="h1")]}
    out = [normalized(list(build(h).stream(inp, stream_mode=MODES3))) for h in (False, True)]
    assert out[0] == out[1]


async def test_metrics_from_the_config_see_every_node() -> None:
    """The run's collector counts each hardened node."""
    b = _app()
    harden(b)
    collector = NodeMetricsCollector()
    await b.compile().ainvoke({}, {"configurable": {METRICS_COLLECTOR_KEY: collector}})
    m = collector.get_all_node_metrics()
    assert (m["fetch"].failure_count, m["parse"].success_count) == (1, 1)


def test_bad_arguments_are_refused_with_the_field_named() -> None:
    """Unknown nodes, unknown options, a compiled builder and non-builders are refused."""
    with pytest.raises(ValueError, match=r"unknown node.*'nope'"):
        harden(_app(), overrides={"nope": {}})
    with pytest.raises(TypeError, match="retyr"):
        harden(_app(), retyr=3)
    with pytest.raises(ValueError, match=r"node 'fetch'.*timeout"):
        harden(_app(), overrides={"fetch": {"timeout": -1}})
    compiled = _app()
    compiled.compile()
    with pytest.raises(ValueError, match="already compiled"):
        harden(compiled)
    with pytest.raises(TypeError, match="StateGraph"):
        harden(object())  # type: ignore[type-var]
