"""The report types: ``NodeStatus``, ``NodeReport`` and ``RunReport``, and their renderings.

``run_report`` (``report``) builds them from a thread's checkpoints; ``RunReport``
renders itself through ``render`` (a text table, mermaid, HTML, Markdown).
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from langgraph_runner._reports.render import (
    render_html,
    render_markdown,
    render_mermaid,
    render_table,
)
from langgraph_runner._runs.status import RunStatus

__all__ = ["NodeReport", "NodeStatus", "RunReport"]


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


class NodeStatus(_StrEnum):
    """State of one node's latest execution on a thread."""

    SUCCEEDED = "succeeded"
    CACHED = "cached"
    REUSED = "reused"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    PENDING = "pending"
    INTERRUPTED = "interrupted"
    RUNNING = "running"


class NodeReport(BaseModel):
    """One node's line in a ``RunReport``."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: NodeStatus
    attempts: int = Field(ge=0, description="From its latest error record, else 1 if run, else 0.")
    runs: int = Field(ge=0, description="Executions that finished (loops and Send fan-out add up).")
    step: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: float | None = None
    error: str | None = Field(default=None, description="Sanitized exception the task raised.")
    cause: str | None = Field(
        default=None, description="Redacted cause of its failure (its record, else the exception)."
    )
    errors: list[dict[str, Any]] = Field(default_factory=list)
    artifacts: dict[str, str] = Field(
        default_factory=dict, description="Artifact name -> path, from its writes and records."
    )


class RunReport(BaseModel):
    """What happened on one thread: overall status and one entry per node."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    checkpoint_id: str
    status: RunStatus
    step: int
    started_at: str | None = None
    updated_at: str | None = None
    duration_ms: float | None = None
    blocked: bool = False
    next: list[str] = Field(default_factory=list)
    interrupts: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    nodes: list[NodeReport] = Field(default_factory=list)
    summary: dict[str, int] = Field(
        default_factory=dict, description="Node count per status (all nodes, even if filtered)."
    )
    artifacts: dict[str, str] = Field(default_factory=dict, description="Final artifact_paths.")
    run_id: str | None = Field(default=None, description="The run() that wrote the latest step.")
    tenant: str | None = None
    reason: str | None = Field(
        default=None, description="Why the run failed or was cancelled (the runs table)."
    )
    steps_total: int | None = Field(
        default=None, description="Steps (nodes) of the whole graph, when known."
    )
    steps_done: int = Field(
        default=0, description="Steps whose latest execution succeeded (cached and reused too)."
    )
    budgets: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Where each budget passed to run_report stands for this run, thread or "
        "tenant: name, per, scope_id, spent, remaining, exhausted.",
    )
    # The graph's drawing (nodes, edges, mermaid) when the report was built from a graph.
    _drawing: dict[str, Any] | None = PrivateAttr(default=None)
    # Every node, kept by ``filter`` so the picture still shows the whole run.
    _unfiltered: list[NodeReport] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # Reports are equal when their data is: the graph's drawing kept for the
        # picture (private) does not count.
        if not isinstance(other, RunReport):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def node(self, name: str) -> NodeReport:
        """Return the entry for node ``name`` (KeyError if it is not in the report)."""
        for entry in self.nodes:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def filter(self, *statuses: NodeStatus | str) -> RunReport:
        """Return a copy listing only the nodes in ``statuses`` (``summary`` still counts all).

        Args:
            *statuses: ``NodeStatus`` members or their values (``"failed"``).

        Returns:
            The filtered copy; its picture (``to_mermaid``, ``to_html``) still shows every node.

        Raises:
            ValueError: A status that is not a ``NodeStatus`` value.
        """
        wanted = {NodeStatus(s) for s in statuses}
        kept = [n for n in self.nodes if n.status in wanted]
        copy = self.model_copy(update={"nodes": kept})
        copy._drawing = self._drawing
        copy._unfiltered = self._unfiltered if self._unfiltered is not None else list(self.nodes)
        return copy

    def to_table(self) -> str:
        """Render a fixed-width text table, one row per node, with the summary counts."""
        return render_table(self)

    def to_mermaid(self) -> str:
        """Draw the run as a mermaid flowchart, each node coloured by its status.

        Built on LangGraph's own ``get_graph().draw_mermaid()`` when the report was
        made from a compiled graph, or from the shape ``run()`` stored when the run
        started; otherwise from the report's steps (edges then follow the execution
        order, step to step).
        """
        return render_mermaid(self)

    def to_html(self) -> str:
        """Render a self-contained HTML page (no scripts, no network) of the run."""
        return render_html(self)

    def _repr_html_(self) -> str:
        return render_html(self, fragment=True)

    def _repr_markdown_(self) -> str:
        return render_markdown(self)
