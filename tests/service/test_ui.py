"""Tests for langgraph_runner._service.ui: the runs service's browser UI, in a real browser.

The app is served by uvicorn on a free port (a thread of this process) and driven by
Debian's chromium through playwright. Runs are triggered and read back through the
JSON API; the tests wait for conditions (the page's own text, the API's answers),
never for a fixed time.
"""

from __future__ import annotations

import logging
import operator
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import pytest
from typing_extensions import TypedDict

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import httpx
import uvicorn
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from langgraph_runner import Budget, GraphState, NodeCache, create_node
from langgraph_runner._reports.render import STATUS_COLOURS
from langgraph_runner._runs import run_watch
from langgraph_runner._service import liveness
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.browser import LAUNCH_ARGS, chromium, hex_rgb, png_pixel, png_size
from tests.fakes import chain_graph
from tests.service.served import running

BUDGET = Budget(name="ui-calls-" + uuid.uuid4().hex, calls=100)
KEY = "ui-key-" + uuid.uuid4().hex  # unique: a search of logs and URLs cannot match by chance
KEYS = {KEY: "tenant-ui", "other-key": "tenant-other"}
A = {"X-API-Key": KEY}
STORE_KEY = "langgraph-runner.api-key"
TRACE_LINK = "https://traces.example/trace/{trace_id}?from=runner"
LONG_CAUSE = (
    "the renderer is out of paper: "
    + " ".join(f"tray-{i} reports jam at roller {i * 7}" for i in range(2))
    + " at /spool/"
    + "/".join(f"tray{i}" for i in range(15))
    + " END-OF-CAUSE"
)


class Build(TypedDict, total=False):
    title: str
    log: Annotated[list[str], operator.add]


class Doc(GraphState, total=False):
    source: str
    title: str
    words: int
    page: str


MARKUP = "<b>x</b>"
MARKUP_CAUSE = "<img src=x onerror=window.pwned=1> broke"


def _step(name: str) -> Any:
    def body(state: Build) -> dict[str, Any]:
        if name == "boom":
            raise RuntimeError(LONG_CAUSE)
        if name == MARKUP:
            raise RuntimeError(MARKUP_CAUSE)
        return {"log": [name]}

    return body


def _chain(names: list[str]) -> StateGraph[Build]:
    return cast("StateGraph[Build]", chain_graph(Build, names, _step))


def _fan() -> StateGraph[Build]:
    """fetch fans out to stats and charts, which join in summary."""
    g = StateGraph(Build)
    for n in ("fetch", "stats", "charts", "summary"):
        g.add_node(n, _step(n))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "stats")
    g.add_edge("fetch", "charts")
    g.add_edge(["stats", "charts"], "summary")
    g.add_edge("summary", END)
    return g


