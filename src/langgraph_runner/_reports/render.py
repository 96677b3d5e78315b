"""Render a ``_ReportView``: a text table, a mermaid flowchart, an offline HTML page, Markdown.

Each node is coloured by its status. With the compiled graph at hand (the report
was built by ``run_report(graph, ...)``), the picture is LangGraph's own drawing
(``graph.get_graph().draw_mermaid()``) with one ``classDef`` per status; without
it (a bare checkpoint saver, the CLI) it is drawn from the report's own steps, and
its edges follow the execution order, step to step, not the graph's wiring.

The HTML page needs no network and runs no script: the graph is drawn as HTML
boxes, one row per layer (longest distance from the start), followed by the node table.
"""

from __future__ import annotations

import graphlib
import html
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from langgraph_runner._records.sanitize import escape_controls
from langgraph_runner._reports.html import CSS as _PICTURE_CSS
from langgraph_runner._reports.html import draw_graph, draw_timeline

__all__ = [
    "STATUS_COLOURS",
    "render_html",
    "render_markdown",
    "render_mermaid",
    "render_table",
]


# What is read from a report. Protocols rather than imports: ``report`` imports this
# module, so this one must not import ``report`` (no import circles).
class _NodeView(Protocol):
    """The fields of ``langgraph_runner._reports.report.NodeReport`` the renderers read."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> Any: ...
    @property
    def attempts(self) -> int: ...
    @property
    def runs(self) -> int: ...
    @property
    def step(self) -> int | None: ...
    @property
    def started_at(self) -> str | None: ...
    @property
    def duration_ms(self) -> float | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def cause(self) -> str | None: ...
    @property
    def errors(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def artifacts(self) -> Mapping[str, str]: ...


class _ReportView(Protocol):
    """The fields of ``langgraph_runner._reports.report.RunReport`` the renderers read."""

    @property
    def thread_id(self) -> str: ...
    @property
    def status(self) -> Any: ...
    @property
    def step(self) -> int: ...
    @property
    def duration_ms(self) -> float | None: ...
    @property
    def next(self) -> Sequence[str]: ...
    @property
    def interrupts(self) -> Sequence[Any]: ...
    @property
    def nodes(self) -> Sequence[_NodeView]: ...
    @property
    def summary(self) -> Mapping[str, int]: ...


# Node status -> (fill, stroke, text colour).
STATUS_COLOURS: dict[str, tuple[str, str, str]] = {
    "succeeded": ("#d3f9d8", "#2b8a3e", "#1b4d26"),
    "cached": ("#d0ebff", "#1c7ed6", "#0b3d6b"),
    "reused": ("#e5dbff", "#7048e8", "#3b1f8c"),
    "failed": ("#ffe3e3", "#c92a2a", "#6b1111"),
    "cancelled": ("#ffe8cc", "#d9480f", "#6b2405"),
    "interrupted": ("#fff3bf", "#e67700", "#5c3200"),
    "pending": ("#f1f3f5", "#868e96", "#343a40"),
    "running": ("#c5f6fa", "#0c8599", "#0b4a52"),
    "skipped": ("#ffffff", "#ced4da", "#868e96"),
}
_START, _END = "__start__", "__end__"


def _safe_id(label: str) -> str:
    # The node ids LangChain's draw_mermaid writes (graph_mermaid._to_safe_id).
    allowed = string.ascii_letters + string.digits + "_-"
    return "".join(ch if ch in allowed else "\\" + format(ord(ch), "x") for ch in label)


def _plain_name(name: str) -> bool:
    """Whether ``name`` is safe in a mermaid label as it is (letters, digits, ``_ -.``)."""
    return bool(_PLAIN.fullmatch(name))


_PLAIN = re.compile(r"[A-Za-z0-9_. -]*")


def _statuses(report: _ReportView) -> dict[str, str]:
    return {n.name: str(n.status) for n in _all_nodes(report)}


def _all_nodes(report: _ReportView) -> list[_NodeView]:
    full = getattr(report, "_unfiltered", None)
    return list(full) if full is not None else list(report.nodes)


def _from_steps(report: _ReportView) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """Nodes and execution-order edges (every node of a step to every node of the next)."""
    nodes = _all_nodes(report)
    by_step: dict[int, list[str]] = {}
    for n in nodes:
        if n.step is not None:
            by_step.setdefault(n.step, []).append(n.name)
    layers = [by_step[k] for k in sorted(by_step)]
    edges: list[tuple[str, str, bool]] = []
    prev = [_START]
    for layer in layers:
        edges += [(a, b, False) for a in prev for b in layer]
        prev = layer
    if report.status in ("completed", "blocked", "cancelled"):
        edges += [(a, _END, False) for a in prev if a != _START]
    names = [_START, *(n.name for n in nodes)]
    if any(b == _END for _, b, _ in edges):
        names.append(_END)
    return names, edges


def _picture(report: _ReportView) -> tuple[list[str], list[tuple[str, str, bool]], bool]:
    drawing = getattr(report, "_drawing", None)
    if drawing:
        return list(drawing["nodes"]), [tuple(e) for e in drawing["edges"]], True
    names, edges = _from_steps(report)
    return names, edges, False


def _status_of(name: str, statuses: dict[str, str], report: _ReportView) -> str | None:
    if name in (_START, _END):
        return None
    if name in statuses:
        return statuses[name]
    # A graph node the run has not reached yet.
    done = str(report.status) in ("completed", "blocked", "cancelled")
    return "skipped" if done else "pending"


def render_mermaid(report: _ReportView) -> str:
    """A mermaid flowchart of the run, each node in its status's class."""
    statuses = _statuses(report)
    drawing = getattr(report, "_drawing", None)
    if drawing and all(_plain_name(n) for n in drawing["nodes"]):
        lines = [drawing["mermaid"].rstrip()]
        names = list(drawing["nodes"])
    else:
        # LangChain writes node names into its mermaid text as they are: a name that
        # is not plain is drawn here instead, its label escaped.
        names, edges = _picture(report)[:2] if drawing else _from_steps(report)
        lines = ["graph TD;"]
        for name in names:
            label = html.escape(escape_controls(name)).replace("#", "&#35;")
            shape = f"(<p>{label}</p>)" if name in (_START, _END) else f"({label})"
            lines.append(f"\t{_safe_id(name)}{shape}")
        lines += [f"\t{_safe_id(a)} --> {_safe_id(b)};" for a, b, _ in edges]
    for key, (fill, stroke, colour) in STATUS_COLOURS.items():
        lines.append(f"\tclassDef {key} fill:{fill},stroke:{stroke},color:{colour}")
    for name in names:
        status = _status_of(name, statuses, report)
        if status is not None:
            lines.append(f"\tclass {_safe_id(name)} {status}")
    return "\n".join(lines) + "\n"


