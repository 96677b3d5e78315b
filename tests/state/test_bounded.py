"""The bounded errors channel: the last N records per thread, a dropped count, in real graphs."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.errors import InvalidUpdateError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Overwrite

from langgraph_runner import (
    DEFAULT_ERRORS_LIMIT,
    BoundedErrors,
    GraphState,
    aerrors_dropped,
    bounded_errors,
    create_node,
    errors_dropped,
)
from langgraph_runner._state.bounded import bounded_append, saved_records
from tests import services
from tests.conftest import SqliteConnect

records_st = st.lists(st.integers(0, 10_000).map(lambda i: {"node": f"n{i}"}), max_size=30)
SETTINGS = settings(derandomize=True, max_examples=200, deadline=None)


# ---------------------------------------------------------------- the pure merge


@SETTINGS
@given(old=records_st, dropped=st.integers(0, 1000), new=records_st, limit=st.integers(1, 40))
def test_bounded_append_keeps_the_newest_in_order_and_counts_the_rest(
    old: list[dict[str, Any]], dropped: int, new: list[dict[str, Any]], limit: int
) -> None:
    """At most `limit` records, the newest ones in order; every record is kept or counted."""
    old = old[-limit:]  # the channel never holds more than its limit
    kept, count = bounded_append(tuple(old), dropped, new, limit)
    assert len(kept) <= limit
    assert list(kept) == (old + new)[len(old) + len(new) - len(kept) :]
    assert len(kept) == min(limit, len(old) + len(new))
    assert count == dropped + len(old) + len(new) - len(kept)


@SETTINGS
@given(batches=st.lists(records_st, max_size=8), limit=st.integers(1, 40))
def test_appending_in_steps_equals_appending_at_once(
    batches: list[list[dict[str, Any]]], limit: int
) -> None:
    """Many small appends and one big append keep the same records and count."""
    kept: tuple[dict[str, Any], ...] = ()
    dropped = 0
    for batch in batches:
        kept, dropped = bounded_append(kept, dropped, batch, limit)
    everything = [r for batch in batches for r in batch]
    assert (kept, dropped) == bounded_append((), 0, everything, limit)


@SETTINGS
@given(old=records_st, new=records_st, limit=st.integers(1, 40))
def test_the_channel_matches_the_pure_merge_and_survives_its_checkpoint(
    old: list[dict[str, Any]], new: list[dict[str, Any]], limit: int
) -> None:
    """update() appends like bounded_append; from_checkpoint(checkpoint()) restores it."""
    channel = BoundedErrors(limit)
    channel.update([old])
    channel.update(list(new))  # one write per record, as parallel nodes write
    kept, dropped = bounded_append((), 0, old + new, limit)
    assert channel.get() == list(kept)
    saved = channel.checkpoint()
    assert saved["dropped"] == dropped
    assert saved_records(saved) == list(kept)
    restored = BoundedErrors(limit).from_checkpoint(saved)
    assert (restored.get(), restored.dropped) == (list(kept), dropped)


stamped_st = st.lists(
    st.integers(0, 10**6).map(lambda i: {"node": "n", "timestamp": f"2026-01-01T00:00:{i}"}),
    max_size=30,
    unique_by=lambda r: r["timestamp"],
)


@SETTINGS
@given(old=stamped_st, batch=stamped_st, limit=st.integers(1, 40))
def test_writing_the_same_records_again_changes_nothing(
    old: list[dict[str, Any]], batch: list[dict[str, Any]], limit: int
) -> None:
    """Idempotent merge: records already kept (a subgraph hands them back) are not re-added."""
    batch = batch[:limit]
    channel = BoundedErrors(limit)
    channel.update([old])
    channel.update([batch])
    before = (channel.get(), channel.dropped)
    channel.update([channel.get()])  # what a subgraph sharing the state hands back
    assert (channel.get(), channel.dropped) == before
    if all(r in before[0] for r in batch):  # records that fell out may come back
        channel.update([batch])
        assert (channel.get(), channel.dropped) == before


@SETTINGS
@given(
    steps=st.lists(st.tuples(st.booleans(), stamped_st), max_size=10),
    limit=st.integers(1, 10),
)
def test_handed_back_records_are_found_after_any_sequence_of_steps(
    steps: list[tuple[bool, list[dict[str, Any]]]], limit: int
) -> None:
    """Appends and Overwrites in any order: the kept records are never appended twice."""
    channel = BoundedErrors(limit)
    for overwrite, batch in steps:
        channel.update([Overwrite(batch) if overwrite else batch])
        kept = channel.get()
        channel.update([kept])
        assert channel.get() == kept
        restored = BoundedErrors(limit).from_checkpoint(channel.checkpoint())
        restored.update([kept])
        assert restored.get() == kept


# ---------------------------------------------------------------- the channel


def test_equal_records_in_one_step_are_kept_once_unless_unstamped() -> None:
    """A timestamped record written twice lands once; records without a timestamp are kept."""
    stamped = {"node": "a", "timestamp": "2026-01-01T00:00:00+00:00"}
    plain = {"node": "b"}
    channel = BoundedErrors(10)
    channel.update([stamped, [stamped, plain], plain])
    assert channel.get() == [stamped, plain, plain]


def test_default_bound_is_100() -> None:
    """GraphState keeps 100 records unless told otherwise."""
    assert DEFAULT_ERRORS_LIMIT == 100
    assert bounded_errors() == BoundedErrors(100)
    assert bounded_errors(5) != bounded_errors(6)


@pytest.mark.parametrize(("limit", "error"), [(0, ValueError), (-3, ValueError), ("5", TypeError)])
def test_bad_limits_are_refused_naming_the_field(limit: Any, error: type[Exception]) -> None:
    """A limit below 1 or not an int fails at construction, naming limit."""
    with pytest.raises(error, match="limit"):
        bounded_errors(limit)


def test_bool_limit_is_refused() -> None:
    """True is not a limit of 1."""
    with pytest.raises(TypeError, match="limit"):
        bounded_errors(True)


def test_one_record_or_a_list_or_none() -> None:
    """A write may be one record, a list of records, or None (ignored)."""
    channel = BoundedErrors(10)
    channel.update([{"node": "a"}, [{"node": "b"}, {"node": "c"}], None])
    assert channel.get() == [{"node": "a"}, {"node": "b"}, {"node": "c"}]


def test_a_string_write_is_refused() -> None:
    """A string is not a list of records."""
    with pytest.raises(InvalidUpdateError, match="errors"):
        BoundedErrors(10).update(["oops"])


def test_get_returns_a_new_list_each_time() -> None:
    """A node mutating what it read cannot change the channel."""
    channel = BoundedErrors(10)
    channel.update([[{"node": "a"}]])
    channel.get().append({"node": "evil"})
    assert channel.get() == [{"node": "a"}]


@pytest.mark.parametrize(
    "overwrite", [Overwrite([{"node": "z"}]), {"__overwrite__": [{"node": "z"}]}]
)
def test_overwrite_replaces_records_and_keeps_the_dropped_count(overwrite: Any) -> None:
    """Overwrite wins over the step's appends; the count of dropped records stays."""
    channel = BoundedErrors(2)
    channel.update([[{"node": "a"}, {"node": "b"}, {"node": "c"}]])
    assert channel.dropped == 1
    channel.update([{"node": "x"}, overwrite, {"node": "y"}])
    assert channel.get() == [{"node": "z"}]
    assert channel.dropped == 1


