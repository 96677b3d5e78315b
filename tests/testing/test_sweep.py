"""The fault sweep (langgraph_runner.testing.sweep), run over every graph shape we support."""

from __future__ import annotations

import asyncio
import dataclasses
import operator
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

from langgraph_runner import RetryConfig, create_node, harden
from langgraph_runner._engine.faults import Fault, HangNotStopped
from langgraph_runner.testing import (
    Point,
    PointResult,
    SweepError,
    SweepReport,
    asweep,
    call_points,
    fail_point,
    sweep,
)
from tests.agent_kit import ToolCallingFake, call
from tests.conftest import needs_async_context
from tests.testing.sweep_shapes import (
    AGENT_INPUT,
    MODES,
    PIPELINE,
    PIPELINE_BARE,
    SHAPES,
    TOOLS,
    all_shapes,
)

ROOT = Path(__file__).resolve().parents[2]
NODES: Any = ("node",)  # typed as kinds= takes it


@pytest.fixture(scope="module")
def reports() -> Any:
    """Each (shape, mode) swept once for the whole module (the docs table reuses them)."""
    sys.path.insert(0, str(ROOT))
    from scripts.sweep_table import report

    return report


# ---------------------------------------------------------------------- every shape


@pytest.mark.parametrize("shape", list(SHAPES))
def test_record_mode_every_point_ends_with_a_record(shape: str, reports: Any) -> None:
    _, _, kinds = SHAPES[shape]
    report = reports(shape, "record")
    assert len(report) > 0
    promised = [r for r in report if r.point.kind in kinds]
    assert promised and all(r.recorded for r in promised), report
    # outside the promise (LangChain's own nodes under RunnerMiddleware, a middleware
    # that answers a failed model call itself): the injected error or an answer, never
    # an unrelated exception
    for r in report:
        assert r.outcome in ("recorded", "answered", "returned", "raised"), r
        if r.outcome == "raised":
            assert r.error_type == "ConnectionError", r


@pytest.mark.parametrize("shape", list(SHAPES))
def test_raise_mode_raises_what_bare_langgraph_raises(shape: str, reports: Any) -> None:
    bare = {str(r.point): r for r in reports(shape, "bare")}
    hardened = {str(r.point): r for r in reports(shape, "raise")}
    common = set(bare) & set(hardened)
    assert common
    for point in common:
        assert hardened[point].outcome == bare[point].outcome, point
        assert hardened[point].error_type == bare[point].error_type, point


def test_every_promised_point_of_a_bare_agent_raises(reports: Any) -> None:
    report = reports("create_agent + harden", "bare")
    assert {r.outcome for r in report} == {"raised"}
    assert {r.error_type for r in report} == {"ConnectionError"}


def test_the_example_pipeline(reports: Any) -> None:
    report = reports(PIPELINE, "record")
    kinds = {(r.point.name, r.point.hang) for r in report}
    # its create_node nodes have a 5 s timeout: each gets a hang point too
    assert {("load", True), ("summarize", True), ("publish", True)} <= kinds
    for r in report:
        if r.point.name in PIPELINE_BARE:  # left unwrapped by the example: LangGraph raises
            assert r.outcome == "raised" and r.error_type == "ConnectionError", r
        else:
            assert r.recorded, r
        if r.point.hang:
            assert "NODE_TIMEOUT" in {code for _, code in r.records}, r


def test_the_docs_table_is_current(reports: Any) -> None:
    from scripts.sweep_table import DOC, replaced

    from tests.testing.sweep_shapes import render_table

    doc = DOC.read_text()
    assert replaced(doc, render_table(reports)) == doc, (
        "docs/testing.md's sweep table is stale: run python scripts/sweep_table.py"
    )


def test_every_mode_is_swept() -> None:
    assert MODES == ("record", "raise", "bare")
    assert PIPELINE in all_shapes()


# ---------------------------------------------------------------------- the API


def _agent_factory() -> Any:
    model = ToolCallingFake(
        responses=[call("weather", {"city": "Paris"}, "c1", "m1"), AIMessage("Sunny.")]
    )
    return harden(create_agent(model, TOOLS))


# LangChain's async agent model node calls its model with no config: before Python
# 3.11 that call finds no callbacks (a bare create_agent's neither), so the sweep sees
# no model point under ainvoke there. create_react_agent passes its config on.
_MODEL_SEEN_ONLY_WITH_CONTEXT: pytest.MarkDecorator = needs_async_context()


@_MODEL_SEEN_ONLY_WITH_CONTEXT
def test_sync_and_async_agree() -> None:
    sync = sweep(_agent_factory, AGENT_INPUT)
    async_ = asyncio.run(asweep(_agent_factory, AGENT_INPUT))
    assert [str(r) for r in sync] == [str(r) for r in async_]
    assert sync.all_recorded() and async_.all_recorded()


