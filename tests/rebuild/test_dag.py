"""Tests for langgraph_runner._rebuild.dag: a DAG workflow with a cycle is refused, named."""

from __future__ import annotations

import itertools
import operator
from typing import Annotated, Any, TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph

from langgraph_runner.runs import WorkflowCycleError, require_dag


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _node(name: str) -> Any:
    def body(state: S) -> dict[str, Any]:
        return {"log": [name]}

    return body


def _graph(edges: list[tuple[str, str]], nodes: list[str] | None = None) -> StateGraph[S]:
    g = StateGraph(S)
    names = nodes or sorted({n for e in edges for n in e})
    for n in names:
        g.add_node(n, _node(n))
    g.add_edge(START, names[0])
    for a, b in edges:
        g.add_edge(a, b)
    return g


def test_a_dag_is_returned_as_it_is() -> None:
    """examples/dag.py's shape passes; the same object comes back (compiled or not)."""
    g = _graph([("fetch", "parse"), ("parse", "stats"), ("parse", "charts"), ("charts", "render")])
    g.add_edge("stats", "render")
    g.add_edge("render", END)
    assert require_dag(g) is g
    compiled = g.compile()
    assert require_dag(compiled) is compiled


def test_a_cycle_is_refused_naming_it() -> None:
    g = _graph([("fetch", "parse"), ("parse", "render"), ("render", "parse")])
    with pytest.raises(WorkflowCycleError, match=r"'build' is not a DAG.*parse -> render -> parse"):
        require_dag(g.compile(name="build"))
    with pytest.raises(ValueError, match="not a DAG") as caught:  # a ValueError, as others
        require_dag(g, name="pipeline")
    assert isinstance(caught.value, WorkflowCycleError)
    assert caught.value.workflow == "pipeline"
    assert caught.value.cycle == ["parse", "render", "parse"]


def test_a_conditional_edges_possible_targets_count() -> None:
    """A router that may send render back to parse is a cycle too."""
    g = _graph([("fetch", "parse"), ("parse", "render")])
    g.add_conditional_edges("render", lambda s: END, ["parse", END])
    with pytest.raises(WorkflowCycleError, match="parse -> render -> parse"):
        require_dag(g)


def test_a_self_loop_is_a_cycle() -> None:
    g = _graph([("a", "b"), ("b", "b")])
    with pytest.raises(WorkflowCycleError, match=r"b -> b$"):
        require_dag(g)


def test_not_a_graph_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="require_dag: graph must be"):
        require_dag(object())


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=12))
def test_refused_exactly_when_a_cycle_exists(pairs: list[tuple[int, int]]) -> None:
    """For any wiring: refused iff the edges loop, and the named cycle is made of real edges."""
    edges = sorted({(f"n{a}", f"n{b}") for a, b in pairs})
    g = _graph(edges)
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)

    def reaches(src: str, dst: str) -> bool:
        seen, todo = set(), [src]
        while todo:
            for nxt in succ.get(todo.pop(), ()):
                if nxt == dst:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cyclic = any(reaches(n, n) for n in succ)
    if not cyclic:
        assert require_dag(g) is g
        return
    with pytest.raises(WorkflowCycleError) as caught:
        require_dag(g)
    cycle = caught.value.cycle
    assert cycle[0] == cycle[-1]
    assert all(b in succ.get(a, ()) for a, b in itertools.pairwise(cycle))
