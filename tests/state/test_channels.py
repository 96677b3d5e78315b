"""GraphState's reducer channels, update_state and route_on_blocked, alone and in real graphs."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import typing
import warnings
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import pytest
import typing_extensions
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Overwrite, Send
from pydantic import BaseModel, Field, ValidationError

from langgraph_runner import create_node
from langgraph_runner._records.record import ErrorCategory, ErrorCode, NodeError
from langgraph_runner._state.bounded import DEFAULT_ERRORS_LIMIT, bounded_errors
from langgraph_runner._state.channels import (
    STATE_CHANNELS,
    GraphState,
    append_errors,
    append_unique,
    merge_dicts,
    merge_flags,
    route_on_blocked,
    update_state,
)
from tests.conftest import SqliteConnect


def make_record(node: str = "fetch", **overrides: Any) -> NodeError:
    """A valid NodeError record."""
    data: dict[str, Any] = {
        "node": node,
        "code": ErrorCode.RETRY_EXHAUSTED,
        "message": f"Node '{node}' failed after 2 attempt(s): ConnectionError: down",
        "error_type": "ConnectionError",
        "category": ErrorCategory.NETWORK,
        "recoverable": True,
        "attempts": 2,
        "timestamp": "2026-01-02T03:04:05+00:00",
        "duration_ms": 3.5,
    }
    data.update(overrides)
    return NodeError(**data)


# ---------------------------------------------------------------- GraphState


def test_graph_state_declares_the_six_reducer_channels() -> None:
    """GraphState is a total=False TypedDict whose six channels carry the documented reducers."""
    hints = typing.get_type_hints(GraphState, include_extras=True)
    reducers = {name: hint.__metadata__[0] for name, hint in hints.items()}
    assert reducers == {
        "errors": bounded_errors(DEFAULT_ERRORS_LIMIT),
        "routing_flags": merge_flags,
        "artifact_paths": merge_dicts,
        "evidence_refs": append_unique,
        "gate_decisions": merge_dicts,
        "step_marks": merge_dicts,
    }
    assert set(STATE_CHANNELS) == set(reducers)
    assert GraphState.__total__ is False
    assert GraphState.__required_keys__ == frozenset()


def test_graph_state_can_be_subclassed() -> None:
    """A user state subclasses GraphState and keeps its channels."""

    class MyState(GraphState, total=False):
        question: str

    assert set(MyState.__annotations__) >= {"question"}
    assert set(typing.get_type_hints(MyState)) == {*STATE_CHANNELS, "question"}


# ---------------------------------------------------------------- reducers, pure functions


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, None, []),
        ([], None, []),
        (None, [{"a": 1}], [{"a": 1}]),
        ([{"a": 1}], [{"b": 2}, {"c": 3}], [{"a": 1}, {"b": 2}, {"c": 3}]),
        ([{"a": 1}], {"b": 2}, [{"a": 1}, {"b": 2}]),
        ([{"a": 1}], [{"a": 1}], [{"a": 1}, {"a": 1}]),
        ([{"a": 1}], [], [{"a": 1}]),
    ],
)
def test_append_errors(left: Any, right: Any, expected: Any) -> None:
    """errors: records are appended (one or a list), in order, duplicates kept."""
    assert append_errors(left, right) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, None, {}),
        ({"blocked": True}, None, {"blocked": True}),
        (None, {"blocked": True}, {"blocked": True}),
        ({"blocked": True, "x": False}, {"x": True}, {"blocked": True, "x": True}),
        ({"blocked": True, "x": True}, {"blocked": None}, {"x": True}),
        ({"x": True}, {"missing": None}, {"x": True}),
        ({"blocked": True}, {"blocked": False}, {"blocked": False}),
    ],
)
def test_merge_flags(left: Any, right: Any, expected: Any) -> None:
    """routing_flags: shallow merge, right wins, None removes a flag (False keeps it)."""
    assert merge_flags(left, right) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, None, {}),
        ({"a": "p1"}, {"b": "p2"}, {"a": "p1", "b": "p2"}),
        ({"a": "p1"}, {"a": "p9"}, {"a": "p9"}),
        ({"a": "p1", "b": "p2"}, {"a": None}, {"b": "p2"}),
        ({"g": {"ok": True}}, {"g": {"by": "bob"}}, {"g": {"by": "bob"}}),
    ],
)
def test_merge_dicts(left: Any, right: Any, expected: Any) -> None:
    """artifact_paths/gate_decisions: shallow merge (values replaced whole), None removes."""
    assert merge_dicts(left, right) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, None, []),
        (["a"], None, ["a"]),
        (None, ["a", "b"], ["a", "b"]),
        (["a", "b"], ["b", "c", "a", "d"], ["a", "b", "c", "d"]),
        (["a"], ["c", "c", "c"], ["a", "c"]),
        (["a"], "b", ["a", "b"]),
        (["ab"], "ab", ["ab"]),
        ([1], 2, [1, 2]),
        ([{"k": 1}], [{"k": 1}, {"k": 2}], [{"k": 1}, {"k": 2}]),
    ],
)
def test_append_unique(left: Any, right: Any, expected: Any) -> None:
    """evidence_refs: appended in order, no duplicates; one item (a string) or many."""
    assert append_unique(left, right) == expected


REDUCER_INPUTS: list[tuple[Callable[[Any, Any], Any], Any, Any]] = [
    (append_errors, [{"a": 1}], [{"b": 2}]),
    (append_errors, [{"a": 1}], {"b": 2}),
    (merge_flags, {"blocked": True, "x": True}, {"blocked": None, "y": True}),
    (merge_dicts, {"a": "p1"}, {"a": None, "b": "p2"}),
    (merge_dicts, {"g": {"ok": True}}, {"g": {"ok": False}}),
    (append_unique, ["a", "b"], ["b", "c"]),
]


@pytest.mark.parametrize(
    ("reducer", "left", "right"), REDUCER_INPUTS, ids=lambda v: getattr(v, "__name__", "")
)
def test_reducers_are_pure(reducer: Callable[[Any, Any], Any], left: Any, right: Any) -> None:
    """Reducers never mutate their inputs and return a new object."""
    left_before, right_before = copy.deepcopy(left), copy.deepcopy(right)
    result = reducer(left, right)
    assert left == left_before
    assert right == right_before
    assert result is not left
    assert result is not right
    # Mutating the result must not reach back into the inputs either.
    if isinstance(result, list):
        result.append("sentinel")
    else:
        result["sentinel"] = True
    assert left == left_before


@pytest.mark.parametrize(
    "reducer", [append_errors, merge_flags, merge_dicts, append_unique], ids=lambda r: r.__name__
)
def test_reducers_return_a_copy_when_right_is_none(reducer: Callable[[Any, Any], Any]) -> None:
    """Even with nothing to add, the result is a new object equal to the left side."""
    left: Any = [] if reducer in (append_errors, append_unique) else {}
    out = reducer(left, None)
    assert out == left
    assert out is not left


# ---------------------------------------------------------------- update_state


def test_update_state_validates_and_converts_every_channel() -> None:
    """All five channels come back as plain JSON data, ready for their reducers."""
    record = make_record()
    out = update_state(
        {},
        {
            "errors": [record],
            "routing_flags": {"blocked": True},
            "artifact_paths": {"report": "out/report.md"},
            "evidence_refs": ["doc-1", "doc-2"],
            "gate_decisions": {"review": {"approved": False, "by": "bob"}},
        },
    )
    assert out == {
        "errors": [record.to_state()],
        "routing_flags": {"blocked": True},
        "artifact_paths": {"report": "out/report.md"},
        "evidence_refs": ["doc-1", "doc-2"],
        "gate_decisions": {"review": {"approved": False, "by": "bob"}},
    }
    assert json.loads(json.dumps(out)) == out


@pytest.mark.parametrize(
    "errors",
    [
        lambda r: [r],
        lambda r: r,
        lambda r: r.to_state(),
        lambda r: [r.to_state()],
        lambda r: (r,),
    ],
    ids=["model-list", "model", "dict", "dict-list", "tuple"],
)
def test_update_state_accepts_records_in_any_shape(errors: Callable[[NodeError], Any]) -> None:
    """A NodeError or its dump, alone or in a list/tuple, becomes a list of JSON records."""
    record = make_record()
    assert update_state({}, {"errors": errors(record)}) == {"errors": [record.to_state()]}


def test_update_state_passes_other_keys_through_unchanged() -> None:
    """Keys outside the five channels are returned as the very same objects."""
    payload = object()
    keep = Overwrite([1])
    out = update_state(
        {}, {"answer": payload, "messages": keep, "schema": "x", "json": 1, "copy": None}
    )
    assert out["answer"] is payload
    assert out["messages"] is keep
    assert (out["schema"], out["json"], out["copy"]) == ("x", 1, None)


def test_update_state_leaves_absent_and_none_channels_out() -> None:
    """Channels not given, or given as None, are not part of the update."""
    assert update_state({}, {"errors": None, "routing_flags": None, "x": 1}) == {"x": 1}
    assert update_state({}, {}) == {}


def test_update_state_keeps_none_values_that_remove_keys() -> None:
    """None inside a dict channel survives, so the reducer removes that key."""
    out = update_state(
        {},
        {
            "routing_flags": {"blocked": None},
            "artifact_paths": {"old": None},
            "gate_decisions": {"review": None},
        },
    )
    assert out == {
        "routing_flags": {"blocked": None},
        "artifact_paths": {"old": None},
        "gate_decisions": {"review": None},
    }


def test_update_state_accepts_pathlib_paths() -> None:
    """Artifact paths may be pathlib objects; state gets strings."""
    out = update_state({}, {"artifact_paths": {"a": Path("out") / "a.md", "b": PurePosixPath("b")}})
    assert out == {"artifact_paths": {"a": str(Path("out") / "a.md"), "b": "b"}}
    wiped = update_state({}, {"artifact_paths": Overwrite({"a": Path("x")})})
    assert wiped["artifact_paths"].value == {"a": "x"}


@pytest.mark.parametrize(
    ("state", "refs", "expected"),
    [
        ({}, ["a", "b", "a"], ["a", "b"]),
        ({"evidence_refs": ["a"]}, ["a", "b"], ["b"]),
        ({"evidence_refs": ["a", "b"]}, ["b", "a"], []),
        (None, "single-ref", ["single-ref"]),
    ],
)
def test_update_state_evidence_refs_are_not_repeated(state: Any, refs: Any, expected: Any) -> None:
    """Refs already in the state or repeated in the update are dropped; one string is one ref."""
    assert update_state(state, {"evidence_refs": refs}) == {"evidence_refs": expected}


def test_update_state_reads_evidence_from_a_model_state() -> None:
    """The state may be an object with attributes (a pydantic state)."""

    class Model(BaseModel):
        evidence_refs: list[str] = []

    assert update_state(Model(evidence_refs=["a"]), {"evidence_refs": ["a", "z"]}) == {
        "evidence_refs": ["z"]
    }


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ({"errors": [{"node": "x"}]}, "errors"),
        ({"errors": ["oops"]}, "errors"),
        ({"errors": 5}, "errors"),
        ({"routing_flags": {"blocked": "maybe"}}, "routing_flags"),
        ({"routing_flags": ["blocked"]}, "routing_flags"),
        ({"artifact_paths": {"r": 5}}, "artifact_paths"),
        ({"artifact_paths": "out/report.md"}, "artifact_paths"),
        ({"evidence_refs": [1, 2]}, "evidence_refs"),
        ({"evidence_refs": {"a": 1}}, "evidence_refs"),
        ({"gate_decisions": {"review": True}}, "gate_decisions"),
        ({"gate_decisions": ["review"]}, "gate_decisions"),
        ({"errors": Overwrite([{"node": "x"}])}, "errors"),
        ({"routing_flags": Overwrite({"blocked": None})}, "routing_flags"),
        ({"artifact_paths": Overwrite(["x"])}, "artifact_paths"),
        ({"evidence_refs": Overwrite("abc")}, "evidence_refs"),
        ({"gate_decisions": Overwrite(None)}, "gate_decisions"),
    ],
)
def test_update_state_rejects_bad_shapes_naming_the_field(updates: Any, field: str) -> None:
    """A wrongly shaped channel value raises a ValidationError located at that channel."""
    with pytest.raises(ValidationError) as info:
        update_state({}, updates)
    assert {err["loc"][0] for err in info.value.errors()} == {field}


def test_update_state_does_not_mutate_its_arguments() -> None:
    """The state and the updates mapping are left as they were."""
    state = {"evidence_refs": ["a"], "routing_flags": {"blocked": True}}
    updates = {"errors": make_record().to_state(), "evidence_refs": "b", "x": [1]}
    state_before, updates_before = copy.deepcopy(state), copy.deepcopy(updates)
    update_state(state, updates)
    assert state == state_before
    assert updates == updates_before


@pytest.mark.parametrize(
    ("channel", "value", "stored"),
    [
        ("errors", [], []),
        ("errors", [make_record()], [make_record().to_state()]),
        ("routing_flags", {}, {}),
        ("artifact_paths", {"a": "p"}, {"a": "p"}),
        ("evidence_refs", ["a", "a", "b"], ["a", "b"]),
        ("gate_decisions", {}, {}),
    ],
)
def test_update_state_overwrite_is_validated_and_kept(
    channel: str, value: Any, stored: Any
) -> None:
    """Overwrite(...) stays an Overwrite (bypassing the reducer) around validated JSON data."""
    out = update_state({}, {channel: Overwrite(value)})
    assert isinstance(out[channel], Overwrite)
    assert out[channel].value == stored


# ---------------------------------------------------------------- route_on_blocked


class FlagsModel(BaseModel):
    routing_flags: dict[str, bool] | None = None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"routing_flags": {"blocked": True}}, "recover"),
        ({"routing_flags": {"blocked": False}}, "next"),
        ({"routing_flags": {"other": True}}, "next"),
        ({"routing_flags": {}}, "next"),
        ({"routing_flags": None}, "next"),
        ({}, "next"),
        (FlagsModel(routing_flags={"blocked": True}), "recover"),
        (FlagsModel(routing_flags={"blocked": False}), "next"),
        (FlagsModel(), "next"),
    ],
)
def test_route_on_blocked(state: Any, expected: str) -> None:
    """The router picks the blocked destination only when the flag is true."""
    assert route_on_blocked("next", "recover")(state) == expected


def test_route_on_blocked_custom_flag_and_name() -> None:
    """Another flag can be tested, and the router's name says which."""
    route = route_on_blocked("ok", "human", flag="needs_review")
    assert route.__name__ == "route_on_needs_review"
    assert route({"routing_flags": {"needs_review": True, "blocked": False}}) == "human"
    assert route({"routing_flags": {"blocked": True}}) == "ok"
    assert route_on_blocked("a", "b").__name__ == "route_on_blocked"


