"""Tests for langgraph_runner._reports.render: the run drawn as mermaid, HTML and Markdown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner._reports.render import STATUS_COLOURS
from langgraph_runner._reports.report import NodeStatus, RunReport, run_report
from langgraph_runner._runs.checkpoint import open_checkpointer
from tests.browser import LAUNCH_ARGS
from tests.browser import chromium as _chromium
from tests.browser import hex_rgb as _hex
from tests.browser import png_pixel as _png_pixel
from tests.reports.test_report import ArtifactState, Behaviour, State, build


@pytest.fixture
def saver() -> Iterator[SqliteSaver]:
    """An in-memory SQLite saver."""
    with open_checkpointer("sqlite:///:memory:") as cp:
        assert isinstance(cp, SqliteSaver)
        yield cp


def _blocked(saver: SqliteSaver) -> tuple[Any, str]:
    graph = build(Behaviour("blocked")).compile(checkpointer=saver)
    thread = f"render-{uuid.uuid4().hex}"
    graph.invoke(State(log=[]), {"configurable": {"thread_id": thread}})
    return graph, thread


def _classes(mermaid: str) -> dict[str, str]:
    return dict(re.findall(r"^\tclass (\S+) (\S+)$", mermaid, flags=re.MULTILINE))


def test_mermaid_from_graph_is_langgraphs_drawing_plus_status_classes(
    saver: SqliteSaver,
) -> None:
    """With the graph, the mermaid is LangGraph's own drawing with a class per node status."""
    graph, thread = _blocked(saver)
    report = run_report(graph, thread)
    mermaid = report.to_mermaid()
    assert mermaid.startswith(graph.get_graph().draw_mermaid().rstrip())
    for status in STATUS_COLOURS:
        assert f"classDef {status} " in mermaid
    assert _classes(mermaid) == {n.name: n.status.value for n in report.nodes}


def test_mermaid_from_saver_follows_the_steps(saver: SqliteSaver) -> None:
    """Without the graph, nodes are linked step to step from the start to the end."""
    _, thread = _blocked(saver)
    mermaid = run_report(saver, thread).to_mermaid()
    edges = set(re.findall(r"^\t(\S+) --> (\S+);$", mermaid, flags=re.MULTILINE))
    assert {("__start__", "a"), ("a", "mid"), ("a", "p1"), ("p1", "join")} <= edges
    assert ("join", "__end__") in edges
    assert _classes(mermaid) == {"a": "succeeded", "mid": "failed", "p1": "succeeded",
                                 "join": "succeeded"}  # fmt: skip


def test_unreached_graph_nodes_are_pending_while_the_run_waits(saver: SqliteSaver) -> None:
    """Nodes the waiting run has not reached yet are drawn pending; the waiting node interrupted."""
    graph = build(Behaviour("ask")).compile(checkpointer=saver)
    graph.invoke(State(log=[]), {"configurable": {"thread_id": "wait"}})
    classes = _classes(run_report(graph, "wait").to_mermaid())
    assert classes["mid"] == "interrupted"
    assert classes["join"] == classes["z"] == "pending"
    assert classes["a"] == "succeeded"


def test_filter_keeps_the_whole_picture(saver: SqliteSaver) -> None:
    """A status-filtered report lists fewer rows but still draws every node."""
    graph, thread = _blocked(saver)
    full = run_report(graph, thread)
    only = run_report(graph, thread, status=["failed"])
    assert [n.name for n in only.nodes] == ["mid"]
    assert only.to_mermaid() == full.to_mermaid()


def test_html_is_self_contained(saver: SqliteSaver) -> None:
    """The page has no script and loads nothing: every node is a box with its status."""
    graph, thread = _blocked(saver)
    report = run_report(graph, thread)
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for n in report.nodes:
        assert f'data-node="{n.name}" data-status="{n.status.value}"' in page


def test_jupyter_reprs(saver: SqliteSaver) -> None:
    """Jupyter gets an HTML fragment and Markdown with the table and the mermaid picture."""
    graph, thread = _blocked(saver)
    report = run_report(graph, thread)
    fragment = report._repr_html_()
    assert fragment.startswith('<div class="lgr">') and "<html" not in fragment
    markdown = report._repr_markdown_()
    assert "| mid | failed | 3 |" in markdown
    assert "```mermaid\n" in markdown and "\tclass mid failed" in markdown


