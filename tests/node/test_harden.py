"""harden(): every node of an existing builder wrapped with the same defaults, metadata kept."""

from __future__ import annotations

import warnings
from typing import Any, Literal, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import NodeError as LGNodeError
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition
from langgraph.store.memory import InMemoryStore
from langgraph.types import CachePolicy, Command, RetryPolicy

from langgraph_runner import GraphState, NodeCache, create_node, harden
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics._collector import METRICS_COLLECTOR_KEY
from tests.agent_kit import (
    MODES3,
    AgentState,
    CountingTools,
    call,
    calls,
    fake_model,
    normalized,
    parallel_model,
    scripted,
)

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
    b.add_node("fetch", fetch, metadata={"team": "a"})
    b.add_node("parse", parse, cache_policy=CachePolicy(ttl=60))
    b.add_node(
        "chain",
        RunnableLambda(lambda s: {"seen": ["chain"]}),
        retry_policy=RetryPolicy(max_attempts=1),
    )
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
    # the subgraph is hardened inside too: its node reports as well
    assert set(collector.get_all_node_metrics()) == {"fetch", "parse", "chain", "child", "inner"}
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
    with pytest.raises(ValueError, match=r"node 'parse'.*cache_policy"):
        harden(_app(), overrides={"parse": {"on_error": "record"}})
    with pytest.raises(TypeError, match="StateGraph"):
        harden(object())  # type: ignore[type-var]


# ---------------------------------------------------------------- compiled agents


def _agent(kind: str, model: Any, tools: list[Any], **kw: Any) -> Any:
    if kind == "create_agent":
        return create_agent(model, tools, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent's deprecation notice
        return create_react_agent(model, tools, **kw)


AGENTS = ["create_agent", "create_react_agent"]


async def _run(graph: Any, mode: str, inp: Any, cfg: Any = None) -> Any:
    if mode == "async":
        return await graph.ainvoke(inp, cfg)
    return graph.invoke(inp, cfg)


@pytest.mark.parametrize("kind", AGENTS)
def test_a_compiled_agent_is_hardened_into_a_new_graph_with_its_settings(kind: str) -> None:
    """harden(compiled) keeps checkpointer, store, cache, interrupts, name and config."""
    saver, store, cache = InMemorySaver(), InMemoryStore(), InMemoryCache()
    graph = _agent(
        kind, parallel_model(), CountingTools(0).tools, checkpointer=saver, store=store,
        interrupt_before=["tools"], name="helper",
    )  # fmt: skip
    graph = graph.with_config({"tags": ["mine"], "recursion_limit": 40})
    graph.cache = cache
    before = {name: spec.runnable for name, spec in graph.builder.nodes.items()}
    hardened = harden(graph, retry=3)
    assert hardened is not graph
    assert (hardened.checkpointer, hardened.store, hardened.cache) == (saver, store, cache)
    assert (hardened.interrupt_before_nodes, hardened.name) == (["tools"], "helper")
    assert hardened.config == graph.config
    assert {n: s.runnable for n, s in graph.builder.nodes.items()} == before
    assert all(hardened.builder.nodes[n].runnable is not r for n, r in before.items())
    cfg = {"configurable": {"thread_id": "t"}}
    hardened.invoke({"messages": [HumanMessage("hi")]}, cfg)
    assert set(hardened.get_state(cfg).next) == {"tools"}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", AGENTS)
async def test_a_failed_parallel_tool_call_is_retried_alone(kind: str, mode: str) -> None:
    """A transient failure re-runs only its call; the good call's result is kept."""
    counted, model = CountingTools(1), parallel_model()
    hardened = harden(_agent(kind, model, counted.tools), retry=3)
    out = await _run(hardened, mode, {"messages": [HumanMessage("hi")]})
    assert counted.n == {"good": 1, "flaky": 2}
    assert model.calls == 2
    answers = [(m.tool_call_id, m.content) for m in out["messages"] if isinstance(m, ToolMessage)]
    assert answers == [("c1", "good 1"), ("c2", "flaky ok")]
    assert "errors" not in out  # the record channels appear once written


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", AGENTS)
async def test_a_call_that_keeps_failing_is_answered_with_a_redacted_error(
    kind: str, mode: str
) -> None:
    """One error ToolMessage for that call id, a recovered record; the model goes on."""
    counted, model = CountingTools(99), parallel_model()
    hardened = harden(_agent(kind, model, counted.tools), retry=3)
    out = await _run(hardened, mode, {"messages": [HumanMessage("hi")]})
    tool_msgs = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.status) for m in tool_msgs] == [("c1", "success"), ("c2", "error")]
    assert tool_msgs[1].content.startswith("Error: ConnectionError: GET /v1?api_key=")
    assert "sk-abcdefghijklmnopqrstuvwx" not in tool_msgs[1].content
    assert counted.n == {"good": 1, "flaky": 3}
    assert out["messages"][-1].content == "done"
    assert [(r["node"], r["attempts"], r["recovered"]) for r in out["errors"]] == [
        ("tools.flaky", 3, True)
    ]
    assert "sk-abcdefghijklmnopqrstuvwx" not in repr(out["errors"])


