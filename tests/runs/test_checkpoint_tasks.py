"""langgraph_runner._runs.checkpoint_tasks: decoding a stored step's tasks without the graph."""

from __future__ import annotations

import operator
import threading
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt

from langgraph_runner._runs import checkpoint
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._runs.checkpoint_tasks import SavedTask, saved_tasks


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


@pytest.fixture
def saver() -> Iterator[SqliteSaver]:
    """An in-memory SQLite saver."""
    with open_checkpointer(":memory:") as cp:
        assert isinstance(cp, SqliteSaver)
        yield cp


def _config() -> Any:
    return {"configurable": {"thread_id": f"tasks-{uuid.uuid4().hex}"}}


def _latest(saver: SqliteSaver, config: Any) -> CheckpointTuple:
    latest = saver.get_tuple(config)
    assert latest is not None
    return latest


def _live(graph: Any, config: Any) -> dict[str, str]:
    return {t.id: t.name for t in graph.get_state(config).tasks}


def test_parallel_step_with_a_failure(saver: SqliteSaver) -> None:
    """Each task of a stored parallel step is named, finished or not, with its saved error."""
    builder = StateGraph(State)
    # p2 fails only once p1 and p3 are done: otherwise LangGraph may stop the step first.
    done = {name: threading.Event() for name in ("p1", "p3")}

    def step(name: str) -> Any:
        def node(state: State) -> dict[str, list[str]]:
            if name == "p2":
                assert all(event.wait(10) for event in done.values())
                raise ConnectionError("down")
            if name in done:
                threading.Timer(0.05, done[name].set).start()  # after its writes are saved
            return {"log": [name]}

        return node

    for name in ["a", "p1", "p2", "p3"]:
        builder.add_node(name, step(name))
    builder.add_edge(START, "a")
    for p in ["p1", "p2", "p3"]:
        builder.add_edge("a", p)
    builder.add_edge(["p1", "p2", "p3"], END)
    config = _config()
    graph = builder.compile(checkpointer=saver)
    with pytest.raises(ConnectionError):
        graph.invoke({"log": []}, config)
    tasks = {t.name: t for t in saved_tasks(_latest(saver, config))}
    assert set(tasks) == {"p1", "p2", "p3"}
    assert {t.task_id: t.name for t in tasks.values()} == _live(graph, config)
    assert tasks["p1"].finished and tasks["p3"].finished
    assert ("log", ["p1"]) in tasks["p1"].writes
    assert not tasks["p2"].finished
    assert "ConnectionError" in str(tasks["p2"].error)


def test_send_tasks_and_interrupts(saver: SqliteSaver) -> None:
    """Send fan-out tasks get their node name and ids; a task waiting on interrupt() says so."""

    def worker(arg: dict[str, int]) -> dict[str, list[str]]:
        if arg["i"] == 1:
            interrupt({"approve": arg["i"]})
        return {"log": [f"w{arg['i']}"]}

    builder = StateGraph(State)
    builder.add_node("fan", lambda s: {"log": ["fan"]})
    builder.add_node("worker", worker)  # type: ignore[arg-type]
    builder.add_edge(START, "fan")
    builder.add_conditional_edges(
        "fan", lambda s: [Send("worker", {"i": i}) for i in range(3)], ["worker"]
    )
    builder.add_edge("worker", END)
    config = _config()
    graph = builder.compile(checkpointer=saver)
    graph.invoke({"log": []}, config)
    tasks = saved_tasks(_latest(saver, config))
    assert {t.task_id: t.name for t in tasks} == _live(graph, config)
    assert [t.name for t in tasks] == ["worker"] * 3
    waiting = [t for t in tasks if t.interrupts]
    assert len(waiting) == 1 and not waiting[0].finished
    assert waiting[0].interrupts[0].value == {"approve": 1}
    assert sum(t.finished for t in tasks) == 2


def test_update_state_writes_are_named_update(saver: SqliteSaver) -> None:
    """Writes made by graph.update_state on a stored step are attributed to '__update__'."""
    builder = StateGraph(State)
    builder.add_node("a", lambda s: {"log": ["a"]})
    builder.add_node("b", lambda s: {"log": ["b"]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    config = _config()
    graph = builder.compile(checkpointer=saver, interrupt_before=["b"])
    graph.invoke({"log": []}, config)
    before = _latest(saver, config)
    assert [(t.name, t.finished, t.writes) for t in saved_tasks(before)] == [("b", False, ())]
    graph.update_state(config, {"log": ["edited"]})
    # The update's writes are saved on the checkpoint it was applied to.
    updated = saver.get_tuple(before.config)
    assert updated is not None
    tasks = {t.name: t for t in saved_tasks(updated)}
    assert set(tasks) == {"b", "__update__"}
    assert tasks["__update__"].finished
    assert ("log", ["edited"]) in tasks["__update__"].writes
    assert not tasks["b"].finished


def test_checkpoint_module_reexports() -> None:
    """saved_tasks and SavedTask stay importable from langgraph_runner._runs.checkpoint."""
    assert checkpoint.saved_tasks is saved_tasks
    assert checkpoint.SavedTask is SavedTask