# ---------------------------------------------------------------- in real compiled graphs


class S(GraphState, total=False):
    visited: Annotated[list[str], lambda a, b: a + b]


def _failing(state: S) -> dict[str, Any]:
    return update_state(
        state,
        {
            "errors": [make_record("work")],
            "routing_flags": {"blocked": True, "audited": True},
            "artifact_paths": {"draft": "out/draft.md", "tmp": "out/tmp.bin"},
            "evidence_refs": ["doc-1"],
            "gate_decisions": {"review": {"approved": False}},
            "visited": ["work"],
        },
    )


def _recover(state: S) -> dict[str, Any]:
    assert state["routing_flags"]["blocked"] is True
    return update_state(
        state,
        {
            "errors": Overwrite([]),
            "routing_flags": {"blocked": None},
            "artifact_paths": {"tmp": None},
            "evidence_refs": ["doc-1", "doc-2"],
            "gate_decisions": {"review": {"approved": True}},
            "visited": ["recover"],
        },
    )


def _finish(state: S) -> dict[str, Any]:
    return {"visited": ["finish"]}


def _graph(checkpointer: Any = None) -> Any:
    builder = StateGraph(S)
    builder.add_node("work", _failing)
    builder.add_node("recover", _recover)
    builder.add_node("finish", _finish)
    builder.add_edge(START, "work")
    builder.add_conditional_edges("work", route_on_blocked("finish", "recover"))
    builder.add_edge("recover", "work_again")
    builder.add_node("work_again", lambda s: {"visited": ["work_again"]})
    builder.add_conditional_edges("work_again", route_on_blocked("finish", "recover"))
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


