"""One watcher per process for all its runs: cancel flags, heartbeats, thread lock sessions.

A thread per run that polls its own row costs a thread and a query per run and
interval. Instead, one daemon thread per process, every ``INTERVAL`` seconds while the
process has runs:

- reads the cancel flags of all its running rows, one query per database
  (``RunStore.cancels``), and stops the runs that were asked to stop (``cancel_run``);
- every ``HEARTBEAT_SECONDS`` vouches for its running rows (``RunStore.heartbeat``), so
  their lease does not run out while the process lives;
- proves each thread lock session alive, taking its locks again on a new connection
  after a break (``lock_session``; an async saver's own session, ``alock_session``, is
  checked on its event loop).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from langgraph_runner._db.alock_session import asessions
from langgraph_runner._db.lock_session import sessions
from langgraph_runner._runs import run_store as _store
from langgraph_runner._runs.run_store import RunStore

__all__ = ["INTERVAL", "store_of", "tick", "unwatch", "watch", "watched"]

INTERVAL = 0.2
"""Seconds between two reads of the cancel flags (so a cancel lands within about this)."""

_log = logging.getLogger("langgraph_runner.runs")


class _Watcher:
    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.runs: dict[str, tuple[RunStore, Callable[[str], None]]] = {}
        self.beats: dict[tuple[Any, ...], float] = {}
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def ensure_thread(self) -> None:
        if self.thread is not None and self.thread.is_alive() and self.pid == os.getpid():
            return
        self.pid = os.getpid()
        self.thread = threading.Thread(
            target=self.loop, name="langgraph-runner-run-watch", daemon=True
        )
        self.thread.start()

    def loop(self) -> None:
        while True:
            with self.guard:
                busy = bool(self.runs)
            if not busy:
                self.wake.wait()
                self.wake.clear()
                continue
            time.sleep(INTERVAL)
            try:
                tick()
            except Exception:  # pragma: no cover - tick guards each part
                _log.exception("run watcher tick failed")


_WATCHER = _Watcher()


def watch(store: RunStore, run_id: str, on_cancel: Callable[[str], None]) -> None:
    """Watch ``run_id``'s row in ``store``: ``on_cancel(reason)`` when its flag is set."""
    with _WATCHER.guard:
        _WATCHER.runs[run_id] = (store, on_cancel)
        _WATCHER.ensure_thread()
    _WATCHER.wake.set()


def unwatch(run_id: str) -> None:
    """Stop watching ``run_id`` (its run ended)."""
    with _WATCHER.guard:
        _WATCHER.runs.pop(run_id, None)


def store_of(run_id: str) -> RunStore | None:
    """The runs store ``run_id`` is watched in (None: not a run of this process now)."""
    with _WATCHER.guard:
        entry = _WATCHER.runs.get(run_id)
    return None if entry is None else entry[0]


def watched() -> int:
    """How many runs this process watches now."""
    with _WATCHER.guard:
        return len(_WATCHER.runs)


def tick(*, heartbeat: bool = False) -> None:
    """One round of the watcher (the thread calls it every ``INTERVAL`` seconds).

    Args:
        heartbeat: Vouch for every store's running rows now, whenever it last did.
    """
    with _WATCHER.guard:
        runs = dict(_WATCHER.runs)
    by_store: dict[tuple[Any, ...], tuple[RunStore, list[str]]] = {}
    for run_id, (store, _) in runs.items():
        by_store.setdefault(store.key, (store, []))[1].append(run_id)
    now = time.monotonic()
    for key, (store, run_ids) in by_store.items():
        try:
            asked = store.cancels()
        except Exception as exc:
            _log.debug("cancel flags of %s unread: %s", store.database, type(exc).__name__)
            asked = {}
        for run_id, reason in asked.items():
            entry = runs.get(run_id)
            if entry is not None and entry[0].key == key:
                entry[1](reason)
        if heartbeat or now - _WATCHER.beats.get(key, 0.0) >= _store.HEARTBEAT_SECONDS:
            try:
                store.heartbeat(run_ids)
                _WATCHER.beats[key] = now
            except Exception as exc:
                _log.debug("heartbeat of %s failed: %s", store.database, type(exc).__name__)
    for session in sessions():
        try:
            session.check()
        except Exception as exc:
            _log.debug("lock session of %s unchecked: %s", session.database, type(exc).__name__)
    for asession in asessions():  # checked on their own event loops
        asession.check_soon()