def test_deterministic() -> None:
    first = sweep(_agent_factory, AGENT_INPUT)
    assert str(sweep(_agent_factory, AGENT_INPUT)) == str(first)
    assert first.table() == sweep(_agent_factory, AGENT_INPUT).table()


def test_a_compiled_graph_with_the_fakes_users_write() -> None:
    """FakeMessagesListChatModel cycles its responses: a compiled graph can be reused."""
    model = ToolCallingFake(
        responses=[call("weather", {"city": "Paris"}, "c1", "m1"), AIMessage("Sunny.")]
    )
    graph = harden(create_agent(model, TOOLS))
    report = sweep(graph, AGENT_INPUT, kinds=("model", "tool"))
    assert [str(r.point) for r in report] == [
        "model ToolCallingFake#1 in model",
        "tool weather#1 in tools",
        "model ToolCallingFake#2 in model",
    ]
    assert report.all_recorded()


def test_generic_fake_chat_model_through_a_factory() -> None:
    """GenericFakeChatModel consumes an iterator: a factory gives each run a fresh one."""

    def make() -> Any:
        model = GenericFakeChatModel(messages=iter([AIMessage("one"), AIMessage("two")]))

        def ask(state: Any) -> dict[str, Any]:
            return {"messages": [model.invoke(state["messages"])]}

        def again(state: Any) -> dict[str, Any]:
            return {"messages": [model.invoke(state["messages"])]}

        builder = StateGraph(_Chat)
        builder.add_node("ask", create_node(ask))
        builder.add_node("again", create_node(again))
        builder.add_edge(START, "ask")
        builder.add_edge("ask", "again")
        builder.add_edge("again", END)
        return builder.compile()

    report = sweep(make, {"messages": [HumanMessage("hi")]})
    assert [str(r.point) for r in report] == [
        "node ask#1",
        "model GenericFakeChatModel#1 in ask",
        "node again#1",
        "model GenericFakeChatModel#2 in again",
    ]
    assert report.all_recorded()
    assert {r.records[0] for r in report} == {
        ("ask", "RETRY_EXHAUSTED"),
        ("again", "RETRY_EXHAUSTED"),
    }


class _Chat(TypedDict, total=False):
    messages: Annotated[list[Any], operator.add]
    errors: Annotated[list[dict[str, Any]], operator.add]
    routing_flags: dict[str, bool]


class _Flow(TypedDict, total=False):
    steps: Annotated[list[str], operator.add]
    errors: Annotated[list[dict[str, Any]], operator.add]
    routing_flags: dict[str, bool]


def _flow(**options: Any) -> Any:
    def first(state: _Flow) -> dict[str, Any]:
        return {"steps": ["first"]}

    def second(state: _Flow) -> dict[str, Any]:
        return {"steps": ["second"]}

    builder = StateGraph(_Flow)
    builder.add_node("first", create_node(first, **options))
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile()


def test_one_test_per_point() -> None:
    """The parametrised form: call_points at collection, fail_point in the test."""
    points = call_points(lambda: _flow(), {})
    assert [str(p) for p in points] == ["node first#1", "node second#1"]
    first, second = (fail_point(lambda: _flow(), {}, p) for p in points)
    assert first.recorded and first.records == (("first", "RETRY_EXHAUSTED"),)
    assert first.flags == ("blocked",) and first.after == ("second",)
    assert second.outcome == "raised" and second.error_type == "ConnectionError"
    assert second.error == "ConnectionError: sweep: node second#1 failed"


def test_retries_do_not_sleep_and_every_attempt_fails() -> None:
    slow_retries = RetryConfig(max_attempts=3, initial_interval=30.0)
    report = sweep(lambda: _flow(retry=slow_retries), {}, kinds=NODES)
    first = report.results[0]
    assert first.recorded
    assert first.records == (("first", "RETRY_EXHAUSTED"),)


def test_hang_points_for_nodes_with_a_timeout() -> None:
    report = sweep(lambda: _flow(timeout=30.0), {})
    assert [str(r.point) for r in report] == [
        "node first#1",
        "node first#1 (hang)",
        "node second#1",
    ]
    hang = report.results[1]
    assert hang.recorded and hang.records == (("first", "NODE_TIMEOUT"),)
    assert call_points(lambda: _flow(timeout=30.0), {}, hangs=False)[1].name == "second"


