"""Tests for langgraph_runner._runs.graph_shape: the graph's shape stored with each run.

A report read from a bare checkpoint saver (the CLI, another process) draws the graph's
real edges, conditional targets included, not the order the nodes ran in.
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner._cli.main import main
from langgraph_runner._reports.report import run_report
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._runs.graph_shape import SHAPES_TABLE, load_shape, shape_of
from langgraph_runner._runs.lifecycle import run
from langgraph_runner._runs.store_registry import open_run_store
from tests.services import postgres_url


class Build(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    broken: bool


def _step(name: str) -> Any:
    def node(state: Build) -> dict[str, Any]:
        if name == "summary" and state.get("broken"):
            raise RuntimeError("summary: the charts could not be read back from the store")
        return {"log": [name]}

    return node


def _route(state: Build) -> str:
    return "recover" if state.get("broken") else "done"


def dag() -> StateGraph[Build]:
    """examples/dag.py's wiring, plus a conditional branch at the end."""
    g = StateGraph(Build)
    for name in ("fetch", "parse", "charts", "index", "stats", "summary", "render"):
        g.add_node(name, _step(name))
    g.add_node("recover", _step("recover"))
    g.add_node("done", _step("done"))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "parse")
    for name in ("charts", "index", "stats"):
        g.add_edge("parse", name)
    g.add_edge(["charts", "index"], "summary")
    g.add_edge(["summary", "stats"], "render")
    g.add_conditional_edges("render", _route, ["recover", "done"])
    g.add_edge("recover", END)
    g.add_edge("done", END)
    return g


REAL = {
    "fetch->parse",
    "parse->charts",
    "parse->index",
    "parse->stats",
    "charts->summary",
    "index->summary",
    "summary->render",
    "stats->render",
    "render->recover",
    "render->done",
}


def _edges(page: str) -> set[str]:
    return set(re.findall(r'data-edge="([^"]+)"', page.replace("&gt;", ">")))


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        yield postgres_url()


def test_a_bare_saver_draws_the_graphs_real_edges(url: str) -> None:
    """Read by another reader with no graph, the picture has the real edges only."""
    thread = f"shape-{uuid.uuid4().hex}"
    with open_checkpointer(url) as saver:
        run(dag().compile(checkpointer=saver), {"log": []}, {"configurable": {"thread_id": thread}})
    with open_checkpointer(url) as saver:  # a fresh reader: no graph at hand
        report = run_report(saver, thread)
    page = report.to_html()
    drawn = _edges(page)
    assert drawn >= REAL
    # Not the execution order: stats ran beside charts and index, its edge goes to render.
    assert "stats->summary" not in drawn
    assert "edges: the graph" in page
    mermaid = report.to_mermaid()
    assert "stats --> render;" in mermaid
    assert "render -.-> recover;" in mermaid  # a conditional edge's possible target
    assert report.node("recover").status == "skipped"


def test_the_cli_draws_the_real_edges_of_a_failed_run(tmp_path: Path, capsys: Any) -> None:
    """The CLI's HTML report of a failed run: real edges, nodes not reached drawn pending."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    thread = f"shape-{uuid.uuid4().hex}"
    with open_checkpointer(url) as saver:
        graph = dag().compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": thread}}
        result = run(graph, {"log": [], "broken": True}, config, raise_on_error=False)
    assert result.status == "failed"
    assert main(["report", "--checkpointer", url, "--thread", thread, "--html"]) == 0
    page = capsys.readouterr().out
    # Exactly the graph's edges: no charts->__end__ after the failed step.
    assert _edges(page) == REAL | {"__start__->fetch", "recover->__end__", "done->__end__"}
    assert 'data-node="render" data-status="pending"' in page
    # The whole cause is in the failed box, not its first 20 characters.
    box = re.search(
        r'data-node="summary" data-status="failed" style="[^"]*height:(\d+)px">(.*?)</div>', page
    )
    assert box is not None
    cause = re.search(r'<span class="cause"[^>]*>([^<]*)</span>', box.group(2))
    assert cause is not None
    assert "summary: the charts could not be read back from the store" in cause.group(1)
    assert int(box.group(1)) > 62  # the box grows to hold it


def test_one_shape_row_per_distinct_graph(tmp_path: Path) -> None:
    """Ten runs of one graph store its shape once; the run rows name its digest."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_checkpointer(url) as saver:
        graph = dag().compile(checkpointer=saver)
        for _ in range(10):
            run(graph, {"log": []}, {"configurable": {"thread_id": uuid.uuid4().hex}})
        store = open_run_store(saver)
        assert store is not None
        try:
            (count,) = store.sql.run(f"SELECT COUNT(*) FROM {SHAPES_TABLE}")[1][0]
            digests = {r.shape for r in store.runs()}
            shape = shape_of(graph)
            assert shape is not None
            assert count == 1
            assert digests == {shape.digest}
            drawing = load_shape(store, shape.digest)
        finally:
            store.close()
    assert drawing is not None
    assert drawing["mermaid"] == graph.get_graph().draw_mermaid()