def _longest(edges: Sequence[tuple[str, str, bool]]) -> dict[str, int]:
    """Longest distance from the start of each node it reaches, over the forward edges
    (a depth-first walk leaves out the edges that loop back to a node on its path)."""
    succ: dict[str, list[str]] = {}
    for a, b, _ in edges:
        if b != _END:
            succ.setdefault(a, []).append(b)
    on_path, done = {_START}, set()
    preds: dict[str, set[str]] = {_START: set()}
    stack = [(_START, iter(succ.get(_START, ())))]
    while stack:
        node, targets = stack[-1]
        nxt = next(targets, None)
        if nxt is None:
            on_path.discard(node)
            done.add(node)
            stack.pop()
        elif nxt not in on_path:  # not a loop back
            preds.setdefault(nxt, set()).add(node)
            if nxt not in done:
                on_path.add(nxt)
                stack.append((nxt, iter(succ.get(nxt, ()))))
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(preds)
    depth: dict[str, int] = {}
    for name in sorter.static_order():
        depth[name] = max((depth[p] + 1 for p in preds.get(name, ())), default=0)
    return depth


def _layers(
    names: Sequence[str], edges: Sequence[tuple[str, str, bool]], steps: dict[str, int]
) -> list[list[str]]:
    """Group nodes by their longest distance from the start (loops left out).

    So every forward edge points down a layer or more: a node joining a short and a
    long branch sits below both. A node the drawn edges do not reach (a conditional
    edge without a path map) goes where it ran (its step), else after the others; the
    end goes last.
    """
    depth = _longest(edges)
    for name in names:
        if name not in depth and name in steps:
            depth[name] = steps[name] + 1
    last = max(depth.values(), default=0) + 1
    for name in names:
        if name != _END:
            depth.setdefault(name, last)
    depth[_END] = max(depth.values()) + 1
    layers: dict[int, list[str]] = {}
    for name in names:
        layers.setdefault(depth[name], []).append(name)
    return [layers[k] for k in sorted(layers)]