class Gate:
    """A step that waits until the test lets it finish (a live run to cancel)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, state: Build) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(60), "the test never released the gated step"
        return {"log": ["wait"]}


def _gated(gate: Gate) -> StateGraph[Build]:
    g = StateGraph(Build)
    g.add_node("fetch", _step("fetch"))
    g.add_node("wait", gate)
    g.add_node("render", _step("render"))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "wait")
    g.add_edge("wait", "render")
    g.add_edge("render", END)
    return g


def _approve() -> StateGraph[Build]:
    """fetch, then a question (``interrupt()``) whose answer goes into the log."""

    def ask(state: Build) -> dict[str, Any]:
        return {"log": [f"answer:{interrupt('Publish <b>now</b>?')}"]}

    g = StateGraph(Build)
    g.add_node("fetch", _step("fetch"))
    g.add_node("ask", ask)
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "ask")
    g.add_edge("ask", END)
    return g


def _doc(calls: list[str]) -> StateGraph[Doc]:
    """parse (cached on source) then render (cached on title and words)."""
    from langgraph.cache.memory import InMemoryCache

    def parse(state: Doc) -> dict[str, Any]:
        calls.append("parse")
        return {"words": len(state["source"].split())}

    def render(state: Doc) -> dict[str, Any]:
        calls.append("render")
        return {"page": f"{state['title']}: {state['words']} words"}

    backend: InMemoryCache[Any] = InMemoryCache()
    g = StateGraph(Doc)
    cache = NodeCache(inputs=["source"], backend=backend, version="1")
    g.add_node("parse", create_node(parse, cache=cache))
    cache = NodeCache(inputs=["title", "words"], backend=backend, version="1")
    g.add_node("render", create_node(render, cache=cache))
    g.add_edge(START, "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    return g


class Site:
    """The served app: its address, an API client with the key, the access log it wrote."""

    def __init__(self, base: str, access: list[str]) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, headers=A, timeout=30)
        self.access = access
        self.app: Any = None

    def trigger(self, workflow: str, inp: dict[str, Any] | None = None) -> str:
        r = self.http.post("/runs", json={"workflow": workflow, "input": inp or {}})
        assert r.status_code == 202, r.text
        return str(r.json()["run_id"])

    def run(self, run_id: str) -> dict[str, Any]:
        r = self.http.get(f"/runs/{run_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def until(self, run_id: str, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read the run until ``ok`` holds (60 s at most: a machine under load is slow)."""
        deadline = time.monotonic() + 60
        while True:
            run = self.run(run_id)
            if ok(run):
                return run
            assert time.monotonic() < deadline, f"run never got there: {run}"
            time.sleep(0.05)  # polling the API, not an assertion on time

    def ended(self, run_id: str) -> dict[str, Any]:
        return self.until(run_id, lambda r: r["status"] not in ("pending", "running"))


