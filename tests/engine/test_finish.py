"""failure.py: a terminal failure's update, and fallbacks end to end through compiled graphs."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import NodeError as LGNodeError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from langgraph_runner import (
    ABORT_SIGNAL_KEY,
    AbortController,
    ErrorCategory,
    ErrorCode,
    GraphState,
    NodeAbortedError,
    NodeError,
    create_node,
    get_node_context,
    route_on_blocked,
)
from langgraph_runner._engine.finish import recovered_update
from langgraph_runner._engine.records import failure_update
from langgraph_runner._engine.spec import check_fallback
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.testing import fail_times
from tests.conftest import MODES, as_mode, run_graph

pytestmark = pytest.mark.usefixtures("instant")


class S(GraphState, total=False):
    x: int
    log: Annotated[list[str], operator.add]


def _record(node: str = "n", **changes: Any) -> dict[str, Any]:
    """A record as ``outcome`` gets it: its state form (plain JSON data)."""
    data: dict[str, Any] = {
        "node": node,
        "code": ErrorCode.RETRY_EXHAUSTED,
        "message": f"Node '{node}' failed after 1 attempt(s): ConnectionError: down",
        "error_type": "ConnectionError",
        "category": ErrorCategory.NETWORK,
        "recoverable": True,
        "attempts": 1,
        "timestamp": "2025-01-01T00:00:00+00:00",
        "duration_ms": 1.0,
    }
    return NodeError(**{**data, **changes}).to_state()


def _logger(name: str) -> Any:
    def node(state: Any) -> dict[str, Any]:
        return {"log": [name]}

    node.__name__ = name
    return node


def _boom(state: Any) -> Any:
    raise ConnectionError("upstream down")


def graph_with(
    node: Any,
    *,
    edge_to: str | None = "after",
    conditional: Any = None,
    error_handler: Any = None,
    **compile_kw: Any,
) -> Any:
    """START -> n; nodes 'recover' and 'after' log themselves and end; n -> edge_to if given."""
    g = StateGraph(S)
    g.add_node("n", node, error_handler=error_handler)
    g.add_node("recover", _logger("recover"))
    g.add_node("after", _logger("after"))
    g.add_edge(START, "n")
    if edge_to is not None:
        g.add_edge("n", edge_to)
    if conditional is not None:
        g.add_conditional_edges("n", conditional, ["after", "recover", END])
    g.add_edge("recover", END)
    g.add_edge("after", END)
    return g.compile(**compile_kw)


# --------------------------------------------------------------------------- check_fallback


def test_check_fallback_accepts_none_names_and_callables() -> None:
    """None, a node name and a (sync or async) function are returned unchanged."""

    async def afb(state: Any) -> None:
        return None

    assert check_fallback(None) is None
    assert check_fallback("recover") == "recover"
    assert check_fallback(_boom) is _boom
    assert check_fallback(afb) is afb


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        ("", ValueError, "fallback must be a non-empty node name or a callable"),
        (123, TypeError, "fallback must be a node name .str. or a function, got int"),
        (["recover"], TypeError, "got list"),
        (dict, TypeError, "got type"),
    ],
)
def test_check_fallback_refuses_bad_values(value: Any, error: type, pattern: str) -> None:
    """An empty name is a ValueError; a non-callable or a class is a TypeError naming the type."""
    with pytest.raises(error, match=pattern):
        check_fallback(value)


# --------------------------------------------------------------------------- failure_update


def test_failure_update_without_goto_is_records_and_blocked_flag() -> None:
    """No goto: a plain update with every record as JSON data and blocked=True."""
    first, second = _record(), _record(message="second")
    update = failure_update([first, second], None)
    assert update == {
        "errors": [first, second],
        "routing_flags": {"blocked": True},
    }


def test_failure_update_with_goto_is_a_command() -> None:
    """A goto wraps the same update in Command(update=..., goto=name)."""
    record = _record()
    update = failure_update([record], "recover")
    assert isinstance(update, Command)
    assert update.goto == "recover"
    assert update.update == {"errors": [record], "routing_flags": {"blocked": True}}


# --------------------------------------------------------------------------- recovered_update


def test_recovered_update_of_none_is_the_record_alone() -> None:
    """A fallback returning None gives just the record, and no blocked flag."""
    record = _record(recovered=True)
    assert recovered_update(None, record) == {"errors": [record]}


def test_recovered_update_merges_the_record_first() -> None:
    """The record goes before the fallback's own errors; other keys are kept; input untouched."""
    record = _record(recovered=True)
    own = {"node": "n", "note": "fallback's own"}
    result = {"x": 1, "errors": [own]}
    merged = recovered_update(result, record)
    assert merged == {"x": 1, "errors": [record, own]}
    assert result == {"x": 1, "errors": [own]}
    assert "routing_flags" not in merged


