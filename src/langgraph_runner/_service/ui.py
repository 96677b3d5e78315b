"""The browser UI: the runs list and a run's page, served by the runs service itself.

``ui_router()`` adds ``GET /ui`` (the tenant's runs, newest first, kept live by
polling ``GET /runs``, and its schedules) and ``GET /ui/runs/{run_id}`` (the run's
graph drawn from the workflow's real edges with each step's status and own duration, a
timeline, causes in full, budgets, artifacts, Cancel and Rebuild, the run's webhook
deliveries; its input, output, attempts and worker's state from ``run_ops.js``) and
``GET /ui/workers`` (the worker processes and their state), plus their script and style
files. The files ship inside the package (``_service/static``): no JavaScript toolchain,
``pip`` alone installs them. Every page is ``page.html`` (the head, the bar and the key
form) around its own content file, with its title and scripts from ``_PAGES``.

The pages hold no data: their script reads the JSON API with the ``X-API-Key`` header.
The page asks for the key once and keeps it in the tab's ``sessionStorage``; the run's
live events are read with ``fetch`` (a stream carrying the same header), so the key is
never put in a URL, where access logs and browser history would keep it. Text from data
is set as text (``textContent``), never parsed as markup.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from langgraph_runner._records.exceptions import RequestRefused as _Failure
from langgraph_runner._reports.render import STATUS_COLOURS
from langgraph_runner._service.guards import check_url

__all__ = ["check_trace_link", "ui_router"]

# The script and style files served as they are, by name (any other name is a 404).
_FILES = frozenset(
    {
        "ui.css",
        "common.js",
        "graph.js",
        "runs.js",
        "run.js",
        "schedules.js",
        "webhooks.js",
        "run_ops.js",
        "workers.js",
    }
)
_MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_HEADERS = {
    # Scripts and styles only from this app; no inline script can run even if some
    # text were ever parsed as markup.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _file(name: str) -> str:
    return (resources.files("langgraph_runner._service") / "static" / name).read_text("utf-8")


# A run's status drawn in the colour of the step status it resembles (running: its own).
_RUN_COLOURS = {
    "completed": "succeeded",
    "blocked": "interrupted",
    "abandoned": "failed",
    # A worker's state and an attempt's outcome (the workers page, a run's attempts).
    "alive": "succeeded",
    "draining": "interrupted",
    "dead": "failed",
    "retried": "interrupted",
    "recovered": "succeeded",
}


def _status_css() -> str:
    """One class per step and run status, in the colours the HTML report uses."""
    colours = dict(STATUS_COLOURS)
    colours.update({run: STATUS_COLOURS[step] for run, step in _RUN_COLOURS.items()})
    rules = [
        f".st-{status} {{ --fill: {fill}; --stroke: {stroke}; --ink: {ink}; }}"
        for status, (fill, stroke, ink) in colours.items()
    ]
    return "\n".join(rules) + "\n"


@dataclass(frozen=True)
class _Page:
    """One page: what ``static/page.html`` (the head, the bar and the key form every page
    shares) is given."""

    title: str
    content: str  # the file holding what the page shows once the key is known
    scripts: tuple[str, ...]  # its own scripts, after common.js
    links: tuple[str, ...] = ()  # its own links in the bar, after "Runs"


_PAGES = {
    "runs": _Page(
        "Runs",
        "runs.html",
        ("runs.js", "schedules.js"),
        links=('<a href="#schedules-section">Schedules</a>',),
    ),
    "run": _Page("Run", "run.html", ("graph.js", "run.js", "webhooks.js", "run_ops.js")),
    "workers": _Page("Workers", "workers.html", ("workers.js",)),
}


@cache
def _template(name: str) -> str:
    """Page ``name`` in full, but for its root path and trace link."""
    page = _PAGES[name]
    scripts = "".join(
        f'<script src="__ROOT__/ui/static/{s}" defer></script>\n' for s in page.scripts
    )
    links = "".join(f"  {link}\n" for link in page.links)
    content = _file(page.content).split("-->\n", 1)[1]  # less its opening comment
    return (
        _file("page.html")
        .replace("__TITLE__", html.escape(page.title))
        .replace("__SCRIPTS__\n", scripts)
        .replace("__LINKS__\n", links)
        .replace("__CONTENT__\n", content)
    )


def _page(request: Request, name: str, trace_link: str = "") -> HTMLResponse:
    root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)
    text = _template(name).replace("__ROOT__", root)
    text = text.replace("__TRACE_LINK__", html.escape(trace_link, quote=True))
    return HTMLResponse(text, headers=_HEADERS)


def check_trace_link(trace_link: object) -> str:
    """``create_app(trace_link=)`` checked: an http(s) address with ``{trace_id}`` in it.

    Returns:
        The template ("" for None).

    Raises:
        ValueError: Not such an address (its first 80 characters are quoted).
    """
    if trace_link is None:
        return ""
    wanted = "create_app: trace_link must be an http(s) address with {trace_id} in it"
    if (
        not isinstance(trace_link, str)
        or "{trace_id}" not in trace_link
        or len(trace_link) > 2000
        or not trace_link.isprintable()
    ):
        raise ValueError(f"{wanted}, got {str(trace_link)[:80]!r}")
    try:  # the rule a webhook URL follows, with a trace id in its place
        check_url(trace_link.replace("{trace_id}", "0" * 32), "trace_link")
    except ValueError as exc:
        raise ValueError(f"{wanted} ({exc}), got {trace_link[:80]!r}") from None
    return trace_link


def ui_router(trace_link: str = "") -> APIRouter:
    """The browser UI's routes (kept out of the OpenAPI document).

    Args:
        trace_link: A run's trace in the trace backend, ``{trace_id}`` in it (checked by
            ``check_trace_link``); "" shows the trace id as text.

    Returns:
        A router with ``GET /ui``, ``GET /ui/runs/{run_id}``, ``GET /ui/workers`` and
        ``GET /ui/static/{name}``.
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/ui", response_class=HTMLResponse)
    def runs_page(request: Request) -> HTMLResponse:
        """The runs list."""
        return _page(request, "runs")

    @router.get("/ui/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        """One run's page (its script reads the run id from the address)."""
        return _page(request, "run", trace_link)

    @router.get("/ui/workers", response_class=HTMLResponse)
    def workers_page(request: Request) -> HTMLResponse:
        """The worker processes on the run queue, their state and runs."""
        return _page(request, "workers")

    @router.get("/ui/static/{name}")
    def static(name: str) -> Response:
        """The pages' script and style files."""
        if name == "status.css":
            body = _status_css()
            return Response(body, media_type="text/css; charset=utf-8", headers=_HEADERS)
        if name not in _FILES:
            raise _Failure(404, f"no file {name!r}", "name")
        kind = _MEDIA_TYPES[name[name.rindex(".") :]]
        return Response(_file(name), media_type=kind, headers=_HEADERS)

    return router