class _Access(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _serve(app: Any) -> Iterator[Site]:
    """Serve ``app`` with uvicorn on a free port, in a thread, with its access log kept."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    access: list[str] = []
    handler = _Access(access)
    # No log_config: uvicorn leaves the loggers alone, the access log comes here only.
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=True)
    log = logging.getLogger("uvicorn.access")
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    server = uvicorn.Server(config)
    try:
        with running(server, sockets=[sock]):
            site = Site(f"http://127.0.0.1:{port}", access)
            yield site
            site.http.close()
    finally:
        sock.close()
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module (each test gets its own context)."""
    path = chromium()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def gate() -> Iterator[Gate]:
    g = Gate()
    yield g
    g.release.set()


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def site(tmp_path: Path, gate: Gate, calls: list[str]) -> Iterator[Site]:
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        workflows = {
            "build": _chain(["fetch", "parse", "render"]).compile(),
            "broken": _chain(["fetch", "boom", "render"]).compile(),
            "fan": _fan().compile(),
            "gated": _gated(gate).compile(),
            "doc": _doc(calls).compile(),
            "markup": _chain(["fetch", MARKUP]).compile(),
            "approve": _approve().compile(),
        }
        app = create_app(
            workflows=workflows,
            checkpointer=saver,
            api_keys=KEYS,
            workers=2,
            poll_interval=0.1,
            budgets=[BUDGET],
            time_limit=600,
            trace_link=TRACE_LINK,
        )
        with _serve(app) as s:
            s.app = app
            yield s
        gate.release.set()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A page in a fresh context whose tab already holds the API key."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_init_script(f"sessionStorage.setItem({STORE_KEY!r}, {KEY!r})")
    p = context.new_page()
    p.set_default_timeout(20_000)
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert errors == [], errors  # no script error on any page


def _edges(page: Any) -> set[str]:
    found = page.locator("#graph svg path[data-edge]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-edge'))"
    )
    return set(found)


def _open_run(page: Any, site: Site, run_id: str) -> None:
    page.goto(f"{site.base}/ui/runs/{run_id}")
    page.wait_for_selector("body[data-ended=true]")


def test_the_key_is_asked_once_kept_in_the_tab_and_never_put_in_a_url(
    browser: Any, site: Site
) -> None:
    rid = site.trigger("build")
    site.ended(rid)
    context = browser.new_context()
    try:
        p = context.new_page()
        p.set_default_timeout(20_000)
        urls: list[str] = []
        p.on("request", lambda r: urls.append(r.url))
        p.goto(f"{site.base}/ui")
        assert p.locator("#key-form").is_visible()
        assert not p.locator("#content").is_visible()
        p.fill("#key", "wrong-key")
        p.click("#key-form button")
        p.wait_for_selector("#key-form:not([hidden])")
        assert "refused" in p.locator("#key-message").inner_text()
        p.fill("#key", KEY)
        p.press("#key", "Enter")
        p.wait_for_selector(f'tr[data-run="{rid}"]')
        # The key stays in the tab: the run page asks for nothing.
        p.click(f'tr[data-run="{rid}"] a')
        p.wait_for_selector("body[data-ended=true]")
        assert p.url == f"{site.base}/ui/runs/{rid}"
        assert not p.locator("#key-form").is_visible()
        assert p.evaluate(f"sessionStorage.getItem({STORE_KEY!r})") == KEY
        # "Forget key" drops it.
        p.click("#forget")
        p.wait_for_selector("#key-form:not([hidden])")
        assert p.evaluate(f"sessionStorage.getItem({STORE_KEY!r})") is None
    finally:
        context.close()
    assert any("/runs/" in u and "/events" in u for u in urls) or urls  # requests were made
    assert not [u for u in urls if KEY in u]
    assert any("/ui/runs/" in line for line in site.access)  # the access log was kept
    assert not [line for line in site.access if KEY in line]


def test_the_list_shows_runs_newest_first_and_updates_live(page: Any, site: Site) -> None:
    first = site.trigger("build")
    site.ended(first)
    second = site.trigger("broken")
    site.ended(second)
    page.goto(f"{site.base}/ui")
    page.wait_for_selector(f'tr[data-run="{second}"]')
    rows = page.locator("#runs tbody tr").evaluate_all("els => els.map(e => e.dataset.run)")
    assert rows == [second, first]
    # A run triggered now appears at the top, and its status follows it to the end.
    third = site.trigger("build")
    page.wait_for_selector(f'tr[data-run="{third}"][data-status="completed"]')
    rows = page.locator("#runs tbody tr").evaluate_all("els => els.map(e => e.dataset.run)")
    assert rows == [third, second, first]
    # The status filter keeps one status (and the address says which).
    page.select_option("#status", "failed")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#runs tbody tr')]"
        ".every(r => r.dataset.status === 'failed')"
    )
    rows = page.locator("#runs tbody tr").evaluate_all("els => els.map(e => e.dataset.run)")
    assert rows == [second]
    assert page.url.endswith("/ui?status=failed")
    # A page at a time (?limit=), older runs on demand.
    page.goto(f"{site.base}/ui?limit=2")
    page.wait_for_selector(f'tr[data-run="{second}"]')
    assert page.locator("#runs tbody tr").count() == 2
    page.click("#more")
    page.wait_for_selector(f'tr[data-run="{first}"]')
    assert page.locator("#runs tbody tr").count() == 3
    assert page.locator("#more").is_hidden()
    # Another tenant's key sees none of them.
    other = httpx.get(f"{site.base}/runs", headers={"X-API-Key": "other-key"}).json()
    assert other["runs"] == []