def test_an_agent_that_succeeds_bare_succeeds_hardened_and_streams_the_same() -> None:
    """No failure: the hardened create_agent streams exactly what the bare one does."""

    def make(hardened: bool) -> Any:
        model = scripted(calls(("good", {"x": 1}, "c1")), AIMessage(content="done"))
        graph = create_agent(model, CountingTools(0).tools)
        return harden(graph, retry=3) if hardened else graph

    inp = {"messages": [HumanMessage("hi", id="h1")]}
    bare, hard = (
        normalized(list(make(h).stream(inp, stream_mode=["updates", "messages"])))
        for h in (False, True)
    )
    assert bare == hard


def test_a_node_with_its_own_retry_policy_keeps_langgraphs_retries() -> None:
    """A node succeeding on LangGraph's 3rd attempt bare succeeds hardened, no record."""
    runs = {"n": 0}

    def flaky(state: S) -> dict[str, Any]:
        runs["n"] += 1
        if runs["n"] < 3:
            raise ConnectionError("down")
        return {"x": runs["n"]}

    b = StateGraph(S)
    b.add_node("n", flaky, retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.0))
    b.add_edge(START, "n")
    out = harden(b, retry=5).compile().invoke({})
    assert (out["x"], out["errors"], runs["n"]) == (3, [], 3)


def test_a_cached_node_never_has_its_failure_cached() -> None:
    """With a native cache_policy, a failure raises as bare; the next run runs the node again."""
    runs = {"n": 0}

    def once_broken(state: S) -> dict[str, Any]:
        runs["n"] += 1
        if runs["n"] == 1:
            raise ConnectionError("down")
        return {"x": 1}

    b = StateGraph(S)
    b.add_node("n", once_broken, cache_policy=CachePolicy(ttl=60))
    b.add_edge(START, "n")
    graph = harden(b, retry=1).compile(cache=InMemoryCache())
    with pytest.raises(ConnectionError):
        graph.invoke({"x": 0})
    assert graph.invoke({"x": 0})["x"] == 1
    assert runs["n"] == 2


@pytest.mark.parametrize("kind", AGENTS)
def test_a_sub_agent_node_is_hardened_inside_not_rerun_whole(kind: str) -> None:
    """A supervisor's sub-agent: a failed tool call is retried alone, not the whole agent."""
    counted, model = CountingTools(1), parallel_model()
    parent = StateGraph(AgentState)
    parent.add_node("assistant", _agent(kind, model, counted.tools))
    parent.add_edge(START, "assistant")
    out = harden(parent, retry=3).compile().invoke({"messages": [HumanMessage("hi")]})
    assert (model.calls, counted.n) == (2, {"good": 1, "flaky": 2})
    assert out["messages"][-1].content == "done"
    assert out["errors"] == []