def test_html_escapes_names_and_errors(tmp_path: Path) -> None:
    """Node names and error text are escaped, never markup."""
    builder: StateGraph[ArtifactState] = StateGraph(ArtifactState)
    builder.add_node("<b>x</b>", lambda s: {"log": ["x"]})
    builder.add_edge(START, "<b>x</b>")
    builder.add_edge("<b>x</b>", END)
    with open_checkpointer(f"sqlite:///{tmp_path}/cp.db") as cp:
        builder.compile(checkpointer=cp).invoke(ArtifactState(log=[]), _cfg("esc"))
        page = run_report(cp, "esc").to_html()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def _cfg(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.parametrize("source", ["graph", "saver"])
def test_html_in_a_real_browser_shows_every_node_and_status(
    saver: SqliteSaver, tmp_path: Path, source: str
) -> None:
    """Headless chromium opens the page offline and shows each node with its status."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    graph, thread = _blocked(saver)
    report: RunReport = run_report(graph if source == "graph" else saver, thread)
    page_file = tmp_path / "run.html"
    page_file.write_text(report.to_html(), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            assert "blocked" in page.title()
            shown = {}
            for box in page.locator("div.node").all():
                assert box.is_visible()
                name, status = box.inner_text().splitlines()[:2]
                shown[name] = status
                # The status colour is what the legend promises.
                fill = STATUS_COLOURS[status][0]
                assert box.get_attribute("style", timeout=1000).startswith(f"background:{fill}")
            expected = {n.name: n.status.value for n in report.nodes}
            if source == "saver":
                assert NodeStatus.SKIPPED.value not in shown.values()
            assert shown == expected
            rows = page.locator("tbody tr").all_inner_texts()
            assert len(rows) == len(report.nodes)
            assert requests == [page_file.as_uri()]
        finally:
            browser.close()


def test_mermaid_from_a_graph_escapes_hostile_node_names(saver: SqliteSaver) -> None:
    """A node name that would break out of its mermaid label is drawn escaped, one line each."""
    hostile = 'x"]; click x href "https"; y["\nz\u202e'

    def node(state: State) -> dict[str, Any]:
        return {}

    builder = StateGraph(State)
    builder.add_node(hostile, node)
    builder.add_edge(START, hostile)
    builder.add_edge(hostile, END)
    graph = builder.compile(checkpointer=saver)
    graph.invoke(State(log=[]), {"configurable": {"thread_id": "hostile"}})
    mermaid = run_report(graph, "hostile").to_mermaid()
    assert '"https"' not in mermaid and "\u202e" not in mermaid
    assert not any(line.startswith("z") for line in mermaid.splitlines())


def test_html_draws_branches_joins_timeline_and_causes_in_a_browser(tmp_path: Path) -> None:
    """A screenshot in chromium: the graph's real edges (a branch, a join), bars, causes."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    from langgraph_runner import GraphState, create_node, route_on_blocked
    from langgraph_runner.runs import run

    def ok(state: Any) -> Any:
        return {}

    def down(state: Any) -> Any:
        raise ConnectionError("translate: upstream down, api_key=sk-live-1234567890abcdef")

    g = StateGraph(GraphState)
    for name, fn in (("fetch", ok), ("summarize", ok), ("translate", down), ("join", ok)):
        g.add_node(name, create_node(fn, name=name))
    g.add_node("publish", create_node(ok, name="publish"))
    g.add_node("recover", create_node(ok, name="recover"))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "summarize")
    g.add_edge("fetch", "translate")
    g.add_edge(["summarize", "translate"], "join")
    g.add_conditional_edges("join", route_on_blocked("publish", "recover"))
    g.add_edge("publish", END)
    g.add_edge("recover", END)
    with open_checkpointer(f"sqlite:///{tmp_path / 'r.db'}") as saver:
        graph = g.compile(checkpointer=saver)
        config: RunnableConfig = {"configurable": {"thread_id": "pic"}}
        run(graph, {}, config, on_step_failure="continue")
        report = run_report(graph, "pic")
    page_file = tmp_path / "run.html"
    page_file.write_text(report.to_html(), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.goto(page_file.as_uri())
            shot = page.screenshot(full_page=True)
            (tmp_path / "run.png").write_bytes(shot)
            edges = set(page.locator("svg path[data-edge]").evaluate_all(
                "els => els.map(e => e.getAttribute('data-edge'))"
            ))  # fmt: skip
            # The fan-out, the join and both branches of route_on_blocked are drawn.
            assert {"fetch->summarize", "fetch->translate"} <= edges
            assert {"summarize->join", "translate->join"} <= edges
            assert {"join->publish", "join->recover"} <= edges
            # Each box sits in the screenshot in its status's colour.
            for node in ("fetch", "translate", "recover"):
                box = page.locator(f'div.node[data-node="{node}"]').bounding_box()
                assert box is not None
                pixel = _png_pixel(shot, int(box["x"] + 6), int(box["y"] + box["height"] - 6))
                status = report.node(node).status.value
                assert pixel == _hex(STATUS_COLOURS[status][0]), (node, status, pixel)
            # A join is drawn below both of its branches.
            top = {
                n: page.locator(f'div.node[data-node="{n}"]').bounding_box()["y"]  # type: ignore[index]
                for n in ("fetch", "summarize", "translate", "join")
            }
            assert top["fetch"] < top["summarize"] == top["translate"] < top["join"]
            # The failed step shows its redacted cause, in its box and its table row.
            cause = page.locator('div.node[data-node="translate"] .cause').inner_text()
            assert cause.startswith("ConnectionError: translate: upstream down")
            assert "sk-live" not in page.content()
            # A timeline bar per step that ran, later steps further right.
            bars = {
                n: page.locator(f'.timeline .row[data-node="{n}"] .bar').bounding_box()
                for n in ("fetch", "join")
            }
            assert all(b is not None and b["width"] > 0 for b in bars.values())
            assert bars["fetch"]["x"] < bars["join"]["x"]  # type: ignore[index]
        finally:
            browser.close()