def _row(n: _NodeView, width: int | None = 60) -> tuple[str, ...]:
    err = n.error or ""
    cause = getattr(n, "cause", None)
    if n.errors:
        # The code and the redacted cause itself, not only "failed after 3 attempt(s)".
        last = n.errors[-1]
        err = f"{last.get('code', '')}: {cause or last.get('message', '')}".strip(": ")
    elif cause:
        err = cause
    if width is not None and len(err) > width:
        err = err[: width - 3] + "..."
    dur = "" if n.duration_ms is None else f"{n.duration_ms:.1f}"
    step = "" if n.step is None else str(n.step)
    started = n.started_at or ""
    name, err = escape_controls(n.name), escape_controls(err)
    return (name, str(n.status), str(n.attempts), str(n.runs), step, started, dur, err)


def _progress(report: _ReportView) -> str:
    """``", 3 of 13 steps done"`` when the whole graph's step count is known."""
    total = getattr(report, "steps_total", None)
    if not total:
        return ""
    return f", {getattr(report, 'steps_done', 0)} of {total} steps done"


def _summary(report: _ReportView) -> str:
    return ", ".join(f"{count} {status}" for status, count in report.summary.items() if count)


def render_table(report: _ReportView) -> str:
    """A fixed-width text table, one row per node, then the summary counts."""
    # Data (thread id, reason) is shown with its control characters escaped.
    head = f"thread {escape_controls(report.thread_id)}: {report.status} at step {report.step}"
    if report.duration_ms is not None:
        head += f", {report.duration_ms:.0f} ms"
    head += _progress(report)
    reason = getattr(report, "reason", None)
    if reason:
        head += f"\nreason: {escape_controls(reason)}"
    cols = ("NODE", "STATUS", "ATTEMPTS", "RUNS", "STEP", "STARTED", "DURATION_MS", "ERROR")
    rows = [cols] + [_row(n) for n in report.nodes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = [head, ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("")
    if report.summary:
        lines.append(f"summary: {_summary(report)}")
    if report.next:
        lines.append(f"next: {escape_controls(', '.join(report.next))}")
    if report.interrupts:
        lines.append(f"pending interrupts: {len(report.interrupts)}")
    for n in report.nodes:
        for name, path in n.artifacts.items():
            lines.append(escape_controls(f"artifact: {n.name} {name} = {path}"))
    return "\n".join(lines).rstrip("\n") + "\n"


def render_markdown(report: _ReportView) -> str:
    """A Markdown summary and node table (what Jupyter shows for ``_repr_markdown_``)."""
    out = [f"**Run `{report.thread_id}`: {report.status}** at step {report.step}", ""]
    if report.summary:
        out += [_summary(report), ""]
    out += ["| node | status | attempts | runs | step | error |", "|---|---|---|---|---|---|"]
    for n in report.nodes:
        name, status, attempts, runs, step, _, _, err = _row(n)
        err = err.replace("|", "\\|")
        out.append(f"| {name} | {status} | {attempts} | {runs} | {step} | {err} |")
    out += ["", "```mermaid", render_mermaid(report).rstrip(), "```"]
    return "\n".join(out) + "\n"


_CSS = """
.lgr{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#212529}
.lgr h1{font-size:1.3em;margin:.2em 0}
.lgr .layer{display:flex;flex-wrap:wrap;gap:12px;justify-content:center;margin:4px 0}
.lgr .arrow{text-align:center;color:#868e96;font-size:1.2em;line-height:1.2}
.lgr .node{border:2px solid;border-radius:8px;padding:6px 12px;min-width:8em;text-align:center}
.lgr .node .name{font-weight:600;display:block}
.lgr .node .status{font-size:.85em;display:block}
.lgr .node .to{font-size:.75em;color:#495057;display:block}
.lgr .term{border:1px dashed #adb5bd;border-radius:1em;padding:2px 10px;color:#495057}
.lgr table{border-collapse:collapse;margin-top:1em;font-size:.9em}
.lgr th,.lgr td{border:1px solid #dee2e6;padding:3px 8px;text-align:left;vertical-align:top}
.lgr .legend span{border:2px solid;border-radius:4px;padding:0 6px;margin-right:6px}
"""


def render_html(report: _ReportView, *, fragment: bool = False) -> str:
    """The run as HTML: header, coloured graph, node table. No script, no network.

    Args:
        report: The run report.
        fragment: Return a ``<div>`` for embedding (Jupyter) instead of a whole page.
    """
    statuses = _statuses(report)
    names, edges, from_graph = _picture(report)
    title = f"Run {report.thread_id}: {report.status}"
    css = _CSS + _PICTURE_CSS
    parts = [f'<div class="lgr"><style>{css}</style>', f"<h1>{html.escape(title)}</h1>"]
    facts = f"step {report.step}"
    if report.duration_ms is not None:
        facts += f", {report.duration_ms:.0f} ms"
    facts += _progress(report)
    if report.summary:
        facts += f"; {_summary(report)}"
    parts.append(f'<p class="facts">{html.escape(facts)}</p>')
    reason = getattr(report, "reason", None)
    if reason:
        parts.append(f'<p class="reason">reason: {html.escape(reason)}</p>')
    legend = "".join(
        f'<span style="background:{f};border-color:{s};color:{c}">{st}</span>'
        for st, (f, s, c) in STATUS_COLOURS.items()
    )
    how = "the graph" if from_graph else "the execution order (step by step)"
    parts.append(f'<p class="legend">{legend} <small>edges: {how}</small></p>')
    steps = {n.name: n.step for n in _all_nodes(report) if n.step is not None}
    layers = _layers(names, edges, steps)
    shown = {n: _status_of(n, statuses, report) for layer in layers for n in layer}
    causes = {n.name: n.cause for n in _all_nodes(report) if getattr(n, "cause", None)}
    parts.append(draw_graph(layers, edges, shown, causes, STATUS_COLOURS))
    parts.append(draw_timeline(_all_nodes(report), STATUS_COLOURS))
    head = "".join(f"<th>{c}</th>" for c in ("node", "status", "attempts", "runs", "step"))
    rows = []
    for n in report.nodes:
        name, status, attempts, runs, step, _, dur, err = _row(n, None)  # the whole cause
        arts = "<br>".join(html.escape(f"{k}: {v}") for k, v in n.artifacts.items())
        cells = (name, status, attempts, runs, step, dur, err)
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        rows.append(f'<tr data-node="{html.escape(name)}">{tds}<td>{arts}</td></tr>')
    head += "<th>duration ms</th><th>error</th><th>artifacts</th>"
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    parts.append("</div>")
    body = "\n".join(parts)
    if fragment:
        return body
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )
