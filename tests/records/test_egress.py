"""The egress point: secrets planted in every shape, read back from every sink (issue 33)."""

from __future__ import annotations

import json
import traceback
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pydantic
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, create_react_agent, tools_condition
from langgraph.types import Send, interrupt
from prometheus_client import CollectorRegistry, generate_latest

from langgraph_runner import GraphState, StateSchemaError, create_node, harden
from langgraph_runner._node.calls import error_text
from langgraph_runner._records.egress import (
    MAX_DEPTH,
    egress,
    egress_content,
    egress_error,
    egress_exception,
    egress_text,
)
from langgraph_runner._records.items import item_summary
from langgraph_runner._records.logs import get_event_logger
from langgraph_runner._reports.report import run_report
from langgraph_runner.agents import RunnerMiddleware, tool_error_messages
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics.prometheus import PrometheusExporter
from tests.agent_kit import AgentState, calls, scripted

pytestmark = pytest.mark.usefixtures("instant")

# One secret per shape the fourth sweep found leaking to the model or to records.
SHAPES = {
    "redis-auth": ("Command # 1 (AUTH default {s}) of pipeline caused error", "Rd1sPw9x7Qa"),
    "lower-bearer": ("401 for bearer {s}", "lowercasebearertokenvalue"),
    "sigv4": ("SignedHeaders=host;x-amz-date, Signature={s}", "9b2f1c0e8d7a6b5c4d3e2f1a0b9c8d7e"),
    "db-url": ("could not connect to postgresql://app:{s}@db:5432/prod", "Pg5ecretPw1"),
    "api-key-query": ("GET https://api.example.com/v1?api_key={s}&x=1 -> 401", "Ap1KeyQu3ry"),
    "webhook": ("bad signature for whsec_{s}", "MfKQ9r8GKYqrTwjUPD8ILPZIo2La"),
    "pass-key": ("login {{'user': 'bob', 'pass': '{s}'}} refused", "Pa55W0rdV4l"),
    "entropy": ("unexpected value {s} in config", "aZ3kP9xQ2mL7vN4bR8tY1wE6uI0oS5dF9gH2jK4l"),
}
TEXTS = {name: text.format(s=secret) for name, (text, secret) in SHAPES.items()}
SECRETS = [secret for _, secret in SHAPES.values()]


def _leaks(shown: object) -> list[str]:
    text = shown if isinstance(shown, str) else repr(shown)
    return [s for s in SECRETS if s in text]


# ---------------------------------------------------------------- egress(): every type


@pytest.mark.parametrize("name", list(TEXTS))
def test_text_in_every_container_shape_is_redacted(name: str) -> None:
    """str, bytes, content blocks, dicts, header pairs, sets and nesting: no secret survives."""
    text = TEXTS[name]
    shapes: list[Any] = [
        text,
        text.encode(),
        [text],
        [{"type": "text", "text": text}, text],
        {"detail": {"inner": [text]}},
        (text, 1),
        {text},
        OrderedDict(a=text),
    ]
    for value in shapes:
        out = egress(value)
        assert _leaks(out) == [], (name, value)
        assert type(out) is type(value)


_CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "secret_corpus.json").read_text()
)
_CORPUS_SECRETS = [s for entry in _CORPUS for s in entry["secrets"]]
_LEAVES = st.one_of(
    st.sampled_from([entry["message"] for entry in _CORPUS]),
    st.sampled_from([entry["message"] for entry in _CORPUS]).map(str.encode),
    st.text(max_size=20),
    st.integers(),
    st.none(),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.tuples(kids, kids),
        st.dictionaries(
            st.sampled_from(["a", "type", "text", "password", "pass", "AccessKey", "x-api-key"]),
            kids,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@settings(
    derandomize=True, max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(value=_VALUES)
def test_egress_of_any_nesting_never_raises_and_lets_no_corpus_secret_out(value: Any) -> None:
    """For any nesting of corpus messages: no exception, no secret, and a fixed point."""
    out = egress(value, max_length=2000)
    shown = repr(out)
    assert [s for s in _CORPUS_SECRETS if s in shown] == []
    assert egress(out, max_length=2000) == out


def test_values_under_secret_keys_go_whatever_they_hold() -> None:
    """A value under pass, AccessKey, password ... is replaced whole, not only recognised text."""
    out = egress({"pass": "plain", "AccessKey": ["a", "b"], "user": "bob", "token": None})
    assert out == {"pass": "[REDACTED]", "AccessKey": "[REDACTED]", "user": "bob", "token": None}
    assert egress(("X-Api-Key", "v4lue")) == ("X-Api-Key", "[REDACTED]")


def test_clean_values_come_back_as_the_same_object() -> None:
    """Nothing to redact: the very object is returned (callers compare by identity)."""
    value = {"a": [1, "two", {"b": 3.0}], "c": None}
    assert egress(value) is value
    assert egress_content("fine") == "fine"


def test_messages_are_copied_with_their_content_redacted() -> None:
    """A message (object with content and model_copy) keeps its type, id and fields."""
    msg = AIMessage(content=[{"type": "text", "text": TEXTS["db-url"]}], id="m1")
    out = egress(msg)
    assert isinstance(out, AIMessage) and out.id == "m1"
    assert _leaks(out) == []
    assert _leaks(msg) != []  # the caller's message is not changed


def test_exceptions_become_text_and_are_left_alone() -> None:
    """egress(exc) is "<Type>: <message>" redacted; the live exception is untouched."""
    exc = ConnectionError(TEXTS["redis-auth"])
    assert egress(exc).startswith("ConnectionError: Command # 1 (AUTH [REDACTED])")
    assert exc.args == (TEXTS["redis-auth"],)
    assert egress_error(None) == "unknown error"

    class Hostile(Exception):
        def __str__(self) -> str:
            raise KeyboardInterrupt

    assert egress_error(Hostile()) == "Hostile: <unprintable Hostile>"


def test_unknown_objects_are_kept_unless_their_repr_shows_a_secret() -> None:
    """An object is let through when its repr is clean, else its redacted repr replaces it."""

    class Holder:
        def __init__(self, text: str) -> None:
            self.text = text

        def __repr__(self) -> str:
            return f"Holder({self.text!r})"

    clean = Holder("nothing here")
    assert egress(clean) is clean
    assert _leaks(egress(Holder(TEXTS["sigv4"]))) == []


def test_the_walk_is_bounded() -> None:
    """Deeper than MAX_DEPTH, or a hostile container: [REDACTED], never an error."""
    deep: Any = TEXTS["db-url"]
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    assert _leaks(egress(deep)) == []
    assert "[REDACTED]" in repr(egress(deep))

    class BadLen(list):  # type: ignore[type-arg]
        def __len__(self) -> int:
            raise RuntimeError("no")

    assert egress(BadLen([TEXTS["db-url"]])) == "[REDACTED]"


def test_egress_text_caps_and_rejects_a_bad_cap() -> None:
    """egress_text caps like sanitize_message, which refuses a cap below 1."""
    assert len(egress_text("x" * 5000, max_length=100)) < 140
    with pytest.raises(ValueError, match="max_length must be at least 1"):
        egress_text("x", max_length=0)


# ---------------------------------------------------------------- the model: ToolMessage, AIMessage


class _ListContentErrors(AgentMiddleware):
    """An inner middleware answering a failed tool call with list content (as some do)."""

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        call_id = request.tool_call["id"]
        blocks: list[Any] = [{"type": "text", "text": t} for t in TEXTS.values()]
        return ToolMessage(content=[*blocks, TEXTS["db-url"]], tool_call_id=call_id, status="error")


def _tool_agent(*middleware: Any) -> Any:
    @tool
    def lookup(x: int) -> str:
        """Fails with every shape in its message."""
        raise ConnectionError(" | ".join(TEXTS.values()))

    model = scripted(calls(("lookup", {"x": 1}, "c1")), AIMessage(content="done"))
    return create_agent(model, [lookup], middleware=list(middleware))


def test_error_tool_message_with_list_content_is_redacted() -> None:
    """An inner middleware's error ToolMessage with content blocks reaches the model redacted."""
    out = _tool_agent(RunnerMiddleware(retry=1), _ListContentErrors()).invoke(
        {"messages": [HumanMessage("hi")]}
    )
    answer = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert isinstance(answer.content, list) and len(answer.content) == len(TEXTS) + 1
    assert _leaks(out) == []


def test_a_failed_tool_call_shows_the_model_no_secret() -> None:
    """RunnerMiddleware's own error ToolMessage and its record: every shape redacted."""
    out = _tool_agent(RunnerMiddleware(retry=2)).invoke({"messages": [HumanMessage("hi")]})
    answer = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert answer.status == "error" and "ConnectionError" in str(answer.content)
    assert _leaks(out) == []


def test_a_failed_model_call_ends_the_agent_with_a_redacted_message() -> None:
    """The AIMessage that ends the agent after a model failure carries no secret."""
    model = scripted(ConnectionError(" | ".join(TEXTS.values())))
    out = create_agent(model, [], middleware=[RunnerMiddleware(retry=1)]).invoke(
        {"messages": [HumanMessage("hi")]}
    )
    assert out["messages"][-1].content.startswith("Error: ")
    assert _leaks(out) == []


@pytest.mark.parametrize("fails", ["tool", "model"])
@pytest.mark.parametrize("kind", ["create_agent", "create_react_agent"])
def test_a_hardened_agent_shows_the_model_no_secret(kind: str, fails: str) -> None:
    """harden() of create_agent and create_react_agent: tool and model failures, every shape."""
    everything = " | ".join(TEXTS.values())

    @tool
    def lookup(x: int) -> str:
        """Fails with every shape in its message."""
        raise ConnectionError(everything)

    if fails == "model":  # every attempt fails
        model = scripted(ConnectionError(everything))
    else:
        model = scripted(calls(("lookup", {"x": 1}, "c1")), AIMessage(content="done"))
    make = create_agent if kind == "create_agent" else create_react_agent
    out = harden(make(model, [lookup]), retry=2).invoke({"messages": [HumanMessage("hi")]})
    shown = [m for m in out["messages"] if isinstance(m, (ToolMessage, AIMessage))]
    assert any("ConnectionError" in str(m.content) for m in shown)
    assert _leaks(out) == []


def test_tool_error_messages_fallback_shows_the_model_no_secret() -> None:
    """create_node(ToolNode, fallback=tool_error_messages): the error ToolMessage, every shape."""
    everything = " | ".join(TEXTS.values())

    @tool
    def lookup(x: int) -> str:
        """Fails with every shape in its message."""
        raise ConnectionError(everything)

    model = scripted(calls(("lookup", {"x": 1}, "c1")), AIMessage(content="done"))
    builder = StateGraph(AgentState)
    builder.add_node("agent", lambda s: {"messages": [model.invoke(s["messages"])]})
    tools = create_node(ToolNode([lookup]), retry=2, fallback=tool_error_messages)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    inputs: Any = {"messages": [HumanMessage("hi")]}
    out = builder.compile().invoke(inputs)
    answer = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert answer.status == "error" and str(answer.content).startswith("Error: ConnectionError:")
    assert _leaks(out) == []


@pytest.mark.parametrize("name", list(TEXTS))
def test_harden_tool_error_text(name: str) -> None:
    """The text harden's tool wrappers send to the model, for each shape."""
    shown = error_text(ConnectionError(TEXTS[name]))
    assert shown.startswith("Error: ConnectionError: ")
    assert _leaks(shown) == []


# ---------------------------------------------------------------- logs, records, raise mode


class _Fields:
    """A structlog-style logger keeping every event's fields."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _keep(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    debug = info = warning = error = _keep


def test_log_event_fields_of_any_type_leave_redacted() -> None:
    """A custom logger receives each field through the egress point: text, dicts, exceptions."""
    sink = _Fields()
    log = get_event_logger(sink)
    log.emit(
        40,
        "node.failed",
        error=TEXTS["lower-bearer"],
        detail={"pass": "x", "why": [TEXTS["sigv4"]]},
        exc=ConnectionError(TEXTS["redis-auth"]),
        attempt=2,
    )
    ((event, fields),) = sink.events
    assert event == "node.failed" and fields["attempt"] == 2
    assert _leaks(fields) == []
    assert fields["detail"]["pass"] == "[REDACTED]"


class _Items(GraphState, total=False):
    items: list[dict[str, str]]


def test_send_item_keeps_no_value_under_a_secret_key() -> None:
    """A failed Send task's record: values under pass and AccessKey are gone (issue 33)."""

    def worker(item: dict[str, str]) -> dict[str, Any]:
        raise ConnectionError("down")

    builder = StateGraph(_Items)
    node: Any = create_node(worker)
    builder.add_node("worker", node)
    builder.add_conditional_edges(START, lambda s: [Send("worker", i) for i in s["items"]])
    builder.add_edge("worker", END)
    item = {"user": "bob", "pass": "Pa55Send1tem", "AccessKey": "AcC3ssSend1tem"}
    out = builder.compile().invoke({"items": [item]})
    (record,) = out["errors"]
    assert record["send_node"] == "worker" and '"user": "bob"' in record["send_item"]
    assert "Pa55Send1tem" not in record["send_item"]
    assert "AcC3ssSend1tem" not in record["send_item"]
    assert item_summary(item, key="pass") == '"[REDACTED]"'


class _Plain(TypedDict, total=False):
    x: int


def _one_node(fn: Any, state: Any = _Plain, **options: Any) -> Any:
    builder = StateGraph(state)
    builder.add_node("n", create_node(fn, **options))
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    return builder.compile()


def test_raise_mode_redacts_the_request_url_of_an_http_error() -> None:
    """httpx's HTTPStatusError: str, traceback and exc.request.url lose api_key= (raise mode)."""
    secret = "Qu3ryAp1K3yV4lue"

    def call_api(state: _Plain) -> _Plain:
        request = httpx.Request("GET", f"https://api.example.com/v1?api_key={secret}&x=1")
        httpx.Response(401, request=request).raise_for_status()
        return state

    with pytest.raises(httpx.HTTPStatusError) as info:
        _one_node(call_api, on_error="raise").invoke({"x": 1})
    exc = info.value
    assert secret not in str(exc.request.url) and "api_key=[REDACTED]" in str(exc.request.url)
    assert isinstance(exc.request.url, httpx.URL)
    assert secret not in "".join(traceback.format_exception(exc)) + repr(exc.args)
    assert secret not in str(egress_exception(exc))


def test_raise_mode_redacts_the_urls_of_a_requests_error() -> None:
    """requests' HTTPError: its request's and response's url lose api_key= (raise mode)."""
    secret = "Qu3ryAp1K3yReqs"

    def call_api(state: _Plain) -> _Plain:
        prepared = requests.Request("GET", f"https://api.example.com/v1?api_key={secret}").prepare()
        response = requests.Response()
        response.status_code, response.reason = 401, "Unauthorized"
        response.url = str(prepared.url)
        response.request = prepared
        response.raise_for_status()
        return state

    with pytest.raises(requests.HTTPError) as info:
        _one_node(call_api, on_error="raise").invoke({"x": 1})
    exc = info.value
    assert exc.request is not None and exc.response is not None
    assert secret not in str(exc.request.url) + str(exc.response.url) + str(exc)
    assert "api_key=[REDACTED]" in str(exc.request.url)


def test_state_schema_error_keeps_no_raw_validation_input() -> None:
    """StateSchemaError's cause is the redacted ValidationError and it keeps no __context__."""
    secret = "Val1dat10nInputS3cret"

    class Model(pydantic.BaseModel):
        port: int

    def parse(state: _Plain) -> _Plain:
        Model.model_validate({"port": f"postgresql://app:{secret}@db/x"})
        return state

    with pytest.raises(StateSchemaError) as info:
        _one_node(parse).invoke({"x": 1})
    err = info.value
    assert err.__context__ is None
    assert isinstance(err.__cause__, pydantic.ValidationError)
    chain = "".join(traceback.format_exception(err)) + repr(err.__cause__.errors())
    assert secret not in chain


# ---------------------------------------------------------------- report and metrics


def test_report_interrupt_values_leave_redacted() -> None:
    """A report shows an interrupt's value through the egress point."""

    def ask(state: _Plain) -> _Plain:
        interrupt({"question": "go on?", "password": "Intr3ruptPw", "why": TEXTS["sigv4"]})
        return state

    builder = StateGraph(_Plain)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": f"egress-{uuid.uuid4().hex}"}}
    graph.invoke({"x": 1}, config)
    report = run_report(graph, config)
    shown = report.model_dump_json() + report.to_table()
    assert "go on?" in shown
    assert "Intr3ruptPw" not in shown and _leaks(shown) == []


def test_metric_label_values_leave_redacted() -> None:
    """A node named with a secret in it is scraped with the secret redacted."""
    collector = NodeMetricsCollector(graph=f"egress {TEXTS['db-url']}")
    registry = CollectorRegistry()
    PrometheusExporter(collector, registry=registry)
    node_name = f"call {TEXTS['lower-bearer']}"

    def fails(state: _Plain) -> _Plain:
        raise ConnectionError("down")

    builder = StateGraph(GraphState)
    builder.add_node(node_name, create_node(fails, metrics=collector))
    builder.add_edge(START, node_name)
    builder.add_edge(node_name, END)
    builder.compile().invoke({})
    scraped = generate_latest(registry).decode()
    assert "langgraph_node_executions_total" in scraped and "call 401 for bearer" in scraped
    assert _leaks(scraped) == []