def test_two_overwrites_in_one_step_are_refused() -> None:
    """Like LangGraph's reducer channels: one Overwrite per step."""
    with pytest.raises(InvalidUpdateError, match="Overwrite"):
        BoundedErrors(2).update([Overwrite([]), Overwrite([])])


def test_a_legacy_list_checkpoint_is_read_as_its_last_records() -> None:
    """A thread saved with an unbounded list keeps working: its newest records are kept."""
    legacy = [{"node": f"n{i}"} for i in range(7)]
    channel = BoundedErrors(3).from_checkpoint(legacy)
    assert channel.get() == legacy[-3:]
    assert channel.dropped == 4


# ---------------------------------------------------------------- in real graphs


class Small(GraphState, total=False):
    """errors bounded at 3 by annotation."""

    errors: Annotated[list[dict[str, Any]], bounded_errors(3)]  # type: ignore[misc]


def _always_fails(state: Any) -> dict[str, Any]:
    raise ConnectionError("upstream down")


def _graph(schema: Any, checkpointer: Any) -> Any:
    builder = StateGraph(schema)
    # Many failures in one thread on purpose: the loop guard is not what these tests are about.
    builder.add_node("fetch", create_node(_always_fails, max_consecutive_failures=None))
    builder.add_edge(START, "fetch")
    builder.add_edge("fetch", END)
    return builder.compile(checkpointer=checkpointer)


def test_graph_state_keeps_the_last_100_records_per_thread(
    sqlite_connect: SqliteConnect,
) -> None:
    """105 failures in one thread: 100 records kept, newest last, 5 counted as dropped."""
    conn = sqlite_connect()
    graph = _graph(GraphState, SqliteSaver(conn))
    config = {"configurable": {"thread_id": "bound-default"}}
    stamps = []
    for _ in range(105):
        out = graph.invoke({}, config)
        stamps.append(out["errors"][-1]["timestamp"])
    assert len(out["errors"]) == 100
    assert [e["timestamp"] for e in out["errors"]] == stamps[-100:]
    assert errors_dropped(graph, config) == 5