EXPECTED_AFTER_RECOVERY = {
    "errors": [],
    "routing_flags": {"audited": True},
    "artifact_paths": {"draft": "out/draft.md"},
    "evidence_refs": ["doc-1", "doc-2"],
    "gate_decisions": {"review": {"approved": True}},
    "step_marks": {},
    "visited": ["work", "recover", "work_again", "finish"],
}


def test_recovery_node_clears_errors_and_blocked_in_a_real_graph() -> None:
    """Overwrite([]) empties errors and {'blocked': None} removes the flag; routing follows."""
    assert _graph().invoke({}) == EXPECTED_AFTER_RECOVERY


def test_recovery_clearing_persists_in_a_checkpoint(
    sqlite_connect: SqliteConnect,
) -> None:
    """The cleared channels are what a real checkpointer saves and reloads."""
    conn = sqlite_connect()
    config = {"configurable": {"thread_id": "state-clear"}}
    assert _graph(SqliteSaver(conn)).invoke({}, config) == EXPECTED_AFTER_RECOVERY
    reloaded = _graph(SqliteSaver(conn)).get_state(config)
    assert reloaded.values == EXPECTED_AFTER_RECOVERY


async def test_recovery_clears_under_ainvoke() -> None:
    """The same clearing holds under ainvoke with an async checkpointer."""
    async with AsyncSqliteSaver.from_conn_string(":memory:") as saver:
        graph = _graph(saver)
        config = {"configurable": {"thread_id": "state-clear-async"}}
        assert await graph.ainvoke({}, config) == EXPECTED_AFTER_RECOVERY
        assert (await graph.aget_state(config)).values == EXPECTED_AFTER_RECOVERY