def test_a_click_opens_the_run_page_with_the_graphs_real_edges(page: Any, site: Site) -> None:
    rid = site.trigger("fan")
    run = site.ended(rid)
    assert run["status"] == "completed"
    page.goto(f"{site.base}/ui")
    page.click(f'tr[data-run="{rid}"] a')
    page.wait_for_selector("body[data-ended=true]")
    assert page.url == f"{site.base}/ui/runs/{rid}"
    shape = site.http.get("/workflows/fan").json()
    drawn = _edges(page)
    assert drawn == {f"{a}->{b}" for a, b, _ in shape["edges"]}
    # The graph's shape, not the execution order: a fan-out and a join.
    assert {"fetch->stats", "fetch->charts", "stats->summary", "charts->summary"} <= drawn
    assert "stats->charts" not in drawn and "charts->stats" not in drawn
    # Each step in its status, with its own duration.
    for step in run["steps"]:
        node = page.locator(f'#graph g.node[data-node="{step["name"]}"]')
        assert node.get_attribute("data-status") == step["status"] == "succeeded"
        assert node.locator("text.meta").text_content().startswith("succeeded · ")
    # The fan-out's branches sit side by side, below fetch and above summary.
    box = {
        n: page.locator(f'#graph g.node[data-node="{n}"] rect').bounding_box()
        for n in ("fetch", "stats", "charts", "summary")
    }
    assert box["fetch"]["y"] < box["stats"]["y"] == box["charts"]["y"] < box["summary"]["y"]
    # A timeline bar per step; the join's starts after the fan-out's first step.
    bars = {
        n: page.locator(f'#timeline .row[data-node="{n}"] .bar').bounding_box()
        for n in ("fetch", "summary")
    }
    assert all(b is not None and b["width"] > 0 for b in bars.values())
    assert bars["fetch"]["x"] <= bars["summary"]["x"]
    assert page.locator("#budgets").inner_text().startswith("steps: 4 of 4 done")


def test_the_timeline_has_true_widths_a_time_axis_and_no_overflow(
    page: Any, site: Site, gate: Gate
) -> None:
    """A step held 0.3 s has the long bar; quick steps are hairlines, not 28 px blocks; no
    bar passes its track's end; an axis gives the run's total duration."""
    rid = site.trigger("gated")
    assert gate.entered.wait(60), "the gated step never started"
    time.sleep(0.3)  # the held step's own duration, the one long bar
    gate.release.set()
    run = site.ended(rid)
    page.goto(f"{site.base}/ui/runs/{rid}")
    page.wait_for_selector("body[data-ended=true]")
    boxes = {}
    for name in ("fetch", "wait", "render"):
        row = page.locator(f'#timeline .row[data-node="{name}"]')
        boxes[name] = (row.locator(".bar").bounding_box(), row.locator(".track").bounding_box())
    for name, (bar, track) in boxes.items():
        assert bar is not None and track is not None, name
        assert bar["x"] >= track["x"] - 0.5, name
        assert bar["x"] + bar["width"] <= track["x"] + track["width"] + 0.5, name
    # Each bar's share of its track is the step's share of the run's span, as the API reports
    # them (a loaded machine stretches the gaps between steps, so the shares come from the run).
    steps = {s["name"]: s for s in run["steps"]}
    starts = {
        n: datetime.fromisoformat(s["started_at"]).timestamp() * 1e3 for n, s in steps.items()
    }
    span = max(starts[n] + steps[n]["duration_ms"] for n in steps) - min(starts.values())
    track_width = boxes["wait"][1]["width"]
    for name, (bar, _) in boxes.items():
        share = steps[name]["duration_ms"] / span
        assert abs(bar["width"] / track_width - share) < 0.02, (name, bar, share)
    wait_width = boxes["wait"][0]["width"]
    assert wait_width >= 300 / span * track_width - 1  # held 0.3 s: a bar of its true length
    for quick in ("fetch", "render"):
        assert boxes[quick][0]["width"] < wait_width / 3, quick  # shorter, not a fixed block
    assert page.locator("#total-duration").inner_text().startswith("total ")
    assert page.locator("#time-axis .tick").count() == 5