def test_recovered_update_accepts_a_tuple_of_errors() -> None:
    """A fallback's errors given as a tuple are merged into a list."""
    record = _record()
    merged = recovered_update({"errors": ({"a": 1},)}, record)
    assert merged["errors"] == [record, {"a": 1}]


def test_recovered_update_keeps_a_commands_goto() -> None:
    """A Command's dict update gets the record; its goto (and other fields) stay."""
    record = _record()
    cmd = Command(update={"x": 2}, goto="after")
    merged = recovered_update(cmd, record)
    assert isinstance(merged, Command)
    assert merged.goto == "after"
    assert merged.update == {"x": 2, "errors": [record]}
    assert cmd.update == {"x": 2}


def test_recovered_update_of_a_command_without_update() -> None:
    """A bare Command(goto=...) carries the record as its update."""
    record = _record()
    merged = recovered_update(Command(goto="after"), record)
    assert merged.goto == "after"
    assert merged.update == {"errors": [record]}


def test_recovered_update_accepts_key_value_pairs() -> None:
    """A list of (key, value) pairs, as Command accepts, becomes a dict with the record."""
    record = _record()
    assert recovered_update([("x", 3)], record) == {"x": 3, "errors": [record]}
    merged = recovered_update(Command(update=[("x", 4)], goto="after"), record)
    assert merged.update == {"x": 4, "errors": [record]}


@pytest.mark.parametrize("result", [42, 1.5, "text", object(), [1, 2]])
def test_recovered_update_refuses_what_cannot_carry_the_record(result: Any) -> None:
    """A result that is not a dict, None, pairs or a Command is a TypeError naming its type."""
    pattern = rf"a fallback must return a dict, None or a Command .* got {type(result).__name__}"
    with pytest.raises(TypeError, match=pattern):
        recovered_update(result, _record())


@pytest.mark.parametrize("own", ["oops", {"a": 1}, 3])
def test_recovered_update_refuses_non_list_errors(own: Any) -> None:
    """A fallback's 'errors' that is not a list is a TypeError naming its type."""
    with pytest.raises(
        TypeError, match=rf"'errors' update must be a list, got {type(own).__name__}"
    ):
        recovered_update({"errors": own}, _record())


# --------------------------------------------------------------------------- fallback="node"


@pytest.mark.parametrize("mode", MODES)
async def test_fallback_name_routes_with_record_and_blocked_flag(mode: str) -> None:
    """fallback='recover' routes there; state carries the record and the blocked flag."""
    seen: list[Any] = []

    def recover(state: Any) -> dict[str, Any]:
        seen.append((list(state["errors"]), dict(state["routing_flags"])))
        return {"log": ["recover"]}

    g = StateGraph(S)
    g.add_node("n", create_node(as_mode(mode, _boom), retry=2, fallback="recover"))
    g.add_node("recover", recover)
    g.add_edge(START, "n")
    g.add_edge("recover", END)
    out = await run_graph(g.compile(), mode, {})
    assert out["log"] == ["recover"]
    assert out["routing_flags"] == {"blocked": True}
    [record] = out["errors"]
    assert (record["node"], record["code"], record["attempts"]) == ("n", "RETRY_EXHAUSTED", 2)
    assert record["recovered"] is False
    assert seen == [([record], {"blocked": True})]


# --------------------------------------------------------------------------- fallback=callable


