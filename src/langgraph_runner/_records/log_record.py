"""The stdlib ``LogRecord`` of one event, as ``Logger.makeRecord`` makes it, made lean.

``logging.LogRecord.__init__`` works out, on every record, what is the same for
every one of our events: the file name and module of a record with no caller
(``os.path.basename``/``splitext`` of ``"(unknown file)"``), the arguments, the
empty exception and stack fields. A failing node writes one record per failure,
and on that path each of those calls is paid cold. ``make_record`` copies those
fields from a record the stdlib made (one per logger and level) and sets what
changes from record to record exactly as ``LogRecord.__init__`` does: the
message, the level name, the creation time, the thread, process and asyncio task.

The lean record is used only where it is the same record: the stdlib's own
factory (no ``logging.setLogRecordFactory``), ``Logger.makeRecord`` not
overridden, and a Python whose ``LogRecord`` sets the fields this module knows
in that order and computes its times with the same formulas (checked once per
logger and level against a real record; 3.10 to 3.12). Anywhere else, and on
3.13 and later, ``makeRecord`` makes it. When only Python's last-resort handler would
see the record (``logs._audience``), no record is made: ``print_as_last_resort``
writes its message as that handler would.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from time import time
from typing import Any

__all__ = ["make_record", "print_as_last_resort"]

_LogRecord = logging.LogRecord
_MAKE_RECORD = logging.Logger.makeRecord
_new = object.__new__
_get_ident = threading.get_ident
_current_thread = threading.current_thread
_TASKS = sys.version_info >= (3, 12)  # LogRecord.taskName
_LEAN = sys.version_info < (3, 13)  # 3.13 times records in nanoseconds: makeRecord makes them
_START: float = logging._startTime  # type: ignore[attr-defined]  # when logging was imported
_PATH = "(unknown file)"
_FUNC = "(unknown function)"

# The times of a record, which differ between two records made in turn (``_proto``
# checks them by their formulas); ``_fill`` sets these and the other per-record fields.
_TIMES = ("created", "msecs", "relativeCreated")
_KNOWN = (  # the fields, in the order LogRecord.__init__ sets them (3.10 to 3.12)
    "name",
    "msg",
    "args",
    "levelname",
    "levelno",
    "pathname",
    "filename",
    "module",
    "exc_info",
    "exc_text",
    "stack_info",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "processName",
    "process",
    *(("taskName",) if _TASKS else ()),
)

_PROTOS: dict[tuple[str, int], dict[str, Any] | None] = {}
"""(logger name, level) -> the copied fields of a real record; None: not lean here."""
_UNSEEN: dict[str, Any] = {}  # by identity: no record made yet for the key


def _fill(fields: dict[str, Any], level: int, msg: str, extra: dict[str, Any]) -> Any:
    """A record with ``fields`` and what changes per record, set as ``LogRecord`` sets it."""
    ct = time()
    record = _new(_LogRecord)
    d = record.__dict__
    d.update(fields)
    d["msg"] = msg
    d["levelname"] = logging.getLevelName(level)
    d["levelno"] = level
    d["created"] = ct
    d["msecs"] = int((ct - int(ct)) * 1000) + 0.0
    d["relativeCreated"] = (ct - _START) * 1000
    if logging.logThreads:
        d["thread"] = _get_ident()
        d["threadName"] = _current_thread().name
    else:
        d["thread"] = d["threadName"] = None
    if logging.logMultiprocessing:
        name = "MainProcess"
        mp = sys.modules.get("multiprocessing")
        if mp is not None:
            try:  # noqa: SIM105 (a with-block per record costs more)
                name = mp.current_process().name
            except Exception:
                pass
        d["processName"] = name
    else:
        d["processName"] = None
    d["process"] = os.getpid() if logging.logProcesses and hasattr(os, "getpid") else None
    if _TASKS:
        task = None
        if logging.logAsyncioTasks:  # type: ignore[attr-defined,unused-ignore]  # 3.12+
            asyncio = sys.modules.get("asyncio")
            if asyncio:
                try:  # noqa: SIM105 (as above)
                    task = asyncio.current_task().get_name()
                except Exception:  # no running loop, or no task
                    pass
        d["taskName"] = task
    d.update(extra)
    return record


def _proto(logger: logging.Logger, level: int) -> dict[str, Any] | None:
    """The fields to copy for ``(logger, level)``, checked against a real record once."""
    real = logger.makeRecord(logger.name, level, _PATH, 0, "", (), None, _FUNC)
    found = real.__dict__
    fields = dict(found)  # every field, in order: _fill sets the per-record ones in place
    lean = _fill(fields, level, "", {}).__dict__
    ct = real.created
    same = (
        tuple(found) == _KNOWN
        and tuple(lean) == _KNOWN
        and all(lean[k] == v for k, v in found.items() if k not in _TIMES)
        and real.msecs == int((ct - int(ct)) * 1000) + 0.0
        and real.relativeCreated == (ct - _START) * 1000
    )
    return fields if same else None


def make_record(
    logger: logging.Logger, level: int, msg: str, extra: dict[str, Any]
) -> logging.LogRecord:
    """``logger.makeRecord`` of an event with no caller (``"(unknown file)"``, line 0).

    Args:
        logger: The logger the record is for.
        level: The record's level.
        msg: The record's message (no arguments).
        extra: Attributes added to the record, as ``makeRecord``'s ``extra`` (names
            the record does not have).

    Returns:
        The record: the same fields, values and order as ``makeRecord``'s.
    """
    if (
        _LEAN
        and logging.getLogRecordFactory() is _LogRecord
        and logger.__class__.makeRecord is _MAKE_RECORD
        and "makeRecord" not in logger.__dict__
    ):
        key = (logger.name, level)
        fields = _PROTOS.get(key, _UNSEEN)
        if fields is _UNSEEN:
            fields = _PROTOS[key] = _proto(logger, level)
        if fields is not None:
            return _fill(fields, level, msg, extra)  # type: ignore[no-any-return]
    return logger.makeRecord(logger.name, level, _PATH, 0, msg, (), None, _FUNC, extra)


def print_as_last_resort(line: str) -> None:
    """Write one line to ``sys.stderr`` as Python's last-resort handler would write the
    message of a record (the caller checked that handler is the stdlib's own, unchanged)."""
    handler = logging.lastResort
    assert handler is not None
    lock = handler.lock
    assert lock is not None  # made with the handler
    lock.acquire()  # acquire/release is ~2x cheaper than `with` on CPython 3.11
    try:
        stream = sys.stderr
        if stream is None:  # no stderr (pythonw): the handler writes nowhere either
            return
        stream.write(line + "\n")
        stream.flush()
    finally:
        lock.release()