def test_an_interrupted_run_shows_its_question_and_a_resume_form_that_goes_on(
    page: Any, site: Site
) -> None:
    """The question is shown as text; Resume with a JSON answer opens a new run that
    completes; Retry is offered for a failed run and opens its new run."""
    rid = site.trigger("approve")
    assert site.ended(rid)["status"] == "interrupted"
    page.goto(f"{site.base}/ui/runs/{rid}")
    page.wait_for_selector("#interrupt:not([hidden])")
    assert page.locator("#questions .question").inner_text() == "Publish <b>now</b>?"
    assert page.locator("#retry").is_disabled()
    page.fill("#answer", '{"yes": true}')
    page.click("#resume")
    link = page.locator("#followed")
    link.wait_for()
    new_id = link.get_attribute("href").rsplit("/", 1)[-1]
    assert site.ended(new_id)["status"] == "completed"
    broken = site.trigger("broken")
    assert site.ended(broken)["status"] == "failed"
    page.goto(f"{site.base}/ui/runs/{broken}")
    page.wait_for_selector("body[data-ended=true]")
    assert page.locator("#interrupt").is_hidden()
    page.click("#retry")
    page.locator("#followed").wait_for()
    again = page.locator("#followed").get_attribute("href").rsplit("/", 1)[-1]
    assert again != broken and site.ended(again)["status"] == "failed"  # boom fails again


def test_a_live_run_shows_its_running_step_in_colour_with_a_growing_duration(
    page: Any, site: Site, gate: Gate
) -> None:
    rid = site.trigger("gated")
    assert gate.entered.wait(60), "the gated step never started"
    page.goto(f"{site.base}/ui/runs/{rid}")
    wait = page.locator('#graph g.node[data-node="wait"][data-status=running]')
    wait.wait_for()
    # Read in the page, on whichever drawing is current (a live update may redraw the graph
    # between finding the node and reading its style): the running colour, or a timeout.
    page.wait_for_function(
        """want => {
          const r = document.querySelector(
            '#graph g.node[data-node="wait"][data-status=running] rect');
          return r !== null && getComputedStyle(r).fill === want;
        }""",
        arg="rgb({}, {}, {})".format(*hex_rgb(STATUS_COLOURS["running"][0])),
    )
    fetch = page.locator('#graph g.node[data-node="fetch"]')
    assert fetch.get_attribute("data-status") == "succeeded"
    assert page.locator('#timeline .row[data-node="wait"]').get_attribute("data-status") == (
        "running"
    )
    # Its duration grows with the clock while the run says it has not ended.
    first = wait.locator("text.meta").text_content()
    assert first.startswith("running · ")
    page.wait_for_function(
        """first => {
          const t = document.querySelector('#graph g.node[data-node="wait"] text.meta');
          return t && t.textContent.startsWith("running · ") && t.textContent !== first;
        }""",
        arg=first,
    )
    # The service's budgets and time limit, where each stands.
    assert page.locator("#time-limit").inner_text() == "time limit: 10.0 min a run"
    line = page.locator(f'#budgets [data-budget="{BUDGET.name}"]').inner_text()
    assert line == f"{BUDGET.name} (per run {rid}): calls 0 of 100"
    gate.release.set()
    page.wait_for_selector("#status[data-status=completed]", timeout=60_000)
    done = page.locator('#graph g.node[data-node="wait"]')
    assert done.get_attribute("data-status") == "succeeded"


def test_a_cancel_click_stops_a_live_run(page: Any, site: Site, gate: Gate) -> None:
    rid = site.trigger("gated")
    assert gate.entered.wait(60), "the gated step never started"
    page.goto(f"{site.base}/ui/runs/{rid}")
    page.wait_for_selector("#status[data-status=running]")
    assert page.locator("#rebuild").is_disabled()
    page.click("#cancel")
    page.wait_for_selector("#message:has-text('Cancel asked')")
    run_watch.tick()  # the process's watcher reads the cancel flag now (it polls every 0.2 s)
    gate.release.set()  # the step under way ends; no further step starts
    # The page follows the run's events to its end.
    page.wait_for_selector("#status[data-status=cancelled]", timeout=60_000)
    run = site.ended(rid)
    assert run["status"] == "cancelled"
    steps = {s["name"]: s["status"] for s in run["steps"]}
    assert steps["render"] in ("pending", "skipped")
    shown = page.locator('#graph g.node[data-node="render"]').get_attribute("data-status")
    assert shown == steps["render"]
    assert page.locator("#cancel").is_disabled()


