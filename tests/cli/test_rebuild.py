"""langgraph-runner plan / rebuild: a graph by module:attribute, a base run in a checkpointer."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from langgraph_runner._cli.main import main
from langgraph_runner._cli.rebuild import load_graph
from langgraph_runner._runs.checkpoint import open_checkpointer

GRAPH = """
from typing import TypedDict

from langgraph.cache.sqlite import SqliteCache
from langgraph.graph import START, StateGraph

from langgraph_runner import NodeCache, create_node

CACHE = SqliteCache(path={cache!r})


class State(TypedDict, total=False):
    x: int
    y: int
    a: int
    b: int
    c: int


def a(state: State) -> State:
    return {{"a": state["x"] % 2}}


def b(state: State) -> State:
    return {{"b": state["y"] + 1}}


def c(state: State) -> State:
    return {{"c": state["a"] + state["b"]}}


def build():
    g = StateGraph(State)
    g.add_node("a", create_node(a, cache=NodeCache(inputs=["x"], backend=CACHE, version="1")))
    g.add_node("b", create_node(b, cache=NodeCache(inputs=["y"], backend=CACHE, version="1")))
    g.add_node("c", create_node(c, cache=NodeCache(inputs=["a", "b"], backend=CACHE, version="1")))
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    g.add_edge(["a", "b"], "c")
    return g.compile()


graph = build()
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[str, str]:
    """A graph file and a checkpointer URL holding one completed base run on thread 'base'."""
    module = tmp_path / "pipeline_graph.py"
    module.write_text(textwrap.dedent(GRAPH.format(cache=str(tmp_path / "cache.db"))))
    url = f"sqlite:///{tmp_path}/cp.db"
    reference = f"{module}:graph"
    with open_checkpointer(url) as saver:
        graph = load_graph(reference).copy(update={"checkpointer": saver})
        graph.invoke({"x": 1, "y": 1}, {"configurable": {"thread_id": "base"}})
    return reference, url


def test_plan_prints_what_would_rerun(
    project: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """plan --input x=3: a certainly re-runs, c maybe, b is reused; nothing executes."""
    reference, url = project
    args = ["plan", "--graph", reference, "--thread", "base", "--checkpointer", url]
    assert main([*args, "--input", "x=3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("plan from thread base")
    rows = {line.split()[0]: line.split()[1] for line in lines[2:]}
    assert rows == {"a": "rerun", "c": "maybe", "b": "reused"}
    assert main([*args, "--input", "x=3", "--version", "b=2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rerun"] == ["a", "b"] and data["maybe"] == ["c"]
    assert data["input"] == {"x": 3, "y": 1}


def test_rebuild_runs_a_new_thread_and_reports_reuse(
    project: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """rebuild --input x=3: a executes, b and c (equal inputs after early cutoff) are reused."""
    reference, url = project
    args = ["rebuild", "--graph", reference, "--thread", "base", "--checkpointer", url]
    assert main([*args, "--input", "x=3", "--new-thread", "next", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["status"] == "completed" and data["run"]["thread_id"] == "next"
    assert data["executed"] == ["a"] and sorted(data["reused"]) == ["b", "c"]
    assert main([*args, "--input", "x=4", "--new-thread", "third"]) == 0
    out = capsys.readouterr().out
    assert "on thread third: completed" in out and "executed: a, c" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--thread", "nope"], "is not completed"),
        (["--thread", "base", "--input", "novalue"], "expected NAME=VALUE"),
        (["--thread", "base", "--version", "zz=2"], "no node 'zz'"),
    ],
)
def test_refusals_exit_2_with_a_message(
    project: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    """An unknown base thread, a malformed change or an unknown node: exit 2, no traceback."""
    reference, url = project
    assert main(["plan", "--graph", reference, "--checkpointer", url, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_bad_graph_reference_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """--graph without ':' or naming nothing importable is a usage error."""
    assert main(["plan", "--graph", "no_colon", "--thread", "t"]) == 2
    assert "MODULE:ATTR" in capsys.readouterr().err
    assert main(["plan", "--graph", "no_such_module_xyz:graph", "--thread", "t"]) == 2
    assert "cannot import" in capsys.readouterr().err
