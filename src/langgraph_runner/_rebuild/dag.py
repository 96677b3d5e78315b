"""DAG workflows: a graph meant to run each step once is refused if its edges loop.

LangGraph runs a graph with a cycle until ``recursion_limit`` and then raises
``GraphRecursionError`` mid-run. A build pipeline (fetch, parse, render, publish) is
meant to be a DAG: ``require_dag`` checks it where the workflow is defined, before
any run, and names the cycle. Every edge counts, the possible targets of a conditional
edge included (those its path map names); the start and end are left out.
"""

from __future__ import annotations

import graphlib
from typing import Any, TypeVar

from langgraph.graph import StateGraph

from langgraph_runner._records.exceptions import WorkflowCycleError

__all__ = ["WorkflowCycleError", "require_dag"]

_G = TypeVar("_G")
_TERMINALS = ("__start__", "__end__")


def _edges(graph: Any) -> list[tuple[str, str]]:
    builder = graph if isinstance(graph, StateGraph) else getattr(graph, "builder", None)
    if isinstance(builder, StateGraph):
        # The builder's wiring: every edge, joins and path-mapped branch targets too,
        # even between nodes the start does not reach (get_graph leaves those out).
        edges = [(str(a), str(b)) for a, b in builder.edges]
        edges += [(str(a), str(b)) for starts, b in builder.waiting_edges for a in starts]
        for source, branches in builder.branches.items():
            for branch in branches.values():
                edges += [(str(source), str(t)) for t in (branch.ends or {}).values()]
        return edges
    get_graph = getattr(graph, "get_graph", None)
    if not callable(get_graph):
        raise TypeError(
            f"require_dag: graph must be a StateGraph or a compiled graph, got {type(graph)!r}"
        )
    drawable = get_graph()
    ids = {key: node.name for key, node in drawable.nodes.items()}
    return [(ids.get(e.source, e.source), ids.get(e.target, e.target)) for e in drawable.edges]


def require_dag(graph: _G, *, name: str | None = None) -> _G:
    """Return ``graph`` if its edges make a DAG; refuse it naming a cycle otherwise.

    Args:
        graph: A ``StateGraph`` or a compiled graph.
        name: The workflow's name in the error (default: the graph's ``name``).

    Returns:
        ``graph`` itself, so a definition reads ``workflow = require_dag(builder.compile())``.

    Raises:
        WorkflowCycleError: The graph has a cycle (a node with an edge to itself too).
        TypeError: ``graph`` is neither a ``StateGraph`` nor a compiled graph.
    """
    label = name or str(getattr(graph, "name", None) or "graph")
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for source, target in _edges(graph):
        if source in _TERMINALS or target in _TERMINALS:
            continue
        if source == target:
            raise WorkflowCycleError(label, [source, source])
        sorter.add(target, source)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        found = [str(n) for n in exc.args[1]][:-1]  # in edge order, the first repeated
        first = found.index(min(found))  # the same cycle names itself the same way
        ring = found[first:] + found[:first]
        raise WorkflowCycleError(label, [*ring, ring[0]]) from None
    return graph
