"""RunnerMiddleware: create_node's options for each model and tool call of a create_agent agent."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import (
    ModelFallbackMiddleware,
    ModelRetryMiddleware,
    ToolRetryMiddleware,
)
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

import langgraph_runner.agents as agents
from langgraph_runner import CircuitBreakerConfig, FailureLoopError, harden
from langgraph_runner.agents import RunnerMiddleware, RunnerMiddlewareConfig
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.testing import no_wait
from tests.agent_kit import (
    TOOL_SECRET,
    Broken,
    CountingTools,
    calls,
    parallel_model,
    scripted,
)

pytestmark = pytest.mark.usefixtures("instant")

SECRET = TOOL_SECRET
_HI = {"messages": [HumanMessage("hi")]}


async def _run(agent: Any, mode: str, inp: Any = None) -> Any:
    inp = _HI if inp is None else inp
    return await agent.ainvoke(inp) if mode == "async" else agent.invoke(inp)


def _answers(out: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [
        (m.tool_call_id, m.status, m.content) for m in out["messages"] if isinstance(m, ToolMessage)
    ]


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_failed_tool_call_is_retried_alone(mode: str) -> None:
    """A transient failure re-runs its call only; the parallel good call ran once."""
    tools, model = CountingTools(1), parallel_model()
    agent = create_agent(model, tools.tools, middleware=[RunnerMiddleware(retry=3)])
    out = await _run(agent, mode)
    assert tools.n == {"good": 1, "flaky": 2}
    assert _answers(out) == [("c1", "success", "good 1"), ("c2", "success", "flaky ok")]
    assert (model.calls, out.get("errors", [])) == (2, [])


@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_call_that_keeps_failing_gets_an_error_message_and_a_record(mode: str) -> None:
    """One redacted error ToolMessage for that call id, a recovered record; the agent goes on."""
    tools, model = CountingTools(99), parallel_model()
    agent = create_agent(model, tools.tools, middleware=[RunnerMiddleware(retry=3)])
    out = await _run(agent, mode)
    answers = _answers(out)
    assert [(cid, status) for cid, status, _ in answers] == [("c1", "success"), ("c2", "error")]
    assert str(answers[1][2]).startswith("Error: ConnectionError: GET /v1?api_key=")
    assert SECRET not in repr(out)
    assert [(r["node"], r["attempts"], r["recovered"]) for r in out["errors"]] == [
        ("tools.flaky", 3, True)
    ]
    assert (out["messages"][-1].content, tools.n) == ("done", {"good": 1, "flaky": 3})


def test_options_per_tool_name_win_over_the_defaults() -> None:
    """tools={'flaky': {'retry': 5}}: flaky gets five attempts, the rest keep the defaults."""
    tools = CountingTools(99)
    mw = RunnerMiddleware(retry=2, tools={"flaky": {"retry": 5}})
    out = create_agent(parallel_model(), tools.tools, middleware=[mw]).invoke(_HI)
    assert [(r["node"], r["attempts"]) for r in out["errors"]] == [("tools.flaky", 5)]
    assert mw.config.tools["flaky"]["retry"] == 5
    assert mw.config.tool_defaults["retry"] == 2


@pytest.mark.parametrize("mode", MODES)
async def test_a_model_call_that_keeps_failing_ends_the_agent_with_a_record(mode: str) -> None:
    """The model is retried; then an error AIMessage (no tool call) ends the loop, blocked."""
    model = scripted(ConnectionError(f"POST /chat token={SECRET}"))
    agent = create_agent(model, CountingTools(0).tools, middleware=[RunnerMiddleware(retry=3)])
    out = await _run(agent, mode)
    assert model.calls == 3
    last = out["messages"][-1]
    assert isinstance(last, AIMessage)
    assert not last.tool_calls
    assert str(last.content).startswith("Error: Node 'model' failed after 3 attempt(s)")
    assert SECRET not in repr(out)
    assert [(r["node"], r["code"]) for r in out["errors"]] == [("model", "RETRY_EXHAUSTED")]
    assert out["routing_flags"] == {"blocked": True}


def test_a_model_failure_can_raise_instead() -> None:
    """model={'on_error': 'raise'}: the (redacted) exception leaves the agent."""
    model = scripted(ConnectionError(f"POST /chat token={SECRET}"))
    mw = RunnerMiddleware(retry=2, model={"on_error": "raise"})
    with pytest.raises(ConnectionError) as info:
        create_agent(model, CountingTools(0).tools, middleware=[mw]).invoke(_HI)
    assert SECRET not in str(info.value)
    assert model.calls == 2


def test_a_model_that_recovers_on_retry_answers_normally() -> None:
    """One transient model failure: retried, then the agent runs as bare, nothing recorded."""
    model = scripted(ConnectionError("blip"), AIMessage(content="hello"))
    out = create_agent(model, [], middleware=[RunnerMiddleware(retry=3)]).invoke(_HI)
    assert (out["messages"][-1].content, out.get("errors", []), model.calls) == ("hello", [], 2)


def test_a_slow_tool_call_times_out_and_is_answered() -> None:
    """timeout per tool call: the slow call gets an error message, the agent goes on."""

    @tool
    def slow(x: int) -> str:
        """Sleeps."""
        time.sleep(2)
        return "late"

    model = scripted(calls(("slow", {"x": 1}, "c1")), AIMessage(content="done"))
    mw = RunnerMiddleware(tools={"slow": {"timeout": 0.05}})
    out = create_agent(model, [slow], middleware=[mw]).invoke(_HI)
    assert _answers(out)[0][1] == "error"
    assert [(r["node"], r["error_type"]) for r in out["errors"]] == [
        ("tools.slow", "NodeTimeoutError")
    ]


def test_metrics_and_breaker_per_call() -> None:
    """Metrics name model and tool calls; an open breaker rejects the tool without calling it."""
    tools, collector = CountingTools(99), NodeMetricsCollector()
    model = scripted(
        calls(("flaky", {"x": 1}, "c1")),
        calls(("flaky", {"x": 2}, "c2")),
        calls(("flaky", {"x": 3}, "c3")),
        AIMessage(content="done"),
    )
    mw = RunnerMiddleware(
        metrics=collector,
        tools={"flaky": {"circuit_breaker": CircuitBreakerConfig(failure_threshold=2)}},
    )
    out = create_agent(model, tools.tools, middleware=[mw]).invoke(_HI)
    assert tools.n["flaky"] == 2
    assert [r["code"] for r in out["errors"]][-1] == "CIRCUIT_OPEN"
    assert set(collector.get_all_node_metrics()) == {"model", "tools.flaky"}
    assert collector.get_node_metrics("model").success_count == 4


def test_the_loop_guard_stops_an_agent_that_keeps_calling_a_failing_tool() -> None:
    """max_consecutive_failures counts terminal failures of a tool across model turns."""
    tools = CountingTools(99)
    model = scripted(*(calls(("flaky", {"x": i}, f"c{i}")) for i in range(10)))
    mw = RunnerMiddleware(max_consecutive_failures=3)
    with pytest.raises(FailureLoopError, match=r"'tools\.flaky' failed 3 times"):
        create_agent(model, tools.tools, middleware=[mw]).invoke(_HI)
    assert tools.n["flaky"] == 3


@pytest.mark.parametrize("runner_first", [True, False])
def test_composes_with_tool_retry_middleware_in_either_order(runner_first: bool) -> None:
    """Either order works and no secret reaches the state; inner ours must raise to hand over."""
    tools = CountingTools(99)
    theirs = ToolRetryMiddleware(max_retries=1, initial_delay=0, jitter=False)
    if runner_first:
        order: list[Any] = [RunnerMiddleware(retry=2), theirs]
    else:
        order = [theirs, RunnerMiddleware(retry=2, tool_options={"on_error": "raise"})]
    with no_wait():
        out = create_agent(parallel_model(), tools.tools, middleware=order).invoke(_HI)
    assert _answers(out)[1][1] == "error"
    assert SECRET not in repr(out)
    # outer ours: theirs makes 2 attempts and answers with a message (ours sees no failure);
    # inner ours: our 2 attempts for each of theirs: the attempts multiply.
    assert tools.n["flaky"] == (2 if runner_first else 4)
    assert "errors" not in out


def test_a_handler_listed_outside_recording_ours_is_refused_when_the_agent_is_built() -> None:
    """ToolRetryMiddleware outside RunnerMiddleware in record mode would never retry."""
    theirs = ToolRetryMiddleware(max_retries=1, initial_delay=0, jitter=False)
    with pytest.raises(ValueError, match=r"ToolRetryMiddleware is listed before.*on_error"):
        create_agent(
            parallel_model(), CountingTools(1).tools, middleware=[theirs, RunnerMiddleware()]
        )


@pytest.mark.parametrize("runner_first", [True, False])
def test_composes_with_model_fallback_middleware_in_either_order(runner_first: bool) -> None:
    """The fallback model answers in both orders (inner ours must raise to hand over)."""
    primary = scripted(ConnectionError("primary down"))
    backup = scripted(AIMessage(content="from backup"))
    if runner_first:
        order: list[Any] = [RunnerMiddleware(retry=2), ModelFallbackMiddleware(backup)]
    else:
        ours = RunnerMiddleware(retry=2, model={"on_error": "raise"})
        order = [ModelFallbackMiddleware(backup), ours]
    out = create_agent(primary, [], middleware=order).invoke(_HI)
    assert out["messages"][-1].content == "from backup"
    assert (primary.calls, backup.calls) == ((1, 1) if runner_first else (2, 1))


def test_options_are_checked_once_and_frozen() -> None:
    """Unknown or invalid options are refused naming them; the config cannot change."""
    with pytest.raises(TypeError, match="retyr"):
        RunnerMiddleware(retyr=3)
    with pytest.raises(ValueError, match=r"tool 'search'.*timeout"):
        RunnerMiddleware(tools={"search": {"timeout": -1}})
    with pytest.raises(TypeError, match="'cache' cannot be set per call"):
        RunnerMiddleware(cache=object())
    mw = RunnerMiddleware(retry=2)
    assert isinstance(mw.config, RunnerMiddlewareConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        mw.config.defaults = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        mw.config.model["retry"] = 5  # type: ignore[index]


def test_the_agents_module_exports_what_it_lists() -> None:
    """langgraph_runner.agents.__all__ is sorted and every name resolves."""
    assert agents.__all__ == sorted(agents.__all__)
    assert agents.__all__ == ["RunnerMiddleware", "RunnerMiddlewareConfig", "tool_error_messages"]
    for name in agents.__all__:
        assert getattr(agents, name) is not None


def test_the_package_imports_without_langchain() -> None:
    """langchain is optional: the package imports; RunnerMiddleware names the extra."""
    code = (
        "import sys; sys.modules['langchain'] = None\n"
        "import langgraph_runner, langgraph_runner.agents as a\n"
        "try:\n    a.RunnerMiddleware\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert 'pip install "langgraph-runner[agents]"' in out.stdout


@pytest.mark.parametrize("mode", MODES)
async def test_a_retried_model_attempts_tokens_are_named_by_a_discard_event(mode: str) -> None:
    """Tokens streamed by a failed attempt are followed by a custom event naming their message."""
    model = scripted(
        Broken("half an answer", ConnectionError("cut"), "bad-1"),
        AIMessage(content="full answer", id="good-1"),
    )
    agent = create_agent(model, [], middleware=[RunnerMiddleware(retry=3)])
    modes = ["messages", "custom"]
    if mode == "sync":
        chunks = list(agent.stream(_HI, stream_mode=modes))
    else:
        chunks = [c async for c in agent.astream(_HI, stream_mode=modes)]
    seen = [
        (kind, data[0].id) if kind == "messages" else (kind, data["message_ids"])
        for kind, data in chunks
        if kind == "custom" or data[0].content
    ]
    if sys.version_info < (3, 11) and mode == "async" and ("messages", "bad-1") not in seen:
        # Python 3.10: the failed async attempt's tokens never reach the stream (its
        # model call does not see the run's callbacks), so there is nothing to discard.
        assert seen and set(seen) == {("messages", "good-1")}
        return
    assert seen == [
        *[("messages", "bad-1")] * 3,
        ("custom", ["bad-1"]),
        *[("messages", "good-1")] * 2,
    ]
    assert chunks[3][1]["event"] == "langgraph_runner.discarded_message"


def test_no_discard_event_when_nothing_was_streamed() -> None:
    """A failed attempt without tokens (invoke, no messages mode) emits nothing."""
    model = scripted(ConnectionError("cut"), AIMessage(content="ok", id="good-1"))
    agent = create_agent(model, [], middleware=[RunnerMiddleware(retry=3)])
    assert list(agent.stream(_HI, stream_mode="custom")) == []


@pytest.mark.parametrize("way", ["middleware", "harden"])
def test_an_interrupt_in_a_tool_passes_through_and_resumes(way: str) -> None:
    """interrupt() inside a tool is not retried nor recorded; the resume answers it."""

    @tool
    def confirm(x: int) -> str:
        """Ask a human."""
        return f"answer {interrupt('ok?')}"

    model = scripted(calls(("confirm", {"x": 1}, "c1")), AIMessage(content="done"))
    if way == "harden":
        agent = harden(create_agent(model, [confirm], checkpointer=InMemorySaver()), retry=3)
    else:
        mw = [RunnerMiddleware(retry=3)]
        agent = create_agent(model, [confirm], checkpointer=InMemorySaver(), middleware=mw)
    cfg: Any = {"configurable": {"thread_id": "t"}}
    assert "__interrupt__" in agent.invoke(_HI, cfg)
    out = agent.invoke(Command(resume="yes"), cfg)
    assert [m.content for m in out["messages"]][-2:] == ["answer yes", "done"]
    assert out.get("errors", []) == []


@pytest.mark.parametrize("runner_first", [True, False])
def test_composes_with_model_retry_middleware_in_either_order(runner_first: bool) -> None:
    """Attempts never multiply; only with ours inner is the failure recorded and redacted."""
    model = scripted(ConnectionError(f"POST /chat token={SECRET}"))
    theirs = ModelRetryMiddleware(max_retries=1, initial_delay=0, jitter=False)
    if runner_first:
        order: list[Any] = [RunnerMiddleware(retry=2), theirs]
    else:
        with pytest.raises(ValueError, match=r"ModelRetryMiddleware is listed before"):
            create_agent(model, [], middleware=[theirs, RunnerMiddleware(retry=2)])
        order = [theirs, RunnerMiddleware(retry=2, model={"on_error": "raise"})]
    with no_wait():
        out = create_agent(model, [], middleware=order).invoke(_HI)
    # ours outer: their 2 attempts, their message (unredacted), no record of ours;
    # ours inner raising: our 2 attempts for each of theirs, then their message about
    # the exception we raised (redacted).
    assert model.calls == (2 if runner_first else 4)
    assert "errors" not in out
    assert (SECRET in str(out["messages"][-1].content)) is runner_first


def test_a_tool_with_on_error_raise_reaches_tool_node_error_handling() -> None:
    """tools={'flaky': {'on_error': 'raise'}}: after our retries ToolNode decides (here: raise)."""
    tools = CountingTools(99)
    mw = RunnerMiddleware(retry=2, tools={"flaky": {"on_error": "raise"}})
    with pytest.raises(ConnectionError):
        create_agent(parallel_model(), tools.tools, middleware=[mw]).invoke(_HI)
    assert tools.n["flaky"] == 2


def test_tool_names_the_model_invents_share_one_guard() -> None:
    """3,000 tool names the agent does not have cost one guard, not one each (memory), and
    one metrics node label."""
    import tracemalloc

    from langgraph.prebuilt.tool_node import ToolCallRequest

    collector = NodeMetricsCollector()
    mw = RunnerMiddleware(retry=1, metrics=collector)

    def execute(request: Any) -> ToolMessage:
        call = request.tool_call
        return ToolMessage(content="no such tool", tool_call_id=call["id"], name=call["name"])

    def call(name: str, i: int) -> Any:
        request = ToolCallRequest(
            tool_call={"name": name, "args": {}, "id": f"c{i}"}, tool=None, state={},
            runtime=None,  # type: ignore[arg-type]
        )  # fmt: skip
        return mw.wrap_tool_call(request, execute)

    call("warm-up", 0)
    # What the middleware keeps, not the log records pytest keeps for its report: an earlier
    # test in the same worker may have left the package's logger at INFO (6,000 records, ~10 MiB).
    was_disabled = logging.root.manager.disable
    logging.disable(logging.INFO)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        answers = [call(f"invented_{i}", i) for i in range(3000)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        logging.disable(was_disabled)
    assert [a.tool_call_id for a in answers[:2]] == ["c0", "c1"]
    assert grown < 4 * 2**20, f"{grown / 2**20:.1f} MiB for 3,000 invented tool names"
    # One metrics node label for all of them (it was one each, up to the collector's cap).
    assert set(collector.get_all_node_metrics()) == {"tools.unknown_tool"}