def _fallback(kind: str, body: Any) -> Any:
    if kind == "sync":
        return body

    async def afallback(state: Any) -> Any:
        await asyncio.sleep(0)
        return body(state)

    return afallback


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("mode", MODES)
async def test_callable_fallback_update_is_in_state_and_record_recovered(
    mode: str, kind: str
) -> None:
    """A callable fallback's update lands in state with a recovered record and no blocked flag."""
    fallback = _fallback(kind, lambda state: {"x": 42, "log": ["fallback"]})
    node = create_node(as_mode(mode, _boom), fallback=fallback)
    out = await run_graph(graph_with(node), mode, {})
    assert out["x"] == 42
    assert out["log"] == ["fallback", "after"]  # the static edge still fires
    assert "blocked" not in out["routing_flags"]
    [record] = out["errors"]
    assert record["recovered"] is True
    assert (record["node"], record["error_type"]) == ("n", "ConnectionError")
    assert NodeError.model_validate(record).recovered


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("mode", MODES)
async def test_fallback_sees_primary_error_and_node_context(mode: str, kind: str) -> None:
    """get_node_context().primary_error inside the fallback is the last attempt's exception."""
    failures = [ConnectionError("first"), ConnectionError("second")]
    raised: list[BaseException] = []

    def fn(state: Any) -> Any:
        exc = failures[len(raised)]
        raised.append(exc)
        raise exc

    seen: list[Any] = []

    def body(state: Any) -> Any:
        seen.append(get_node_context())
        return None

    node = create_node(as_mode(mode, fn), retry=2, fallback=_fallback(kind, body))
    out = await run_graph(graph_with(node), mode, {})
    [ctx] = seen
    assert ctx.primary_error is raised[-1] is failures[1]
    assert (ctx.node, ctx.attempt) == ("n", 2)
    assert out["errors"][0]["recovered"] is True
    assert get_node_context() is None


@pytest.mark.parametrize("mode", MODES)
async def test_fallback_gets_config_and_runtime_injected(mode: str) -> None:
    """A fallback declaring config and runtime receives the node's own, like a node does."""
    got: list[Any] = []

    def sync_fb(state: Any, config: RunnableConfig, *, runtime: Runtime[Any]) -> Any:
        got.append((config["metadata"]["langgraph_node"], config["configurable"]["user"], runtime))
        return {"x": 1}

    async def async_fb(state: Any, config: RunnableConfig, *, runtime: Runtime[Any]) -> Any:
        return sync_fb(state, config, runtime=runtime)

    for fb in (sync_fb, async_fb):
        node = create_node(as_mode(mode, _boom), fallback=fb)
        out = await run_graph(graph_with(node), mode, {}, {"configurable": {"user": "ada"}})
        assert out["x"] == 1
    assert [(n, u) for n, u, _ in got] == [("n", "ada"), ("n", "ada")]
    assert all(isinstance(rt, Runtime) for _, _, rt in got)


@pytest.mark.parametrize("mode", MODES)
async def test_fallback_returning_a_command_keeps_its_goto(mode: str) -> None:
    """A fallback's Command(goto=...) routes (no static edge) and carries the recovered record."""
    node = create_node(
        as_mode(mode, _boom), fallback=lambda s: Command(update={"x": 5}, goto="recover")
    )
    out = await run_graph(graph_with(node, edge_to=None), mode, {})
    assert out["log"] == ["recover"]
    assert out["x"] == 5
    assert out["errors"][0]["recovered"] is True


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("mode", MODES)
async def test_failing_fallback_gives_two_records_and_blocked(mode: str, kind: str) -> None:
    """A fallback that raises: the node's record, then one saying the fallback failed; blocked."""

    def body(state: Any) -> Any:
        raise KeyError("cache miss")

    node = create_node(as_mode(mode, _boom), fallback=_fallback(kind, body))
    out = await run_graph(graph_with(node), mode, {})
    assert out["routing_flags"] == {"blocked": True}
    first, second = out["errors"]
    assert (first["error_type"], first["recovered"]) == ("ConnectionError", False)
    assert (second["node"], second["error_type"], second["recovered"]) == ("n", "KeyError", False)
    assert second["message"].startswith("Fallback of node 'n' failed: ")
    assert "cache miss" in second["message"]


@pytest.mark.parametrize("mode", MODES)
async def test_fallback_returning_a_bad_type_counts_as_failed(mode: str) -> None:
    """A fallback returning an int cannot carry the record: two records, blocked, and why."""
    node = create_node(as_mode(mode, _boom), fallback=lambda s: 42)
    out = await run_graph(graph_with(node), mode, {})
    assert out["routing_flags"] == {"blocked": True}
    first, second = out["errors"]
    assert first["recovered"] is False  # nothing recovered the node
    assert second["message"].startswith("Fallback of node 'n' failed: ")
    assert "a fallback must return a dict, None or a Command" in second["message"]
    assert second["error_type"] == "TypeError"