def test_parallel_writes_merge_through_the_reducers() -> None:
    """Fan-out branches writing in the same step are all kept: appended, merged, deduplicated."""

    def branch(state: dict[str, Any]) -> dict[str, Any]:
        name = state["name"]
        return update_state(
            {},
            {
                "errors": [make_record(name)],
                "routing_flags": {f"done_{name}": True},
                "artifact_paths": {name: f"out/{name}.md"},
                "evidence_refs": ["shared", f"ref-{name}"],
                "gate_decisions": {name: {"approved": True}},
            },
        )

    builder = StateGraph(S)
    builder.add_node("branch", branch)
    builder.add_conditional_edges(
        START, lambda s: [Send("branch", {"name": n}) for n in ("a", "b", "c")]
    )
    builder.add_edge("branch", END)
    out = builder.compile().invoke({})
    assert sorted(e["node"] for e in out["errors"]) == ["a", "b", "c"]
    assert out["routing_flags"] == {"done_a": True, "done_b": True, "done_c": True}
    assert out["artifact_paths"] == {"a": "out/a.md", "b": "out/b.md", "c": "out/c.md"}
    assert out["evidence_refs"].count("shared") == 1
    assert sorted(out["evidence_refs"]) == ["ref-a", "ref-b", "ref-c", "shared"]
    assert set(out["gate_decisions"]) == {"a", "b", "c"}
    assert all(NodeError.model_validate(e).node in "abc" for e in out["errors"])