def test_async_hang() -> None:
    async def first(state: _Flow) -> dict[str, Any]:
        return {"steps": ["first"]}

    builder = StateGraph(_Flow)
    builder.add_node("first", create_node(first, timeout=30.0))
    builder.add_edge(START, "first")
    builder.add_edge("first", END)
    graph = builder.compile()
    report = asyncio.run(asweep(graph, {}))
    assert [r.summary() for r in report] == [
        "recorded RETRY_EXHAUSTED (blocked)",
        "recorded NODE_TIMEOUT (blocked)",
    ]


def test_a_hang_nothing_stops_is_reported() -> None:
    with pytest.raises(HangNotStopped):
        Fault(limit=0.01, guard=0.001).fn(False)()


@pytest.mark.parametrize(
    "error",
    [ValueError("bad input"), ValueError, lambda point: ValueError(f"bad {point.name}")],
    ids=["instance", "class", "function"],
)
def test_the_error_is_the_users(error: Any) -> None:
    points = call_points(lambda: _flow(), {})
    result = fail_point(lambda: _flow(), {}, points[1], error=error)
    assert result.error_type == "ValueError"
    assert result.error in (
        "ValueError: bad input",
        "ValueError: sweep: node second#1 failed",
        "ValueError: bad second",
    )


def test_results_are_frozen_and_readable() -> None:
    report = sweep(lambda: _flow(), {})
    assert isinstance(report, SweepReport) and isinstance(report.results[0], PointResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.results[0].outcome = "raised"  # type: ignore[misc]
    assert not report.all_recorded()
    assert [str(r.point) for r in report.not_recorded()] == ["node second#1"]
    assert str(report).splitlines() == [
        "sweep: 1 of 2 points recorded",
        "  node first#1: recorded RETRY_EXHAUSTED (blocked) -> second",
        "  node second#1: raised ConnectionError [ConnectionError: sweep: node second#1 failed]",
    ]
    assert (
        report.table().splitlines()[2]
        == "| node first#1 | recorded RETRY_EXHAUSTED (blocked) | second |"
    )


def test_a_graph_that_fails_without_a_fault() -> None:
    def broken(state: _Flow) -> dict[str, Any]:
        raise RuntimeError("broken anyway")

    builder = StateGraph(_Flow)
    builder.add_node("broken", broken)
    builder.add_edge(START, "broken")
    with pytest.raises(SweepError, match="fails without a fault: RuntimeError: broken anyway"):
        sweep(builder.compile(), {})


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kinds"):
        sweep(lambda: _flow(), {}, kinds=("nodes",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="compiled graph"):
        sweep(lambda: "not a graph", {})
    with pytest.raises(ValueError, match="was not listed"):
        fail_point(lambda: _flow(), {}, Point("node", "first", 1, "first"))


def test_no_plan_outside_a_sweep() -> None:
    from langgraph_runner._engine.faults import PLANS, planned_fault

    sweep(lambda: _flow(), {})
    assert PLANS == [0]
    assert planned_fault(1, None, None) is None


def test_parallel_calls_of_one_tool_fail_one_at_a_time() -> None:
    """Two calls of the same tool in one turn are two points; failing one leaves the other."""

    def make() -> Any:
        model = ToolCallingFake(
            responses=[
                AIMessage(
                    content="",
                    tool_calls=[
                        {"name": "weather", "args": {"city": "Paris"}, "id": "c1"},
                        {"name": "weather", "args": {"city": "Rome"}, "id": "c2"},
                    ],
                ),
                AIMessage("Sunny in both."),
            ]
        )
        return harden(create_agent(model, TOOLS))

    points = [p for p in call_points(make, AGENT_INPUT) if p.kind == "tool"]
    assert [str(p) for p in points] == ["tool weather#1 in tools", "tool weather#2 in tools"]
    for point in points:
        result = fail_point(make, AGENT_INPUT, point)
        # one record: the other call of the same tool ran and answered
        assert result.tool_error and result.records == (("tools.weather", "RETRY_EXHAUSTED"),)


ASYNC_SHAPES = [
    pytest.param("create_agent + harden", marks=_MODEL_SEEN_ONLY_WITH_CONTEXT),
    pytest.param(
        "create_agent, checkpointer + RunnerMiddleware", marks=_MODEL_SEEN_ONLY_WITH_CONTEXT
    ),
    "create_react_agent + harden",
    "Send fan-out + harden",
    "hand-off Command.PARENT + harden",
]


@pytest.mark.parametrize("shape", ASYNC_SHAPES)
def test_async_record_mode_matches_sync(shape: str, reports: Any) -> None:
    make, inputs, _ = SHAPES[shape]
    async_ = asyncio.run(asweep(make("record"), inputs))
    assert [str(r) for r in async_] == [str(r) for r in reports(shape, "record")]
