"""make_record: the record an event gets is the one ``Logger.makeRecord`` would make."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from langgraph_runner._records import log_record
from langgraph_runner._records.log_record import make_record

TIMES = ("created", "msecs", "relativeCreated")  # the clock moves between the two records


def _both(logger: logging.Logger, level: int) -> tuple[dict[str, Any], dict[str, Any]]:
    extra = {"lgr_fields": {"event": "node.failed", "node": "n"}}
    ours = make_record(logger, level, "node.failed node=n", dict(extra))
    theirs = logger.makeRecord(
        logger.name,
        level,
        "(unknown file)",
        0,
        "node.failed node=n",
        (),
        None,
        "(unknown function)",
        dict(extra),
    )
    assert type(ours) is type(theirs)
    return ours.__dict__, theirs.__dict__


def _same(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert list(ours) == list(theirs)  # the same fields in the same order (JSON formatters)
    assert {k: v for k, v in ours.items() if k not in TIMES} == {
        k: v for k, v in theirs.items() if k not in TIMES
    }
    assert abs(ours["created"] - theirs["created"]) < 5.0
    assert ours["msecs"] == int((ours["created"] - int(ours["created"])) * 1000) + 0.0


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.ERROR, 25])
def test_the_same_record_as_make_record(level: int) -> None:
    """Every field, value and order as makeRecord's, custom level names included."""
    logger = logging.getLogger("langgraph_runner.test_log_record")
    _same(*_both(logger, level))
    if log_record._LEAN:  # through the copied fields (3.10 to 3.12), not makeRecord
        assert log_record._PROTOS[(logger.name, level)] is not None


def test_thread_and_task_are_the_callers() -> None:
    """The thread and (3.12+) asyncio task are read when the record is made."""
    logger = logging.getLogger("langgraph_runner.test_log_record")
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    worker = threading.Thread(target=lambda: seen.append(_both(logger, logging.ERROR)), name="w1")
    worker.start()
    worker.join()
    _same(*seen[0])
    assert seen[0][0]["threadName"] == "w1"

    async def in_a_task() -> tuple[dict[str, Any], dict[str, Any]]:
        return _both(logger, logging.ERROR)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        return await asyncio.create_task(in_a_task(), name="t1")

    ours, theirs = asyncio.run(main())
    _same(ours, theirs)
    if "taskName" in ours:
        assert ours["taskName"] == "t1"


def test_module_switches_are_read_per_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """logging.logThreads / logProcesses / logMultiprocessing set later are honoured."""
    logger = logging.getLogger("langgraph_runner.test_log_record")
    make_record(logger, logging.WARNING, "x", {})  # the fields to copy are taken now
    monkeypatch.setattr(logging, "logThreads", False)
    monkeypatch.setattr(logging, "logProcesses", False)
    monkeypatch.setattr(logging, "logMultiprocessing", False)
    ours, theirs = _both(logger, logging.WARNING)
    _same(ours, theirs)
    assert ours["thread"] is None and ours["process"] is None and ours["processName"] is None


def test_a_record_factory_or_make_record_of_the_app_makes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With logging.setLogRecordFactory, or makeRecord replaced, theirs make every record."""
    logger = logging.getLogger("langgraph_runner.test_log_record")

    class Mine(logging.LogRecord):
        pass

    default = logging.getLogRecordFactory()
    logging.setLogRecordFactory(Mine)
    try:
        assert type(make_record(logger, logging.ERROR, "x", {})) is Mine
    finally:
        logging.setLogRecordFactory(default)
    made: list[str] = []
    real = logger.makeRecord

    def counted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append("x")
        return real(*args, **kwargs)

    monkeypatch.setattr(logger, "makeRecord", counted)
    record = make_record(logger, logging.ERROR, "x", {"lgr_fields": {}})
    assert made == ["x"] and record.__dict__["lgr_fields"] == {}


def test_a_python_whose_record_differs_gets_make_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copied fields are checked once against a real record; a mismatch turns it off."""
    logger = logging.getLogger("langgraph_runner.test_log_record_other")
    monkeypatch.setattr(log_record, "_LEAN", True)  # the check itself, on any Python
    monkeypatch.setattr(log_record, "_KNOWN", ("name", "msg"))
    monkeypatch.setattr(log_record, "_PROTOS", {})
    _same(*_both(logger, logging.ERROR))
    assert log_record._PROTOS[(logger.name, logging.ERROR)] is None