class PState(BaseModel):
    """A pydantic state declaring the same reducer channels."""

    n: int = 0
    errors: Annotated[list[dict[str, Any]], append_errors] = Field(default_factory=list)
    routing_flags: Annotated[dict[str, bool], merge_flags] = Field(default_factory=dict)


@pytest.mark.parametrize("blocked", [True, False])
def test_route_on_blocked_in_real_graphs_with_dict_and_pydantic_state(blocked: bool) -> None:
    """route_on_blocked drives add_conditional_edges for TypedDict and pydantic states alike."""

    def first(state: Any) -> dict[str, Any]:
        return update_state(state, {"routing_flags": {"blocked": blocked}})

    def recover(state: Any) -> dict[str, Any]:
        return update_state(state, {"routing_flags": {"blocked": None}, "errors": Overwrite([])})

    for schema, start in ((S, {}), (PState, PState())):
        builder = StateGraph(schema)
        builder.add_node("first", first)
        builder.add_node("recover", recover)
        builder.add_node("ok", lambda s: {})
        builder.add_edge(START, "first")
        builder.add_conditional_edges("first", route_on_blocked("ok", "recover"))
        builder.add_edge("recover", END)
        builder.add_edge("ok", END)
        chunks = list(builder.compile().stream(start, stream_mode="updates"))
        visited = [name for chunk in chunks for name in chunk]
        assert visited == (["first", "recover"] if blocked else ["first", "ok"]), schema


