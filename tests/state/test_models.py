"""GraphStateModel and GraphStateFields: pydantic and dataclass states with the channels."""

from __future__ import annotations

import dataclasses
import typing
import uuid
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Overwrite
from pydantic import Field

from langgraph_runner import (
    STATE_CHANNELS,
    GraphState,
    GraphStateFields,
    GraphStateModel,
    bounded_errors,
    create_node,
    errors_dropped,
    route_on_blocked,
    update_state,
)
from tests import services
from tests.conftest import SqliteConnect


class Model(GraphStateModel):
    """A pydantic state."""

    topic: str = ""
    answer: str = ""


@dataclasses.dataclass
class Data(GraphStateFields):
    """A dataclass state with a required field after the mixin's defaulted ones."""

    topic: str
    answer: str = ""


class SmallModel(GraphStateModel):
    """A pydantic state with another errors bound."""

    topic: str = ""
    answer: str = ""
    errors: Annotated[list[dict[str, Any]], bounded_errors(2)] = Field(default_factory=list)


SCHEMAS = [(Model, Model(topic="t")), (Data, Data(topic="t"))]
IDS = ["pydantic", "dataclass"]


@pytest.mark.parametrize("schema", [Model, Data, GraphState], ids=[*IDS, "TypedDict"])
def test_same_channels_and_reducers_as_graph_state(schema: Any) -> None:
    """The pydantic model and the dataclass mixin declare GraphState's channels, reducers alike."""
    hints = typing.get_type_hints(schema, include_extras=True)
    ours = typing.get_type_hints(GraphState, include_extras=True)
    for name in STATE_CHANNELS:
        assert hints[name].__metadata__ == ours[name].__metadata__, name


@pytest.mark.parametrize("schema", [Model, Data], ids=IDS)
def test_channels_default_to_empty(schema: Any) -> None:
    """A state can be built with only its own fields; channels start empty."""
    state = schema(topic="t")
    assert (state.errors, state.routing_flags, state.artifact_paths) == ([], {}, {})
    assert (state.evidence_refs, state.gate_decisions) == ([], {})


def test_dataclass_mixin_fields_are_keyword_only() -> None:
    """The mixin's fields cannot swallow the user's positional fields."""
    assert Data("t", "a").answer == "a"
    with pytest.raises(TypeError):
        Data("t", "a", [])  # type: ignore[misc]


class _Flaky:
    """Fails while `broken` is set."""

    def __init__(self) -> None:
        self.broken = True

    def __call__(self, state: Any) -> dict[str, Any]:
        if self.broken:
            raise ConnectionError("upstream down")
        return {"answer": f"about {state.topic}"}


def _graph(schema: Any, fetch: _Flaky, checkpointer: Any) -> Any:
    builder = StateGraph(schema)
    builder.add_node("fetch", create_node(fetch, name="fetch"))
    builder.add_node("recover", lambda s: update_state(s, {"routing_flags": {"blocked": None}}))
    builder.add_edge(START, "fetch")
    builder.add_conditional_edges("fetch", route_on_blocked(END, "recover"))
    builder.add_edge("recover", END)
    return builder.compile(checkpointer=checkpointer)


@pytest.mark.parametrize(("schema", "start"), SCHEMAS, ids=IDS)
def test_records_land_and_survive_a_sqlite_round_trip(
    schema: Any, start: Any, sqlite_connect: SqliteConnect
) -> None:
    """A wrapped node's failure record and flag land in the state and reload from SQLite."""
    conn = sqlite_connect()
    config = {"configurable": {"thread_id": f"models-{schema.__name__}"}}
    fetch = _Flaky()
    fetch.broken = False
    graph = _graph(schema, fetch, SqliteSaver(conn))
    assert graph.invoke(start, config)["answer"] == "about t"
    fetch.broken = True
    out = graph.invoke(start, config)
    assert [(e["node"], e["code"]) for e in out["errors"]] == [("fetch", "RETRY_EXHAUSTED")]
    assert out["routing_flags"] == {}  # recover ran and removed the flag
    reloaded = _graph(schema, fetch, SqliteSaver(conn)).get_state(config).values
    assert reloaded["errors"] == out["errors"]


