"""The HTML report's pictures: the graph (boxes and edges, branches and joins) and a timeline.

Private helper of ``report_render.render_html``. Both are plain HTML and inline SVG:
no script, no font or stylesheet to fetch. The graph places each node in its layer
(longest distance from the start) at computed coordinates and draws every edge as an SVG
arrow between the boxes (dashed for a conditional edge, curved when it goes back up,
a loop), so a fan-out reads as branches and a join as arrows meeting. The timeline
draws one bar per node from its step's start, as long as its duration.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["draw_graph", "draw_timeline"]

_W, _H, _GAP_X, _GAP_Y, _PAD = 180, 62, 28, 46, 12
_TERM_H = 30
_CAUSE_CHARS, _CAUSE_LINE = 26, 13  # characters per line of a cause in a box, px per line

CSS = """
.lgr .canvas{position:relative;margin:8px auto}
.lgr .canvas svg{position:absolute;left:0;top:0}
.lgr .canvas .node,.lgr .canvas .term{position:absolute;box-sizing:border-box;overflow:hidden}
.lgr .node .cause{font-size:.72em;line-height:13px;display:block;white-space:normal;
overflow-wrap:anywhere;text-align:left}
.lgr .timeline{margin:1em 0;max-width:960px}
.lgr .timeline .row{display:flex;align-items:center;gap:8px;margin:2px 0;font-size:.85em}
.lgr .timeline .label{width:12em;text-align:right;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
.lgr .timeline .track{position:relative;flex:1;height:14px;background:#f8f9fa;
border:1px solid #e9ecef}
.lgr .timeline .bar{position:absolute;top:0;bottom:0;border:1px solid;box-sizing:border-box}
.lgr .timeline .ms{width:6em;color:#495057}
"""


def _box_height(status: str | None, cause: str | None) -> int:
    """A box tall enough for its whole cause (wrapped), a terminal's height for None."""
    if status is None:
        return _TERM_H
    lines = -(-len(cause) // _CAUSE_CHARS) if cause else 0
    return _H + max(0, lines - 1) * _CAUSE_LINE


def _box_html(
    name: str,
    status: str | None,
    cause: str | None,
    at: tuple[int, int, int],
    colours: Mapping[str, tuple[str, str, str]],
) -> str:
    esc = html.escape(name)
    x, y, h = at
    if status is None:
        return (
            f'<div class="term" data-node="{esc}" style="left:{x}px;top:{y}px;'
            f'width:{_W}px;height:{_TERM_H}px;text-align:center">{esc}</div>'
        )
    fill, stroke, colour = colours[status]
    why = ""
    if cause:
        why = f'<span class="cause" title="{html.escape(cause)}">{html.escape(cause)}</span>'
    return (
        f'<div class="node" data-node="{esc}" data-status="{status}" '
        f'style="background:{fill};border-color:{stroke};color:{colour};'
        f'left:{x}px;top:{y}px;width:{_W}px;height:{h}px">'
        f'<span class="name">{esc}</span><span class="status">{status}</span>'
        f"{why}</div>"
    )


def draw_graph(
    layers: Sequence[Sequence[str]],
    edges: Sequence[tuple[str, str, bool]],
    statuses: Mapping[str, str | None],
    causes: Mapping[str, str | None],
    colours: Mapping[str, tuple[str, str, str]],
) -> str:
    """The graph as positioned boxes over an SVG of its edges.

    Args:
        layers: Node names per layer, top to bottom (start first, end last).
        edges: ``(source, target, conditional)``.
        statuses: Each node's status (None for the start and end terminals).
        causes: The redacted cause of each failed node, shown in its box.
        colours: Status -> (fill, stroke, text colour).
    """
    widest = max((len(layer) for layer in layers), default=1)
    width = widest * (_W + _GAP_X) - _GAP_X + 2 * _PAD
    pos: dict[str, tuple[int, int, int]] = {}  # name -> (x, y, height)
    y = _PAD
    for layer in layers:
        row_w = len(layer) * (_W + _GAP_X) - _GAP_X
        x = (width - row_w) // 2
        heights = {n: _box_height(statuses.get(n), causes.get(n)) for n in layer}
        tall = max(heights.values()) if layer else _H
        for name in layer:
            h = heights[name]
            # Boxes of a layer share their top (a long cause makes its box taller);
            # a terminal is centred in the layer's height.
            top = y + (tall - h) // 2 if statuses.get(name) is None else y
            pos[name] = (x, top, h)
            x += _W + _GAP_X
        y += tall + _GAP_Y
    height = y - _GAP_Y + _PAD
    lines = []
    for a, b, conditional in edges:
        if a not in pos or b not in pos:
            continue
        ax, ay, ah = pos[a]
        bx, by, bh = pos[b]
        x1, y1 = ax + _W // 2, ay + ah
        x2, y2 = bx + _W // 2, by
        dash = ' stroke-dasharray="6 4"' if conditional else ""
        if y2 > y1:  # downwards: a straight arrow
            path = f"M{x1},{y1} C{x1},{(y1 + y2) // 2} {x2},{(y1 + y2) // 2} {x2},{y2}"
        else:  # back up (a loop): around the right-hand side
            side = max(ax, bx) + _W + _GAP_X // 2
            start, end = f"{ax + _W},{ay + ah // 2}", f"{bx + _W},{by + bh // 2}"
            path = f"M{start} C{side},{ay} {side},{by + bh} {end}"
        lines.append(
            f'<path d="{path}" fill="none" stroke="#868e96" stroke-width="1.6"{dash} '
            f'marker-end="url(#lgr-arrow)" data-edge="{html.escape(a)}->{html.escape(b)}"/>'
        )
    svg = (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'aria-hidden="true"><defs>'
        '<marker id="lgr-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="#868e96"/></marker></defs>{"".join(lines)}</svg>'
    )
    boxes = "".join(
        _box_html(name, statuses.get(name), causes.get(name), at, colours)
        for name, at in pos.items()
    )
    return f'<div class="canvas" style="width:{width}px;height:{height}px">{svg}{boxes}</div>'


def _time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def draw_timeline(nodes: Sequence[Any], colours: Mapping[str, tuple[str, str, str]]) -> str:
    """One bar per node that ran: from its step's start, as long as its duration."""
    spans = []
    for n in nodes:
        start = _time(n.started_at)
        if start is None:
            continue
        spans.append((n, start, (n.duration_ms or 0.0) / 1000))
    if not spans:
        return ""
    t0 = min(s for _, s, _ in spans)
    total = max(s + d for _, s, d in spans) - t0 or 1e-9
    rows = ['<div class="timeline"><h2>Timeline</h2>']
    for n, start, dur in sorted(spans, key=lambda item: (item[1], item[0].name)):
        fill, stroke, _ = colours.get(str(n.status), ("#f1f3f5", "#868e96", "#343a40"))
        left = 100 * (start - t0) / total
        width = max(100 * dur / total, 0.6)
        ms = "" if n.duration_ms is None else f"{n.duration_ms:.1f} ms"
        esc = html.escape(n.name)
        rows.append(
            f'<div class="row" data-node="{esc}"><span class="label">{esc}</span>'
            f'<span class="track"><span class="bar" data-status="{html.escape(str(n.status))}" '
            f'style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%;'
            f'background:{fill};border-color:{stroke}" title="{esc}: {ms}"></span></span>'
            f'<span class="ms">{ms}</span></div>'
        )
    rows.append("</div>")
    return "".join(rows)