# ---------------------------------------------------------------- composing with other states


class UserTypingState(typing.TypedDict):
    """A user state on typing.TypedDict, with a required key."""

    question: str


class UserExtState(typing_extensions.TypedDict, total=False):
    """A user state on typing_extensions.TypedDict."""

    answer: str


def _agent_state() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of langchain.agents
        from langgraph.prebuilt.chat_agent_executor import AgentState
    return AgentState


def _compositions() -> list[tuple[str, Any, set[str], set[str]]]:
    """(label, state, expected keys beside the channels, required keys)."""

    class WithMessages(MessagesState, GraphState):
        pass

    class ChannelsFirst(GraphState, MessagesState, total=False):
        topic: str

    class WithAgent(_agent_state(), GraphState):  # type: ignore[misc]
        pass

    class WithTyping(UserTypingState, GraphState):
        pass

    class WithTypingAfter(GraphState, UserTypingState, total=False):
        extra: int

    class WithExt(UserExtState, GraphState):
        pass

    # Python picks the metaclass from the bases left to right: GraphState must come
    # before the first base of the other TypedDict kind.
    class Everything(MessagesState, GraphState, UserTypingState, UserExtState):
        pass

    class Deeper(WithTyping, MessagesState):
        more: list[str]

    return [
        ("MessagesState", WithMessages, {"messages"}, {"messages"}),
        ("GraphState first", ChannelsFirst, {"messages", "topic"}, {"messages"}),
        ("AgentState", WithAgent, {"messages", "remaining_steps"}, {"messages"}),
        ("typing.TypedDict", WithTyping, {"question"}, {"question"}),
        ("typing.TypedDict after", WithTypingAfter, {"question", "extra"}, {"question"}),
        ("typing_extensions.TypedDict", WithExt, {"answer"}, set()),
        ("all of them", Everything, {"messages", "question", "answer"}, {"messages", "question"}),
        (
            "subclass of a composition",
            Deeper,
            {"messages", "question", "more"},
            {"messages", "question", "more"},
        ),
    ]


COMPOSITIONS = _compositions()


@pytest.mark.parametrize(
    ("label", "schema", "keys", "required"), COMPOSITIONS, ids=[c[0] for c in COMPOSITIONS]
)
def test_graph_state_composes_by_inheritance(
    label: str, schema: Any, keys: set[str], required: set[str]
) -> None:
    """Any TypedDict beside GraphState gives a TypedDict with all keys and the reducers."""
    hints = typing.get_type_hints(schema, include_extras=True)
    assert set(hints) == {*STATE_CHANNELS, *keys}
    assert hints["errors"].__metadata__[0] == bounded_errors(DEFAULT_ERRORS_LIMIT)
    assert hints["routing_flags"].__metadata__[0] is merge_flags
    assert schema.__required_keys__ == frozenset(required)
    assert typing.is_typeddict(schema) and typing_extensions.is_typeddict(schema)


