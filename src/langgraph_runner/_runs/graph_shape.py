"""The graph's shape, stored with each run, so any process draws the real edges.

Only the compiled graph knows its wiring (``graph.get_graph()``): a report read from a
bare checkpoint saver (the CLI, another process) would otherwise draw the execution
order. ``run()`` therefore stores the shape (node names, edges with the possible targets
of conditional edges, LangGraph's mermaid text) when a run starts: once per distinct
shape, in the ``langgraph_runner_graph_shapes`` table beside the runs table (keyed by
the digest of its JSON), and the run's row names that digest (its ``shape`` column).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

from langgraph_runner._db.connection import rows_creating
from langgraph_runner._runs.run_store import RunStore

__all__ = [
    "SHAPES_TABLE",
    "Shape",
    "graph_drawing",
    "load_shape",
    "record_shape",
    "save_shape",
    "shape_of",
    "shape_saved",
]

SHAPES_TABLE = "langgraph_runner_graph_shapes"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SHAPES_TABLE} (digest TEXT PRIMARY KEY, shape TEXT NOT NULL)",
)


class Shape:
    """A graph's drawing (``nodes``, ``edges``, ``mermaid``) as JSON text and its digest."""

    __slots__ = ("digest", "text")

    def __init__(self, drawing: dict[str, Any]) -> None:
        self.text = json.dumps(drawing, sort_keys=True, separators=(",", ":"))
        self.digest = hashlib.sha256(self.text.encode()).hexdigest()[:32]


_BY_GRAPH: weakref.WeakKeyDictionary[Any, Shape | None] = weakref.WeakKeyDictionary()
_SAVED: set[tuple[Any, str]] = set()  # (store key, digest) this process wrote
_GUARD = threading.Lock()


def shape_of(graph: Any) -> Shape | None:
    """The shape of a compiled graph (computed once per graph object); None if it cannot draw."""
    try:
        return _BY_GRAPH[graph]
    except (KeyError, TypeError):
        pass
    drawing = graph_drawing(graph) if callable(getattr(graph, "get_graph", None)) else None
    shape = None if drawing is None else Shape(drawing)
    with contextlib.suppress(TypeError):  # not weak-referenceable: computed again next time
        _BY_GRAPH[graph] = shape
    return shape


def _run(store: RunStore, sql: str, params: tuple[Any, ...]) -> list[Any]:
    return rows_creating(store.sql, _DDL, SHAPES_TABLE, sql, params)


def save_shape(store: RunStore, shape: Shape) -> str:
    """Store ``shape`` in the store's database (once per process and database); its digest."""
    # A kept store (a file or server) remembers what it wrote; a process-local one
    # (an in-memory saver) may reuse an id, so it writes each time (no round trip).
    if _known(store, shape):
        return shape.digest
    _run(
        store,
        f"INSERT INTO {SHAPES_TABLE} (digest, shape) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
        (shape.digest, shape.text),
    )
    if store.shared:
        with _GUARD:
            _SAVED.add((store.key, shape.digest))
    return shape.digest


def _known(store: RunStore, shape: Shape) -> bool:
    """Whether this process wrote ``shape`` to the store's database already."""
    if not store.shared:
        return False
    with _GUARD:
        return (store.key, shape.digest) in _SAVED


def shape_saved(store: RunStore, graph: Any) -> bool:
    """Whether ``record_shape`` of ``graph`` would write nothing (no round trip)."""
    shape = shape_of(graph)
    return shape is None or _known(store, shape)


def load_shape(store: RunStore, digest: str) -> dict[str, Any] | None:
    """The drawing stored under ``digest`` (None if there is none or it is unreadable)."""
    rows = _run(store, f"SELECT shape FROM {SHAPES_TABLE} WHERE digest = ?", (digest,))
    if not rows:
        return None
    row = rows[0]
    text = row["shape"] if isinstance(row, dict) else row[0]
    try:
        drawing = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(drawing, dict) or not {"nodes", "edges", "mermaid"} <= drawing.keys():
        return None
    drawing["edges"] = [tuple(e) for e in drawing["edges"]]
    return drawing


def record_shape(
    store: RunStore, graph: Any, on_error: Callable[[Exception, str], None]
) -> str | None:
    """Store ``graph``'s shape for a run starting; its digest, or None (no shape, or
    ``on_error(exc, "shape")`` was told why: the picture then follows the steps)."""
    shape = shape_of(graph)
    if shape is None:
        return None
    try:
        return save_shape(store, shape)
    except Exception as exc:  # bookkeeping: the run goes on
        on_error(exc, "shape")
        return None


def graph_drawing(graph: Any) -> dict[str, Any] | None:
    """Node names, edges and LangGraph's mermaid text of a compiled graph (None if unavailable)."""
    try:
        drawable = graph.get_graph()
        mermaid = drawable.draw_mermaid()
    except Exception:  # a graph that cannot draw itself still gets a report
        return None
    names = [node.name for node in drawable.nodes.values()]
    ids = {key: node.name for key, node in drawable.nodes.items()}
    edges = [
        (ids.get(e.source, e.source), ids.get(e.target, e.target), bool(e.conditional))
        for e in drawable.edges
    ]
    return {"nodes": names, "edges": edges, "mermaid": mermaid}
