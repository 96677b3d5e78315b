"""Tests for _policies.outage: one warning per Redis outage, a retry time, one recovery note."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from langgraph_runner._policies.outage import Outage


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.lgr_fields for r in caplog.records if hasattr(r, "lgr_fields")]


def test_an_outage_warns_once_redacted_and_recovers_once(caplog: pytest.LogCaptureFixture) -> None:
    """Failures during one outage warn once (secret redacted); the first answer notes the end."""
    caplog.set_level(logging.DEBUG, logger="langgraph_runner")
    outage = Outage(events="demo", store="p:", reconnect_interval=60.0, fallback="local")
    outage.back()  # up already: nothing to note
    for _ in range(3):
        outage.lost(ConnectionError("redis://:hunter2secret@cache:6379 refused"))
    assert outage.down and outage.skip()
    outage.back()
    outage.back()
    assert not outage.down and not outage.skip()
    events = _events(caplog)
    assert [e["event"] for e in events] == ["demo.store_unreachable", "demo.store_recovered"]
    assert events[0]["fallback"] == "local" and events[0]["store"] == "p:"
    assert "hunter2secret" not in events[0]["error"]


def test_redis_is_tried_again_after_the_reconnect_interval() -> None:
    """While down, skip() is true until reconnect_interval has passed since the last failure."""
    outage = Outage(events="demo", store="p:", reconnect_interval=60.0, fallback="local")
    outage.lost(OSError("down"))
    assert outage.skip()
    outage.retry_at = time.monotonic() - 1.0  # the interval has passed
    assert outage.down and not outage.skip()