def test_a_graph_that_cannot_draw_itself_still_runs_and_reports(tmp_path: Path) -> None:
    """No shape (get_graph fails): the run is recorded, the picture follows the steps."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    thread = uuid.uuid4().hex
    with open_checkpointer(url) as saver:
        graph = dag().compile(checkpointer=saver)

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no drawing")

        object.__setattr__(graph, "get_graph", broken)
        assert run(graph, {"log": []}, {"configurable": {"thread_id": thread}}).status == (
            "completed"
        )
    with open_checkpointer(url) as saver:
        report = run_report(saver, thread)
    assert report.status == "completed"
    assert "edges: the execution order" in report.to_html()


def test_an_older_runs_table_gets_the_shape_column(tmp_path: Path) -> None:
    """A runs table made before shapes were stored is extended on first use."""
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE langgraph_runner_runs ("
        " run_id TEXT PRIMARY KEY, thread_id TEXT, tenant TEXT, graph TEXT,"
        " status TEXT NOT NULL, reason TEXT, started_at DOUBLE PRECISION NOT NULL,"
        " updated_at DOUBLE PRECISION NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0,"
        " cancel_reason TEXT, nodes TEXT)"
    )
    conn.commit()
    conn.close()
    thread = uuid.uuid4().hex
    with open_checkpointer(f"sqlite:///{path}") as saver:
        run(dag().compile(checkpointer=saver), {"log": []}, {"configurable": {"thread_id": thread}})
    with open_checkpointer(f"sqlite:///{path}") as saver:
        assert "stats --> render;" in run_report(saver, thread).to_mermaid()


def _tops(page: str) -> dict[str, int]:
    found = re.findall(r'data-node="([^"]+)"[^>]*?top:(\d+)px', page)
    return {name: int(top) for name, top in found}


def test_a_join_is_drawn_below_every_branch_it_joins(tmp_path: Path) -> None:
    """render joins summary (two layers down) and stats (one): it sits below summary, and
    every edge of the graph points down the page."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    thread = uuid.uuid4().hex
    with open_checkpointer(url) as saver:
        run(dag().compile(checkpointer=saver), {"log": []}, {"configurable": {"thread_id": thread}})
        page = run_report(saver, thread).to_html()
    top = _tops(page)
    assert top["summary"] < top["render"] < top["done"]
    for edge in REAL:
        a, b = edge.split("->")
        assert top[a] < top[b], edge


def test_a_loop_back_keeps_the_layers_of_the_forward_edges() -> None:
    """A conditional edge back up (a retry loop) does not push nodes down the page."""
    from langgraph_runner._reports.render import _layers

    edges = [
        ("__start__", "plan", False),
        ("plan", "act", False),
        ("act", "check", False),
        ("check", "plan", True),  # the loop back
        ("check", "__end__", True),
    ]
    names = ["__start__", "plan", "act", "check", "__end__"]
    assert _layers(names, edges, {}) == [["__start__"], ["plan"], ["act"], ["check"], ["__end__"]]
