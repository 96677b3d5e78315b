"""Shared fixtures: event and log capture, sync/async node builders, a seeded RNG, SQLite."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from langgraph_runner._records.logs import LOGGER_NAME
from langgraph_runner.testing import no_wait


class EventCapture:
    """A structlog-style logger that keeps every event it receives."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _log(self, level: str, event: str, **kw: Any) -> None:
        self.events.append({"event": event, "level": level, **kw})

    def debug(self, event: str, **kw: Any) -> None:
        self._log("debug", event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        self._log("info", event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._log("warning", event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        self._log("error", event, **kw)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


@pytest.fixture
def events() -> EventCapture:
    """A fresh event capture to pass as create_node(logger=...)."""
    return EventCapture()


@pytest.fixture
def instant() -> Iterator[None]:
    """Retry waits are zero inside the test."""
    with no_wait():
        yield


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(1234)


MODES = ("sync", "sync-ainvoke", "async")

ASYNC_CONTEXT_MISSING = sys.version_info < (3, 11)
"""Before Python 3.11 asyncio tasks cannot be given a context, so LangGraph's get_config(),
interrupt() and get_stream_writer() fail in nodes run from ainvoke/astream; a bare node fails
the same way (tests/engine/test_adapters.py shows it), so such tests skip there."""


def needs_async_context(mode: str = "async") -> Any:
    """Skip a test (or one mode of it) that LangGraph itself cannot run before Python 3.11."""
    return pytest.mark.skipif(
        ASYNC_CONTEXT_MISSING and mode != "sync",
        reason="LangGraph needs contextvar propagation into tasks (Python 3.11+) for "
        "get_config()/interrupt()/get_stream_writer() under ainvoke; bare nodes fail too",
    )


"""sync fn under invoke, sync fn under ainvoke, async fn under ainvoke."""


def as_mode(mode: str, body: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a sync ``(state)`` body into a sync or async node function with the same name."""
    if mode != "async":
        return body

    async def async_body(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return body(*args, **kwargs)

    async_body.__name__ = getattr(body, "__name__", type(body).__name__)
    async_body.__qualname__ = getattr(body, "__qualname__", async_body.__name__)
    return async_body


async def run_graph(graph: Any, mode: str, inp: Any, config: Any = None, **kw: Any) -> Any:
    """invoke (in a worker thread, like a sync app) or ainvoke, by mode."""
    if mode == "sync":
        return await asyncio.to_thread(graph.invoke, inp, config, **kw)
    return await graph.ainvoke(inp, config, **kw)


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    """The package's log events, captured from the ``langgraph_runner`` logger."""
    captured: list[dict[str, Any]] = []

    class _Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(dict(getattr(record, "lgr_fields", {"event": record.getMessage()})))

    logger = logging.getLogger(LOGGER_NAME)
    handler, old_level = _Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


counting_closures = pytest.mark.filterwarnings("ignore:code_fingerprint.*reads:UserWarning")
"""For cached test nodes that count their calls in a closure list: ``code_fingerprint``
rightly warns that a change to the list does not change the cache key; here it is intended."""


class SqliteConnect(Protocol):
    """The ``sqlite_connect`` fixture: opens a connection that is closed after the test."""

    def __call__(self, database: str | Path = ":memory:") -> sqlite3.Connection: ...


@pytest.fixture
def sqlite_connect() -> Iterator[SqliteConnect]:
    """Open SQLite connections (``":memory:"`` by default) that are closed after the test.

    A connection left to the garbage collector warns (ResourceWarning) wherever the
    collection happens to run, which may be inside another test.
    """
    opened: list[sqlite3.Connection] = []

    def connect(database: str | Path = ":memory:") -> sqlite3.Connection:
        conn = sqlite3.connect(database, check_same_thread=False)
        opened.append(conn)
        return conn

    try:
        yield connect
    finally:
        for conn in opened:
            conn.close()


# ---------------------------------------------------------------------- the order of the files
# Under xdist (``--dist loadfile`` in pyproject.toml) each worker takes whole files, in the
# order collected. The files known to take longest go first, so that the run does not end
# with one worker busy on a long file while the other has nothing left: known = the seconds
# each test took in the previous run (pytest's cache), a guess for a test not seen yet.
# A file stays whole, so its module-scoped fixtures are built once, on one worker.

_SECONDS_KEY = "langgraph_runner/test-seconds"
_GUESS_SLOW, _GUESS_FAST = 2.0, 0.02  # seconds for a test not in the cache yet
_known: dict[str, float] = {}  # nodeid -> seconds, from the previous run
_measured: dict[str, float] = {}  # nodeid -> seconds, this run (controller or single process)


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]  # as xdist's loadfile groups them


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    if workerinput is not None:  # an xdist worker: the controller read the cache for all
        _known.update(workerinput.get(_SECONDS_KEY, {}))
    elif cache is not None:
        _known.update(cache.get(_SECONDS_KEY, {}))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Every xdist worker orders the files by the same figures (one read of the cache)."""
    node.workerinput[_SECONDS_KEY] = _known


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds: dict[str, float] = {}
    for item in items:
        guess = _GUESS_SLOW if item.get_closest_marker("slow") else _GUESS_FAST
        path = _file(item.nodeid)
        seconds[path] = seconds.get(path, 0.0) + _known.get(item.nodeid, guess)
    # sorted() is stable: the tests of a file keep their order, and files theirs on a tie.
    items[:] = sorted(items, key=lambda item: -seconds[_file(item.nodeid)])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    cache = getattr(session.config, "cache", None)
    if cache is None or hasattr(session.config, "workerinput") or not _measured:
        return
    root = session.config.rootpath
    merged = {**_known, **_measured}
    cache.set(
        _SECONDS_KEY,
        {k: round(v, 3) for k, v in merged.items() if (root / _file(k)).exists()},
    )