def test_bound_is_configurable_by_annotation_and_survives_sqlite(
    sqlite_connect: SqliteConnect,
) -> None:
    """bounded_errors(3) in the state: 3 kept; a new graph on the same file sees the same."""
    conn = sqlite_connect()
    config = {"configurable": {"thread_id": "bound-3"}}
    graph = _graph(Small, SqliteSaver(conn))
    for _ in range(5):
        graph.invoke({}, config)
    reloaded = _graph(Small, SqliteSaver(conn))
    values = reloaded.get_state(config).values
    assert len(values["errors"]) == 3
    assert values["routing_flags"] == {"blocked": True}
    assert errors_dropped(reloaded, config) == 2


def test_bound_survives_postgres() -> None:
    """The records and the dropped count round-trip through the PostgreSQL saver."""
    pytest.importorskip("langgraph.checkpoint.postgres")
    from langgraph.checkpoint.postgres import PostgresSaver

    url = services.postgres_url()
    thread = f"bound-pg-{uuid.uuid4().hex}"
    config = {"configurable": {"thread_id": thread}}
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        try:
            graph = _graph(Small, saver)
            for _ in range(4):
                graph.invoke({}, config)
            values = _graph(Small, saver).get_state(config).values
            assert [e["node"] for e in values["errors"]] == ["fetch"] * 3
            assert errors_dropped(graph, config) == 1
        finally:
            saver.delete_thread(thread)


async def test_errors_dropped_async() -> None:
    """aerrors_dropped reads the count through an async saver."""
    async with AsyncSqliteSaver.from_conn_string(":memory:") as saver:
        graph = _graph(Small, saver)
        config = {"configurable": {"thread_id": "bound-async"}}
        for _ in range(4):
            await graph.ainvoke({}, config)
        assert await aerrors_dropped(graph, config) == 1
        assert await aerrors_dropped(graph, {"configurable": {"thread_id": "none"}}) == 0


def test_errors_dropped_needs_a_checkpointer() -> None:
    """Without a checkpointer there is no thread to read the count from."""
    with pytest.raises(ValueError, match="checkpointer"):
        errors_dropped(_graph(Small, None), {"configurable": {"thread_id": "x"}})


def _failure(i: int, varied: bool) -> dict[str, Any]:
    message = f"request {i * 7919 % 100_003} failed after {i % 97 / 10:.1f}s" if varied else "boom"
    return {
        "node": "fetch",
        "code": "RETRY_EXHAUSTED",
        "message": f"Node 'fetch' failed after 3 attempt(s): ConnectionError: {message}",
        "error_type": "ConnectionError",
        "category": "network",
        "recoverable": True,
        "attempts": 3,
        "timestamp": f"2026-11-25T06:00:{i // 1000:02d}.{i % 1000:06d}+00:00",
        "duration_ms": 12.5,
        "stack": "app/nodes.py:41 in fetch\napp/client.py:88 in get\nConnectionError: " + message,
        "trace_id": f"{i:032x}",
        "recovered": False,
    }


@pytest.mark.parametrize(("varied", "most"), [(False, 0.10), (True, 0.35)])
def test_the_saved_records_are_packed(varied: bool, most: float) -> None:
    """A checkpoint of 100 kept records takes a fraction of their JSON (each recorded
    failure rewrites them all: 10,000 failures on one thread reached 3 GB)."""
    channel = BoundedErrors(100)
    for i in range(150):
        channel.update([_failure(i, varied)])
    saved = channel.checkpoint()
    plain = len(json.dumps(channel.get()).encode())
    assert len(saved["packed"]) <= most * plain
    assert saved_records(saved) == channel.get()
    assert saved["dropped"] == 50
    assert channel.checkpoint()["packed"] is saved["packed"]  # packed once per change


def test_records_saved_by_earlier_versions_and_non_json_records_still_load() -> None:
    """The plain ``{"records": [...]}`` form loads; records that are not JSON data are saved
    plain."""
    old = {"records": [{"node": "a"}, {"node": "b"}], "dropped": 3}
    restored = BoundedErrors(100).from_checkpoint(old)
    assert (restored.get(), restored.dropped) == ([{"node": "a"}, {"node": "b"}], 3)
    odd = BoundedErrors(100)
    odd.update([{"node": "a", "when": datetime.date(2026, 1, 1)}])
    assert odd.checkpoint() == {"records": odd.get(), "dropped": 0}