@pytest.mark.parametrize(("schema", "start"), SCHEMAS, ids=IDS)
def test_records_survive_a_postgres_round_trip(schema: Any, start: Any) -> None:
    """The same through the PostgreSQL saver."""
    pytest.importorskip("langgraph.checkpoint.postgres")
    from langgraph.checkpoint.postgres import PostgresSaver

    thread = f"models-pg-{uuid.uuid4().hex}"
    config = {"configurable": {"thread_id": thread}}
    with PostgresSaver.from_conn_string(services.postgres_url()) as saver:
        saver.setup()
        try:
            out = _graph(schema, _Flaky(), saver).invoke(start, config)
            reloaded = _graph(schema, _Flaky(), saver).get_state(config).values
            assert [e["node"] for e in reloaded["errors"]] == ["fetch"]
            assert reloaded["errors"] == out["errors"]
        finally:
            saver.delete_thread(thread)


def test_a_pydantic_state_overrides_the_bound(
    sqlite_connect: SqliteConnect,
) -> None:
    """A subclass re-annotating errors with bounded_errors(2) keeps two records."""
    conn = sqlite_connect()
    config = {"configurable": {"thread_id": "models-bound"}}
    graph = _graph(SmallModel, _Flaky(), SqliteSaver(conn))
    for _ in range(3):
        out = graph.invoke(SmallModel(topic="t"), config)
    assert len(out["errors"]) == 2
    assert errors_dropped(graph, config) == 1


@pytest.mark.parametrize(("schema", "start"), SCHEMAS, ids=IDS)
def test_update_state_and_overwrite_clear_a_model_state(schema: Any, start: Any) -> None:
    """update_state's Overwrite([]) empties errors of a pydantic/dataclass state too."""

    def fail(state: Any) -> dict[str, Any]:
        raise ValueError("bad input")

    def clear(state: Any) -> dict[str, Any]:
        assert len(state.errors) == 1
        return update_state(state, {"errors": Overwrite([]), "evidence_refs": ["r"]})

    builder = StateGraph(schema)
    builder.add_node("fail", create_node(fail))
    builder.add_node("clear", clear)
    builder.add_edge(START, "fail")
    builder.add_edge("fail", "clear")
    builder.add_edge("clear", END)
    out = builder.compile().invoke(start)
    assert (out["errors"], out["evidence_refs"]) == ([], ["r"])


@dataclasses.dataclass
class SentData(GraphStateFields):
    """A dataclass state for a map-reduce."""

    items: list[int] = dataclasses.field(default_factory=list)
    seen: list[str] = dataclasses.field(default_factory=list)


class SentModel(GraphStateModel):
    """A pydantic state for a map-reduce."""

    items: list[int] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)


class SentDict(GraphState, total=False):
    """A TypedDict state for a map-reduce."""

    items: list[int]
    seen: list[str]


@pytest.mark.parametrize("schema", [SentModel, SentData, SentDict], ids=[*IDS, "TypedDict"])
def test_a_send_task_record_fits_every_state_kind(
    schema: Any, sqlite_connect: SqliteConnect
) -> None:
    """A Send task's record (task_id, send_node, send_item) lands in each state kind, bounded
    and reloaded, and update_state accepts it back."""
    from langgraph.types import Send

    def work(item: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionError(f"item {item['n']} down")

    def reduce(state: Any) -> dict[str, Any]:
        errors = state["errors"] if isinstance(state, dict) else state.errors
        return {"seen": [e["send_item"] for e in errors]}

    builder = StateGraph(schema)
    builder.add_node("work", create_node(work, item_key="n"))
    builder.add_node("reduce", reduce)
    builder.add_conditional_edges(
        START, lambda s: [Send("work", {"n": n}) for n in (1, 2, 3)], ["work"]
    )
    builder.add_edge("work", "reduce")
    builder.add_edge("reduce", END)
    config = {"configurable": {"thread_id": f"models-send-{schema.__name__}"}}
    graph = builder.compile(checkpointer=SqliteSaver(sqlite_connect()))
    start = {"items": [1, 2, 3]} if schema is SentDict else schema(items=[1, 2, 3])
    out = graph.invoke(start, config)
    assert sorted(out["seen"]) == ["1", "2", "3"]
    assert {(e["send_node"], bool(e["task_id"])) for e in out["errors"]} == {("work", True)}
    assert graph.get_state(config).values["errors"] == out["errors"]
    assert update_state({}, {"errors": out["errors"]})["errors"] == out["errors"]