# --------------------------------------------------------------------------- on_error="raise"


def _handler(got: list[Any]) -> Any:
    def handler(state: Any, error: LGNodeError) -> Command[Any]:
        got.append(error.error)
        return Command(update={"log": ["handled"]}, goto=END)

    # LangGraph injects `error` by the annotation object (this module's text is "LGNodeError").
    handler.__annotations__["error"] = LGNodeError
    return handler


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_successful_fallback_returns_its_update(mode: str) -> None:
    """on_error='raise' with a fallback that succeeds: no raise, its update and the record."""
    got: list[Any] = []
    node = create_node(as_mode(mode, _boom), on_error="raise", fallback=lambda s: {"x": 7})
    out = await run_graph(graph_with(node, error_handler=_handler(got)), mode, {})
    assert got == []
    assert out["x"] == 7
    assert out["log"] == ["after"]
    assert out["errors"][0]["recovered"] is True


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_failing_fallback_raises_the_original(mode: str) -> None:
    """on_error='raise' with a failing fallback: the ORIGINAL exception leaves, noted."""
    original = ConnectionError("upstream down")

    def fn(state: Any) -> Any:
        raise original

    def fb(state: Any) -> Any:
        raise KeyError("fallback broke")

    node = create_node(as_mode(mode, fn), on_error="raise", fallback=fb)
    with pytest.raises(ConnectionError) as info:
        await run_graph(graph_with(node), mode, {})
    assert info.value is original
    assert any("the fallback failed too" in note for note in info.value.__notes__)

    got: list[Any] = []
    node = create_node(as_mode(mode, fn), on_error="raise", fallback=fb)
    out = await run_graph(graph_with(node, error_handler=_handler(got)), mode, {})
    assert got == [original]
    assert out["log"] == ["handled"]


@pytest.mark.parametrize("mode", MODES)
async def test_raise_mode_with_fallback_name_still_routes(mode: str) -> None:
    """on_error='raise' with fallback='recover' routes there with the record instead of raising."""
    node = create_node(as_mode(mode, _boom), on_error="raise", fallback="recover")
    out = await run_graph(graph_with(node, edge_to=None), mode, {})
    assert out["log"] == ["recover"]
    assert out["routing_flags"] == {"blocked": True}


# ------------------------------------------------------------- never on abort or interrupt


@pytest.mark.parametrize("fallback_kind", ["name", "callable"])
@pytest.mark.parametrize("mode", MODES)
async def test_fallback_is_not_run_on_abort(mode: str, fallback_kind: str) -> None:
    """The run's abort raises NodeAbortedError out of the run; no fallback runs, no record."""
    controller = AbortController()
    called: list[str] = []

    def fn(state: Any) -> Any:
        controller.abort("user cancelled")
        ctx = get_node_context()
        assert ctx is not None
        ctx.abort_signal.throw_if_aborted()
        return {"x": 1}

    def fb(state: Any) -> Any:
        called.append("fallback")
        return {"x": 2}

    fallback: Any = "recover" if fallback_kind == "name" else fb
    node = create_node(as_mode(mode, fn), retry=3, fallback=fallback)
    config = {"configurable": {ABORT_SIGNAL_KEY: controller.signal}}
    with pytest.raises(NodeAbortedError, match="user cancelled"):
        await run_graph(graph_with(node, edge_to=None), mode, {}, config)
    assert called == []


@pytest.mark.parametrize(
    "mode",
    [
        "sync",
        "sync-ainvoke",
        "async",
    ],
)
async def test_fallback_is_not_run_when_an_aborted_attempt_fails_otherwise(mode: str) -> None:
    """The run aborted during the (only) attempt, which then fails differently: still an abort."""
    controller = AbortController()
    called: list[str] = []

    def fn(state: Any) -> Any:
        controller.abort("user cancelled")
        raise ConnectionError("connection closed because of the abort")

    def fb(state: Any) -> Any:
        called.append("fallback")
        return {"x": 2}

    node = create_node(as_mode(mode, fn), fallback=fb)
    config = {"configurable": {ABORT_SIGNAL_KEY: controller.signal}}
    with pytest.raises(NodeAbortedError, match="user cancelled"):
        await run_graph(graph_with(node, edge_to=None), mode, {}, config)
    assert called == []