@pytest.mark.parametrize(
    ("label", "schema", "keys", "required"), COMPOSITIONS, ids=[c[0] for c in COMPOSITIONS]
)
def test_compositions_give_input_and_output_json_schemas(
    label: str, schema: Any, keys: set[str], required: set[str]
) -> None:
    """get_input_jsonschema()/get_output_jsonschema() list every key of a composed state."""
    builder = StateGraph(schema)
    builder.add_node("noop", lambda state: {})
    builder.add_edge(START, "noop")
    graph = builder.compile()
    for json_schema in (graph.get_input_jsonschema(), graph.get_output_jsonschema()):
        assert set(json_schema["properties"]) == {*STATE_CHANNELS, *keys}
        assert set(json_schema.get("required", ())) == required
    json.dumps(graph.get_input_jsonschema())  # what a server sends


def test_messages_state_with_graph_state_records_a_failure_in_a_real_graph(
    sqlite_connect: SqliteConnect,
) -> None:
    """A wrapped node on MessagesState+GraphState: messages keep add_messages, records land."""

    class ChatState(MessagesState, GraphState):
        pass

    def reply(state: ChatState) -> dict[str, Any]:
        return {"messages": [AIMessage("hi")]}

    def broken(state: ChatState) -> dict[str, Any]:
        raise ConnectionError("model down")

    builder = StateGraph(ChatState)
    builder.add_node("reply", create_node(reply))
    builder.add_node("broken", create_node(broken))
    builder.add_edge(START, "reply")
    builder.add_edge("reply", "broken")
    builder.add_edge("broken", END)
    conn = sqlite_connect()
    config = {"configurable": {"thread_id": "chat"}}
    out = builder.compile(checkpointer=SqliteSaver(conn)).invoke(
        {"messages": [HumanMessage("hello")]}, config
    )
    assert [m.content for m in out["messages"]] == ["hello", "hi"]
    assert [e["node"] for e in out["errors"]] == ["broken"]
    assert out["routing_flags"] == {"blocked": True}
    reloaded = builder.compile(checkpointer=SqliteSaver(conn)).get_state(config).values
    assert reloaded["errors"] == out["errors"]


def _example(name: str) -> Any:
    """Load examples/<name>.py under a private module name."""
    path = Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # type hints resolve through sys.modules
    spec.loader.exec_module(module)
    return module


def _example_graphs() -> list[tuple[str, Any]]:
    studio = _example("studio_graphs")
    return [
        ("pipeline", _example("pipeline").build().compile()),
        ("fallback", _example("fallback").build()),
        ("studio pipeline", studio.pipeline),
        ("studio approval", studio.approval),
        ("studio slow", studio.slow),
    ]


@pytest.mark.parametrize("index", range(5))
def test_example_graphs_have_input_and_output_json_schemas(index: int) -> None:
    """Every example graph gives LangGraph Studio its input and output schema."""
    label, graph = _example_graphs()[index]
    for json_schema in (graph.get_input_jsonschema(), graph.get_output_jsonschema()):
        assert {"errors", "routing_flags"} <= set(json_schema["properties"]), label
        json.dumps(json_schema)


def test_route_on_blocked_draws_both_branches() -> None:
    """route_on_blocked carries its path map: drawings show exactly the two branches."""
    g = StateGraph(GraphState)
    for name in ("work", "publish", "recover"):
        g.add_node(name, lambda s: {})
    g.add_edge(START, "work")
    g.add_conditional_edges("work", route_on_blocked("publish", "recover"))
    g.add_edge("publish", END)
    g.add_edge("recover", END)
    drawing = g.compile().get_graph()
    branches = {(e.source, e.target) for e in drawing.edges if e.conditional}
    assert branches == {("work", "publish"), ("work", "recover")}
    mermaid = drawing.draw_mermaid()
    assert "work -.-> publish;" in mermaid and "work -.-> recover;" in mermaid