def test_a_recorded_failure_is_never_served_by_node_cache() -> None:
    """harden(cache=NodeCache(...)): a run that recorded a failure is not cached."""
    runs = {"n": 0}

    def once_broken(state: S) -> dict[str, Any]:
        runs["n"] += 1
        if runs["n"] == 1:
            raise ConnectionError("down")
        return {"x": 1}

    b = StateGraph(S)
    b.add_node("n", once_broken)
    b.add_edge(START, "n")
    cache = NodeCache(inputs=["x"], backend=InMemoryCache(), signing_key=b"k" * 32, version="1")
    graph = harden(b, cache=cache).compile()
    assert [r["node"] for r in graph.invoke({"x": 0})["errors"]] == ["n"]
    assert graph.invoke({"x": 0})["x"] == 1
    assert graph.invoke({"x": 0})["x"] == 1  # served from the cache now
    assert runs["n"] == 2


# What compile() makes from the builder (compared by their keys below); every other
# attribute must come through harden unchanged.
_FROM_BUILDER = {
    "builder",
    "nodes",
    "channels",
    "input_channels",
    "output_channels",
    "stream_channels",
    "trigger_to_nodes",
    "node_error_handler_map",
    "schema_to_mapper",
    "_serde_allowlist",
    "_output_mapper",
    "_state_mapper",
}


def _compiled_agents() -> list[Any]:
    from langchain.agents.middleware import PIIMiddleware

    def make(**kw: Any) -> Any:
        return create_agent(
            fake_model(AIMessage("hi")),
            [],
            middleware=[PIIMiddleware("email", apply_to_output=True)],
            **kw,
        )

    return [
        make(),
        make(
            name="researcher",
            checkpointer=InMemorySaver(),
            store=InMemoryStore(),
            cache=InMemoryCache(),
            interrupt_before=["model"],
            interrupt_after=["model"],
            debug=True,
        ).with_config({"tags": ["t"], "recursion_limit": 42}),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["defaults", "every-setting"])
def test_harden_keeps_every_attribute_of_the_compiled_graph(index: int) -> None:
    """Generic: the next attribute LangChain or LangGraph adds is caught here."""
    bare = _compiled_agents()[index]
    bare.retry_policy = (RetryPolicy(max_attempts=2),)
    bare.step_timeout = 7.0
    hardened = harden(bare, retry=2)
    theirs, ours = vars(bare), vars(hardened)
    for attr, value in theirs.items():
        assert attr in ours, attr
        if attr in _FROM_BUILDER:
            continue
        assert ours[attr] is value or ours[attr] == value, attr
    assert len(bare.stream_transformers) >= 3  # tool calls, sub-agents and PII's own
    assert set(hardened.nodes) == set(bare.nodes)
    assert set(hardened.channels) - set(bare.channels) == {"errors", "routing_flags"}
    assert set(hardened.stream_channels) - set(bare.stream_channels) <= {"errors", "routing_flags"}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("on_error", ["record", "raise"])
async def test_a_structured_answer_that_does_not_validate_leaves_as_bare(
    on_error: str, mode: str
) -> None:
    """ToolStrategy(handle_errors=False): the StructuredOutputError leaves, unrecorded."""
    from langchain.agents.structured_output import StructuredOutputError, ToolStrategy
    from pydantic import BaseModel

    class Weather(BaseModel):
        temperature: float

    invalid = AIMessage(
        "", tool_calls=[{"name": "Weather", "args": {"temperature": "hot"}, "id": "w-1"}]
    )
    valid = AIMessage(
        "", tool_calls=[{"name": "Weather", "args": {"temperature": 21.5}, "id": "w-2"}]
    )
    model = fake_model(invalid, valid)  # a retry would get the valid answer
    agent = create_agent(model, [], response_format=ToolStrategy(Weather, handle_errors=False))
    hardened = harden(agent, retry=3, on_error=on_error)
    with pytest.raises(StructuredOutputError):
        await _run(hardened, mode, {"messages": [HumanMessage("weather?")]})