@pytest.mark.parametrize("mode", MODES)
async def test_fallback_is_not_run_on_interrupt(mode: str) -> None:
    """interrupt() passes through untouched: no fallback, no record; resume then succeeds."""
    called: list[str] = []

    def ask(state: Any) -> Any:
        return {"x": interrupt("how many?")}

    def fb(state: Any) -> Any:
        called.append("fallback")
        return {"x": -1}

    graph = graph_with(
        create_node(as_mode(mode, ask), retry=3, fallback=fb), checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": f"fallback-interrupt-{mode}"}}
    out = await run_graph(graph, mode, {}, config)
    assert [i.value for i in out["__interrupt__"]] == ["how many?"]
    assert called == [] and not out["errors"]
    out = await run_graph(graph, mode, Command(resume=3), config)
    assert out["x"] == 3
    assert out["log"] == ["after"]
    assert called == [] and not out["errors"]


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("mode", MODES)
async def test_metrics_count_fallbacks(mode: str) -> None:
    """A NodeMetricsCollector counts recovered and routed fallbacks, not failed ones."""
    metrics = NodeMetricsCollector()
    config = {"configurable": {"metrics_collector": metrics}}
    for fallback in (lambda s: {"x": 1}, "recover", lambda s: 1 / 0):
        node = create_node(as_mode(mode, _boom), fallback=fallback)
        edge_to = None if fallback == "recover" else "after"
        await run_graph(graph_with(node, edge_to=edge_to), mode, {}, config)
    m = metrics.get_node_metrics("n")
    assert m.fallbacks == 2
    assert m.failure_count == 3
    assert m.success_count == 0


async def test_node_own_metrics_collector_counts_fallbacks() -> None:
    """create_node(metrics=...) counts the fallback when the run's config names no collector."""
    metrics = NodeMetricsCollector()
    node = create_node(_boom, fallback=lambda s: None, metrics=metrics)
    graph_with(node).invoke({})
    assert metrics.get_node_metrics("n").fallbacks == 1


# ------------------------------------------------------------- the goto-plus-static-edge rule


@pytest.mark.parametrize("mode", MODES)
async def test_fallback_name_plus_static_edge_runs_both(mode: str) -> None:
    """fallback='recover' AND a static edge n -> after: LangGraph adds the goto, both run."""
    node = create_node(as_mode(mode, _boom), fallback="recover")
    out = await run_graph(graph_with(node, edge_to="after"), mode, {})
    assert sorted(out["log"]) == ["after", "recover"]


@pytest.mark.parametrize("mode", MODES)
async def test_edgeless_pattern_with_command_runs_only_the_fallback(mode: str) -> None:
    """No static edge out of n; success returns Command(goto='after'): failure runs only recover."""

    def fn(state: Any) -> Command[Any]:
        if state.get("x") == 0:
            raise ConnectionError("down")
        return Command(update={"log": ["n"]}, goto="after")

    node = create_node(as_mode(mode, fn), fallback="recover")
    graph = graph_with(node, edge_to=None)
    assert (await run_graph(graph, mode, {"x": 0}))["log"] == ["recover"]
    assert (await run_graph(graph, mode, {"x": 1}))["log"] == ["n", "after"]


@pytest.mark.parametrize("blocked_to", ["recover", END])
@pytest.mark.parametrize("mode", MODES)
async def test_edgeless_pattern_with_route_on_blocked(mode: str, blocked_to: str) -> None:
    """route_on_blocked conditional edges instead of a static edge: failure runs only recover."""
    flaky = fail_times(1, ConnectionError, result={"log": ["n"]}, name="n")
    node = create_node(as_mode(mode, flaky), fallback="recover")
    graph = graph_with(node, edge_to=None, conditional=route_on_blocked("after", blocked_to))
    failed = await run_graph(graph, mode, {})
    assert failed["log"] == ["recover"]
    assert failed["routing_flags"] == {"blocked": True}
    assert (await run_graph(graph, mode, {}))["log"] == ["n", "after"]


def test_misspelt_fallback_name_only_ends_the_run(caplog: pytest.LogCaptureFixture) -> None:
    """A fallback name the graph lacks is not caught at compile: LangGraph warns, the run ends."""
    node = create_node(_boom, fallback="recovr")
    out = graph_with(node, edge_to=None).invoke({})
    assert not out.get("log")  # no node ran after n
    assert out["routing_flags"] == {"blocked": True}
    assert "branch:to:recovr" in caplog.text


# --------------------------------------------------------------------------- callbacks


class _Runs(BaseCallbackHandler):
    """Keeps chain runs: name, parent, outcome, the error's text."""

    def __init__(self) -> None:
        self.names: dict[Any, str] = {}
        self.parents: dict[Any, Any] = {}
        self.errors: dict[str, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.names[kw["run_id"]] = str(kw.get("name"))
        self.parents[kw["run_id"]] = kw.get("parent_run_id")

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        self.errors[self.names[kw["run_id"]]] = f"{type(error).__name__}: {error}"

    def parent_name(self, name: str) -> str:
        run = next(r for r, n in self.names.items() if n == name)
        return self.names[self.parents[run]]


def _secret_failure(state: S) -> dict[str, Any]:
    raise ConnectionError("down for password=hunter2secret")


@pytest.mark.parametrize("mode", MODES)
async def test_recorded_failure_is_an_errored_child_run_for_callbacks(mode: str) -> None:
    """A handler sees '<node>:failed' errored under the node's run (redacted); the graph goes on."""
    g = StateGraph(S)
    g.add_node("n", create_node(as_mode(mode, _secret_failure), retry=2))
    g.add_node("after", _logger("after"))
    g.add_edge(START, "n")
    g.add_edge("n", "after")
    g.add_edge("after", END)
    runs = _Runs()
    out = await run_graph(g.compile(), mode, {}, {"callbacks": [runs]})
    assert out["log"] == ["after"]
    assert runs.errors.keys() == {"n:failed"}
    assert runs.errors["n:failed"].startswith("ConnectionError: down for password=")
    assert "hunter2secret" not in runs.errors["n:failed"]
    assert runs.parent_name("n:failed") == "n"


async def test_raise_mode_shows_no_extra_run() -> None:
    """In raise mode LangGraph's own node run errors; no extra child run is added."""
    g = StateGraph(S)
    g.add_node("n", create_node(_secret_failure, on_error="raise"))
    g.add_edge(START, "n")
    runs = _Runs()
    with pytest.raises(ConnectionError):
        await g.compile().ainvoke({}, {"callbacks": [runs]})
    assert "n:failed" not in runs.names.values()
    assert "n" in runs.errors


def test_a_raising_callback_handler_does_not_break_the_record() -> None:
    """A handler with raise_error=True that fails on errors cannot turn a record into a crash."""

    class Strict(BaseCallbackHandler):
        raise_error = True

        def on_chain_error(self, error: BaseException, **kw: Any) -> None:
            raise RuntimeError("handler broke")

    g = StateGraph(S)
    g.add_node("n", create_node(_secret_failure))
    g.add_edge(START, "n")
    out = g.compile().invoke({}, {"callbacks": [Strict()]})
    assert [r["node"] for r in out["errors"]] == ["n"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_state_without_record_channels_names_the_nodes_own_error(mode: str) -> None:
    """The StateSchemaError's message names the node's own error, redacted, first: the
    checkpoint keeps only the text of what a task raised."""
    from typing import TypedDict

    from langgraph_runner import StateSchemaError

    class Plain(TypedDict, total=False):
        x: int

    def parse(state: Plain) -> Plain:
        raise ValueError("bad port in postgresql://app:hunter2@db/x")

    g = StateGraph(Plain)
    g.add_node("parse", create_node(as_mode(mode, parse)))
    g.add_edge(START, "parse")
    with pytest.raises(StateSchemaError) as info:
        await run_graph(g.compile(), mode, {"x": 1})
    assert info.value.cause is not None and info.value.cause.startswith("ValueError: bad port")
    assert str(info.value).startswith(f"Node 'parse' failed ({info.value.cause})")
    assert "hunter2" not in str(info.value)
