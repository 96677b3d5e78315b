"""The drivers' INFO check (node.started, node.succeeded) follows the stdlib logger exactly.

The check reads the logger's own level cache; these tests change the level, the
``disabled`` flag and the cache under it between calls, sync and async.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from langgraph_runner import create_node
from langgraph_runner._records.logs import LOGGER_NAME


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(record.getMessage().split(" ", 1)[0])


@pytest.fixture
def lines() -> Iterator[_Lines]:
    logger = logging.getLogger(LOGGER_NAME)
    handler = _Lines()
    level, disabled = logger.level, logger.disabled
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.disabled = disabled


def _ok(state: Any) -> dict[str, Any]:
    return {"x": 1}


async def _aok(state: Any) -> dict[str, Any]:
    return {"x": 1}


def _call(is_async: bool) -> None:
    if is_async:
        asyncio.run(create_node(_aok).ainvoke({}))
    else:
        create_node(_ok).invoke({})


@pytest.mark.parametrize("is_async", [False, True])
def test_info_events_follow_level_changes_between_calls(lines: _Lines, is_async: bool) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.WARNING)
    _call(is_async)
    _call(is_async)  # the cache now holds WARNING's answer for INFO
    assert lines.events == []
    logger.setLevel(logging.INFO)  # clears the cache
    _call(is_async)
    assert lines.events == ["node.started", "node.succeeded"]
    logger.setLevel(logging.WARNING)
    _call(is_async)
    assert lines.events == ["node.started", "node.succeeded"]


@pytest.mark.parametrize("is_async", [False, True])
def test_a_disabled_logger_gets_no_info_events(lines: _Lines, is_async: bool) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    _call(is_async)  # the cache now says INFO is on
    lines.events.clear()
    logger.disabled = True  # as logging.config's disable_existing_loggers does: no cache clear
    _call(is_async)
    assert lines.events == []
    logger.disabled = False
    _call(is_async)
    assert lines.events == ["node.started", "node.succeeded"]


@pytest.mark.parametrize("is_async", [False, True])
def test_logging_disable_is_followed(lines: _Lines, is_async: bool) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    _call(is_async)
    lines.events.clear()
    logging.disable(logging.INFO)
    try:
        _call(is_async)
    finally:
        logging.disable(logging.NOTSET)
    assert lines.events == []


def test_a_logger_class_with_its_own_level_check_is_asked() -> None:
    from langgraph_runner._records.logs import EventLogger

    class Quiet(logging.Logger):
        def isEnabledFor(self, level: int) -> bool:
            return False

    logger = logging.getLogger(LOGGER_NAME)
    log = EventLogger()
    assert log.stdlib is logger
    original = logger.__class__
    logger.__class__ = Quiet
    try:
        log = EventLogger()
        assert log.stdlib is None
        assert not log.enabled(logging.ERROR)
    finally:
        logger.__class__ = original
