"""Tests for the browser UI's schedules section (on the runs page) and a run's webhook
section, in Debian's chromium (playwright), against the app served by uvicorn with a real
webhook receiver.

The tests wait for what the page shows (its own text), never for a fixed time; the
screenshots are read back (their size, a pixel of the page) to check what was drawn.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from langgraph_runner import RetryConfig
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app
from tests.browser import keyed_page, launched, png_pixel, png_size
from tests.fakes import chain_graph
from tests.service.test_ui import STORE_KEY, Build, Site, _serve, _step
from tests.service.webhook_receiver import Receiver, receiver

KEY = "hooks-ui-key-" + uuid.uuid4().hex
A = {"X-API-Key": KEY}
SECRET = "whsec-ui-0123456789abcdef"


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    """One headless chromium for the module (each test gets its own context)."""
    with launched() as browser:
        yield browser


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as rec:
        yield rec


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with open_checkpointer(f"sqlite:///{tmp_path / 'runs.db'}") as saver:
        app = create_app(
            workflows={"build": chain_graph(Build, ["fetch", "render"], _step).compile()},
            checkpointer=saver,
            api_keys={KEY: "tenant-hooks-ui", "other-key": "tenant-other"},
            workers=1,
            poll_interval=0.1,
            webhook_secret=SECRET,
            # Retries come quickly here: the page is watched live, on the real clock.
            webhook_retry=RetryConfig(max_attempts=3, initial_interval=0.05, jitter=0),
        )
        with _serve(app) as s:
            s.http.headers.update(A)
            yield s


def _page(chrome: Any, width: int) -> Any:
    return keyed_page(chrome, STORE_KEY, KEY, width)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_runs_page_lists_the_tenants_schedules(chrome: Any, site: Site, width: int) -> None:
    """Each schedule shows its workflow, cron, next run and count, with no overflow;
    Delete removes it (from the API too)."""
    made = [
        site.http.post("/schedules", json={"workflow": "build", "cron": c}).json()
        for c in ("*/5 * * * *", "0 9 * * 1-5")
    ]
    page = _page(chrome, width)
    try:
        page.goto(f"{site.base}/ui")
        for s in made:
            page.wait_for_selector(f'tr[data-schedule="{s["schedule_id"]}"]')
        rows = page.locator("#schedules tbody tr")
        assert rows.count() == 2
        first = page.locator(f'tr[data-schedule="{made[1]["schedule_id"]}"]')
        assert first.locator(".cron").inner_text() == "0 9 * * 1-5"
        assert first.locator(".fired").inner_text() == "0"
        assert first.locator(".next").inner_text()  # the next tick, in the browser's zone
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px wider than the window at {width}px"
        shot = page.screenshot(full_page=False)
        assert png_size(shot) == (width, 900)
        assert png_pixel(shot, 2, 898) == png_pixel(shot, width - 3, 898)  # an even page
        first.locator("button").click()
        page.wait_for_selector(f'tr[data-schedule="{made[1]["schedule_id"]}"]', state="detached")
        assert site.http.get(f"/schedules/{made[1]['schedule_id']}").status_code == 404
        assert page.errors == []
    finally:
        page.context.close()


def test_the_run_page_shows_each_webhook_attempt(chrome: Any, site: Site, hook: Receiver) -> None:
    """A receiver that answers 500, then 200: the run's page lists both attempts with
    their status codes and the error, and reads delivered."""
    hook.codes = [500, 200]
    r = site.http.post("/runs", json={"workflow": "build", "webhook": hook.url + "?token=abc"})
    rid = r.json()["run_id"]
    site.ended(rid)
    page = _page(chrome, 1280)
    try:
        page.goto(f"{site.base}/ui/runs/{rid}")
        page.wait_for_selector('#webhook[data-state="delivered"]')
        page.wait_for_selector('#webhook-attempts tr[data-attempt="2"]')
        codes = page.locator("#webhook-attempts tbody .code").all_inner_texts()
        assert codes == ["500", "200"]
        assert "HTTP 500" in page.locator("#webhook-attempts tbody").inner_text()
        text = page.locator("#webhook").inner_text()
        assert text.startswith("delivered: http://127.0.0.1:") and "token=***" in text
        assert "abc" not in page.locator("#content").inner_text()
        shot = page.locator("#webhook-attempts").screenshot()
        assert png_size(shot)[1] > 40  # the header and two rows were drawn
        plain = site.trigger("build")
        site.ended(plain)
        page.goto(f"{site.base}/ui/runs/{plain}")
        page.wait_for_selector('#webhook[data-state="none"]')
        assert page.locator("#webhook-attempts").is_hidden()
        assert page.errors == []
    finally:
        page.context.close()