def test_a_rebuild_click_reruns_only_the_impacted_steps(
    page: Any, site: Site, calls: list[str]
) -> None:
    base = site.trigger("doc", {"source": "a b c", "title": "Old"})
    assert site.ended(base)["status"] == "completed"
    assert calls == ["parse", "render"]
    _open_run(page, site, base)
    assert "inputs: the fields of the workflow's input (" in page.locator("#fields").inner_text()
    # A change request that names no input field is refused, naming the field.
    page.fill("#change", '{"inputs": {"nope": 1}}')
    page.click("#rebuild")
    page.wait_for_selector("#message:has-text('Rebuild refused (inputs)')")
    page.fill("#change", "{not json")
    page.click("#rebuild")
    page.wait_for_selector("#message:has-text('not JSON')")
    page.fill("#change", '{"inputs": {"title": "New"}}')
    page.click("#rebuild")
    page.wait_for_selector("#rebuilt")
    assert "rerun: render; maybe: none; reused: parse" in page.locator("#message").inner_text()
    page.click("#rebuilt")
    page.wait_for_selector("body[data-ended=true]")
    new = page.url.rsplit("/", 1)[1]
    assert new != base
    run = site.ended(new)
    assert run["status"] == "completed"
    assert {s["name"]: s["status"] for s in run["steps"]} == {
        "parse": "reused",
        "render": "succeeded",
    }
    assert calls == ["parse", "render", "render"]  # only render executed again
    for name, status in (("parse", "reused"), ("render", "succeeded")):
        node = page.locator(f'#graph g.node[data-node="{name}"]')
        assert node.get_attribute("data-status") == status


@pytest.mark.parametrize("width", [1920, 1200, 420, 390])
def test_causes_show_in_full_and_nothing_overflows_the_screen(
    browser: Any, site: Site, tmp_path: Path, width: int
) -> None:
    rid = site.trigger("broken")
    run = site.ended(rid)
    cause = next(s["cause"] for s in run["steps"] if s["name"] == "boom")
    assert "END-OF-CAUSE" in cause and len(cause) > 150  # the API's cause, whole
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.add_init_script(f"sessionStorage.setItem({STORE_KEY!r}, {KEY!r})")
    try:
        p = context.new_page()
        p.set_default_timeout(20_000)
        _open_run(p, site, rid)
        cell = p.locator('#steps tr[data-node="boom"] td.cause')
        assert cell.text_content() == cause  # in full, not cut
        assert p.locator('#graph g.node[data-node="boom"] title').text_content().endswith(cause)
        # Wrapped: no container is wider than its box, the page no wider than the screen.
        for selector in ("html", "main", "#content", "#graph", "#timeline", ".scroll", "#facts"):
            for widths in p.locator(selector).evaluate_all(
                "els => els.map(e => [e.scrollWidth, e.clientWidth])"
            ):
                assert widths[0] <= widths[1], (selector, widths)
        assert cell.evaluate("e => e.scrollWidth <= e.clientWidth")
        shot = p.screenshot(full_page=True)
        (tmp_path / f"run-{width}.png").write_bytes(shot)
        w, h = png_size(shot)
        assert w == width  # nothing pushed the page sideways
        assert 800 <= h <= 8000, h
        # The failed step's box is drawn in the failed colour, where the page says it is.
        graph = p.locator("#graph").screenshot()
        outer = p.locator("#graph").bounding_box()
        rect = p.locator('#graph g.node[data-node="boom"] rect').bounding_box()
        assert outer is not None and rect is not None
        x, y = int(rect["x"] - outer["x"] + 6), int(rect["y"] - outer["y"] + rect["height"] / 2)
        assert png_pixel(graph, x, y) == hex_rgb(STATUS_COLOURS["failed"][0])
        listed = p.goto(f"{site.base}/ui")
        assert listed is not None and listed.ok
        p.wait_for_selector(f'tr[data-run="{rid}"]')
        list_shot = p.screenshot(full_page=True)
        (tmp_path / f"runs-{width}.png").write_bytes(list_shot)
        assert png_size(list_shot)[0] == width
    finally:
        context.close()


