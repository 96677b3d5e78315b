"""Tests for the browser UI's attempts table on a run's page (``run_ops.js``): each attempt
of a step, each failed one with its own error record, in Debian's chromium (playwright),
against the app served by uvicorn.

The tests wait for what the page shows (its own text), never for a fixed time; retry
waits are zero (``no_wait``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from langgraph_runner import create_node, get_node_context
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from langgraph_runner.testing import no_wait
from tests.browser import keyed_page, launched, png_size
from tests.fakes import chain_graph
from tests.service.test_ui import STORE_KEY, Build, Site, _serve, _step

KEY = "attempts-ui-key-" + uuid.uuid4().hex
SECRET = "sk-live-0123456789abcdefghijklmnop"


def _printer(state: Build) -> dict[str, Any]:
    """Attempt 1 refused (a secret in its message), attempt 2 timed out, then a success; for
    a run titled ``never`` every later attempt fails too."""
    ctx = get_node_context()
    attempt = ctx.attempt if ctx else 1
    if attempt == 1:
        raise ConnectionError(f"the printer refused, key {SECRET}")
    if attempt == 2 or state.get("title") == "never":
        raise TimeoutError(f"attempt {attempt}: the printer timed out")
    return {"log": ["print"]}


def _node(name: str) -> Any:
    if name == "print":
        return create_node(_printer, retry=3, on_error="record")
    if name == "spool":  # twelve attempts, more than a run keeps
        return create_node(_printer, retry=12, on_error="record")
    return _step(name)


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    """One headless chromium for the module (each test gets its own context)."""
    with launched() as browser:
        yield browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver, no_wait():
        app = create_app(
            workflows={
                "print": chain_graph(Build, ["fetch", "print"], _node).compile(),
                "spool": chain_graph(Build, ["fetch", "spool"], _node).compile(),
            },
            checkpointer=saver,
            api_keys={KEY: "tenant-attempts-ui"},
            workers=1,
            poll_interval=0.1,
        )
        with _serve(app) as s:
            s.http.headers.update({"X-API-Key": KEY})
            yield s


def _shown(chrome: Any, site: Site, workflow: str, title: str, width: int) -> Any:
    """The run's page once its attempts were read after the run ended."""
    rid = site.trigger(workflow, {"title": title})
    site.ended(rid)
    page = keyed_page(chrome, STORE_KEY, KEY, width)
    page.goto(f"{site.base}/ui/runs/{rid}")
    page.wait_for_selector("body[data-ops=ready]")
    return page


def _rows(page: Any, step: str) -> list[list[str]]:
    return list(
        page.locator(f'#attempts tr[data-node="{step}"][data-attempt]').evaluate_all(
            "els => els.map(e => [e.dataset.attempt, e.dataset.outcome,"
            " e.querySelector('td.error').textContent, e.querySelector('td.cause').textContent,"
            " e.querySelector('td.duration').textContent])"
        )
    )


@pytest.mark.parametrize("width", [390, 1280])
def test_each_attempt_shows_its_own_error_record(
    chrome: Any, site: Site, width: int, tmp_path: Path
) -> None:
    """A step retried to success: each failed attempt its error type, code, category and
    redacted message, every attempt its duration; the secret nowhere on the page, which
    does not overflow the screen."""
    page = _shown(chrome, site, "print", "once", width)
    try:
        rows = _rows(page, "print")
        assert [r[:2] for r in rows] == [["1", "retried"], ["2", "retried"], ["3", "succeeded"]]
        assert rows[0][2] == "ConnectionError RETRY_EXHAUSTED / network"
        assert rows[1][2] == "TimeoutError RETRY_EXHAUSTED / timeout"
        assert rows[2][2] == ""
        assert "the printer refused, key [REDACTED]" in rows[0][3]
        assert "attempt 2: the printer timed out" in rows[1][3]
        assert all(r[4].endswith(("ms", "s")) for r in rows)
        assert SECRET not in page.content()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px wider than the window at {width}px"
        shot = page.screenshot(full_page=True)
        (tmp_path / f"attempts-{width}.png").write_bytes(shot)
        assert png_size(shot)[0] == width
        assert page.errors == []
    finally:
        page.context.close()


def test_a_step_out_of_attempts_shows_each_failure_and_what_was_not_kept(
    chrome: Any, site: Site
) -> None:
    """Three failures of their own, the last ``failed``; twelve attempts: the first and
    latest five, with a row saying which were not kept."""
    page = _shown(chrome, site, "print", "never", 1280)
    try:
        rows = _rows(page, "print")
        assert [r[:2] for r in rows] == [["1", "retried"], ["2", "retried"], ["3", "failed"]]
        types = [r[2].split()[0] for r in rows]
        assert types == ["ConnectionError", "TimeoutError", "TimeoutError"]
        assert "attempt 3: the printer timed out" in rows[2][3]
    finally:
        page.context.close()
    page = _shown(chrome, site, "spool", "never", 1280)
    try:
        numbers = [int(r[0]) for r in _rows(page, "spool")]
        assert numbers == [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]
        gap = page.locator('#attempts tr.gap[data-node="spool"]')
        assert gap.get_attribute("data-gap") == "6-7"
        assert gap.inner_text().strip().endswith("attempts 6 to 7 not kept")
        assert page.errors == []
    finally:
        page.context.close()
