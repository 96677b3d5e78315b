"""history: the base run of a rebuild is the run named, never a later one on its thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.cache.memory import InMemoryCache
from langgraph.graph import END, START, StateGraph

from langgraph_runner import NodeCache, create_node
from langgraph_runner._rebuild.history import read_base_run, run_checkpoint
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner.runs import Change, plan, rebuild, run
from tests import services


class Doc(TypedDict, total=False):
    source: str
    title: str
    words: int
    page: str


def _doc_graph(saver: Any) -> Any:
    """parse (cached on source) -> render (cached on title and words)."""
    backend: InMemoryCache[Any] = InMemoryCache()

    def parse(state: Doc) -> Doc:
        return {"words": len(state["source"].split())}

    def render(state: Doc) -> Doc:
        return {"page": f"{state['title']}: {state['words']} words"}

    g = StateGraph(Doc)
    g.add_node("parse", create_node(parse, cache=NodeCache(inputs=["source"], backend=backend)))
    g.add_node(
        "render", create_node(render, cache=NodeCache(inputs=["title", "words"], backend=backend))
    )
    g.add_edge(START, "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    return g.compile(checkpointer=saver)


@pytest.fixture(params=["sqlite", "postgres"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        url = services.postgres_url()
    with open_checkpointer(url) as found:
        yield found


def test_a_rebuild_of_the_first_run_plans_and_runs_from_the_first_run(saver: Any) -> None:
    """Two runs on one thread: the first one's last checkpoint names it as the base run."""
    import uuid

    graph = _doc_graph(saver)
    thread = f"history-{uuid.uuid4().hex}"
    new_thread = f"{thread}-rebuilt"
    cfg: Any = {"configurable": {"thread_id": thread}}
    try:
        first = run(graph, {"source": "a b c", "title": "Old"}, cfg)
        second = run(graph, {"source": "x y", "title": "Other"}, cfg)
        at = run_checkpoint(saver, thread, first.run_id)
        assert at is not None and at != run_checkpoint(saver, thread, second.run_id)
        assert run_checkpoint(saver, thread, "no-such-run") is None
        base: Any = {"configurable": {"thread_id": thread, "checkpoint_id": at}}
        assert read_base_run(graph, base).input == {"source": "a b c", "title": "Old"}
        the_plan = plan(graph, base, Change(inputs={"title": "New"}))
        assert dict(the_plan.input) == {"source": "a b c", "title": "New"}
        assert (the_plan.base_checkpoint_id, the_plan.rerun) == (at, ("render",))
        done = rebuild(
            graph,
            base,
            Change(inputs={"title": "New"}),
            {"configurable": {"thread_id": new_thread}},
        )
        assert done.run.output["page"] == "New: 3 words"
        assert done.executed == ("render",)
    finally:
        saver.delete_thread(thread)
        saver.delete_thread(new_thread)