def test_text_from_data_is_shown_as_text_never_as_markup(page: Any, site: Site) -> None:
    """A step named like markup, failing with markup in its cause: shown, never parsed."""
    rid = site.trigger("markup")
    run = site.ended(rid)
    assert run["status"] == "failed"
    _open_run(page, site, rid)
    node = page.locator("#graph g.node").filter(has_text=MARKUP)
    assert node.get_attribute("data-node") == MARKUP
    assert node.get_attribute("data-status") == "failed"
    row = page.locator("#steps tbody tr").filter(has_text=MARKUP)
    assert MARKUP_CAUSE in row.locator("td.cause").text_content()
    assert page.locator("#content b, #content img").count() == 0
    assert page.evaluate("window.pwned") is None
    page.goto(f"{site.base}/ui")
    page.wait_for_selector(f'tr[data-run="{rid}"]')
    assert page.locator("#content b, #content img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_the_pages_escape_text_and_forbid_inline_scripts(site: Site) -> None:
    """Pages carry no data; their headers forbid inline scripts; unknown files are 404."""
    r = httpx.get(f"{site.base}/ui")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "innerHTML" not in "".join(
        httpx.get(f"{site.base}/ui/static/{n}").text
        for n in ("common.js", "runs.js", "run.js", "graph.js", "run_ops.js", "workers.js")
    )
    css = httpx.get(f"{site.base}/ui/static/status.css")
    assert css.headers["content-type"].startswith("text/css")
    assert f".st-failed {{ --fill: {STATUS_COLOURS['failed'][0]};" in css.text
    assert f".st-completed {{ --fill: {STATUS_COLOURS['succeeded'][0]};" in css.text
    missing = httpx.get(f"{site.base}/ui/static/../app.py")
    assert missing.status_code == 404
    assert httpx.get(f"{site.base}/ui/static/nope.js").json()["field"] == "name"
    assert "/ui" not in httpx.get(f"{site.base}/openapi.json").json()["paths"]


def test_under_a_prefix_the_pages_use_it(tmp_path: Path) -> None:
    """Mounted under /runner (as inside LangGraph Server), every address keeps the prefix."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        runs = create_app(
            workflows={"build": _chain(["fetch"]).compile()}, checkpointer=saver, api_keys=KEYS
        )
        outer = FastAPI()
        outer.mount("/runner", runs)
        with TestClient(outer) as client:
            page = client.get("/runner/ui/runs/some-run")
            assert page.status_code == 200
            assert '<meta name="lgr-root" content="/runner">' in page.text
            assert 'src="/runner/ui/static/run.js"' in page.text
            assert client.get("/runner/ui/static/run.js").status_code == 200
            workers = client.get("/runner/ui/workers")
            assert 'src="/runner/ui/static/workers.js"' in workers.text
            assert "runs.js" not in workers.text and "<title>Workers</title>" in workers.text
            assert client.get("/ui").status_code == 404


def test_a_run_page_links_its_trace_id_to_the_trace_backend(page: Any, site: Site) -> None:
    """A run triggered in the caller's trace: its page links that trace in the backend."""
    trace = uuid.uuid4().hex
    r = site.http.post(
        "/runs",
        json={"workflow": "build", "input": {}},
        headers={"traceparent": f"00-{trace}-{'ab' * 8}-01"},
    )
    assert r.status_code == 202, r.text
    rid = r.json()["run_id"]
    site.ended(rid)
    page.goto(f"{site.base}/ui/runs/{rid}")
    page.wait_for_selector("body[data-ended=true]")
    link = page.locator("#trace-link")
    assert link.text_content() == trace
    assert link.get_attribute("href") == TRACE_LINK.replace("{trace_id}", trace)
    assert link.get_attribute("rel") == "noreferrer noopener"


@pytest.mark.parametrize(
    "bad",
    [
        "traces.example/{trace_id}",
        "https://traces.example/",
        "javascript:{trace_id}",
        "https://t.example/{trace_id} x",
        5,
    ],
)
def test_a_trace_link_that_is_not_an_address_with_the_id_is_refused_at_once(
    bad: Any, tmp_path: Path
) -> None:
    with (
        open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver,
        pytest.raises(ValueError, match="trace_link"),
    ):
        create_app(
            workflows={"build": _chain(["fetch"]).compile()},
            checkpointer=saver,
            api_keys=KEYS,
            trace_link=bad,
        )


def test_a_run_page_shows_its_input_output_and_each_steps_attempts(page: Any, site: Site) -> None:
    """Input and output as JSON text; one attempt per step; a failed step's attempt
    carries its cause."""
    rid = site.trigger("build", {"title": MARKUP})
    assert site.ended(rid)["status"] == "completed"
    _open_run(page, site, rid)
    page.wait_for_selector("body[data-ops=ready]")
    assert MARKUP in page.locator("#input").text_content()
    assert '"render"' in page.locator("#output").text_content()
    rows = page.locator("#attempts tbody tr").evaluate_all(
        "els => els.map(e => [e.dataset.node, e.dataset.attempt, e.dataset.outcome])"
    )
    assert rows == [[n, "1", "succeeded"] for n in ("fetch", "parse", "render")]
    assert page.locator("#worker").is_hidden()  # an ended run is held by no worker
    assert page.locator("#content b").count() == 0  # the input's markup stays text
    broken = site.trigger("broken")
    site.ended(broken)
    _open_run(page, site, broken)
    page.wait_for_selector("body[data-ops=ready]")
    boom = page.locator('#attempts tr[data-node="boom"]')
    assert boom.get_attribute("data-outcome") == "failed"
    assert "END-OF-CAUSE" in boom.locator("td.cause").text_content()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_workers_page_shows_each_worker_and_a_dead_ones_run(
    browser: Any, site: Site, gate: Gate, tmp_path: Path, width: int, monkeypatch: Any
) -> None:
    """The worker alive with the run it holds; once it missed its heartbeat, dead on the
    workers page and on its run's page, which no longer reads as simply running."""
    rid = site.trigger("gated")
    assert gate.entered.wait(60)
    site.until(rid, lambda r: r["status"] == "running")
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.add_init_script(f"sessionStorage.setItem({STORE_KEY!r}, {KEY!r})")
    try:
        p = context.new_page()
        p.set_default_timeout(20_000)
        p.goto(f"{site.base}/ui/workers")
        row = p.locator("#workers tbody tr")
        row.locator('a[href$="' + rid + '"]').wait_for()  # the caller's run, linked
        assert row.get_attribute("data-state") == "alive"
        shot = p.screenshot(full_page=True)
        (tmp_path / f"workers-{width}.png").write_bytes(shot)
        assert png_size(shot)[0] == width  # nothing overflows the screen
        workers = site.app.state.workers
        run_watch.unkeep(workers.liveness)  # it beats no more, as if its process died
        later = liveness._now() + liveness.DEAD_AFTER_BEATS * workers.liveness.every + 1
        monkeypatch.setattr(liveness, "_now", lambda: later)
        p.wait_for_selector('#workers tbody tr[data-state="dead"]')
        p.goto(f"{site.base}/ui")
        listed = p.locator(f'tr[data-run="{rid}"]')
        listed.locator(".st-dead").wait_for()  # running, and its worker dead
        assert listed.get_attribute("data-status") == "running"
        p.goto(f"{site.base}/ui/runs/{rid}")
        p.wait_for_selector('#worker[data-worker="dead"]')
        assert "missed its heartbeat" in p.locator("#worker").text_content()
        shot = p.screenshot(full_page=True)
        (tmp_path / f"dead-run-{width}.png").write_bytes(shot)
        assert png_size(shot)[0] == width
    finally:
        context.close()
        gate.release.set()
