"""One watcher per process for all its runs: cancel flags, heartbeats, thread lock sessions.

It is the process's one liveness mechanism: whatever else the process holds under a
lease (the runs service's queue claims) is renewed on the same beat, through a
``Keeper``, not by a thread of its own per run.

A thread per run that polls its own row costs a thread and a query per run and
interval. Instead, one daemon thread per process, every ``INTERVAL`` seconds while the
process has runs or keepers:

- reads the cancel flags of all its running rows, one query per database
  (``RunStore.cancels``), and stops the runs that were asked to stop (``cancel_run``);
- every ``HEARTBEAT_SECONDS`` vouches for its running rows (``RunStore.heartbeat``), so
  their lease does not run out while the process lives;
- calls each ``Keeper`` (``keep``) every ``Keeper.every`` seconds: one statement renews
  all its claims (the runs service's queue: ``_service.workers``);
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
from typing import Any, Protocol

from langgraph_runner._db.alock_session import asessions
from langgraph_runner._db.lock_session import sessions
from langgraph_runner._runs import run_store as _store
from langgraph_runner._runs.run_store import RunStore

__all__ = [
    "INTERVAL",
    "Keeper",
    "beat_soon",
    "keep",
    "store_of",
    "tick",
    "unkeep",
    "unwatch",
    "watch",
    "watched",
]

INTERVAL = 0.2
"""Seconds between two reads of the cancel flags (so a cancel lands within about this)."""

_log = logging.getLogger("langgraph_runner.runs")


class Keeper(Protocol):
    """Something this process vouches for on the watcher's beat, besides its runs rows.

    The runs service's workers keep their queue claims so: ``beat`` renews every claim
    of the process in one statement, so a worker's thread count does not grow with its
    runs, and a process that dies stops renewing all of them at once.
    """

    @property
    def every(self) -> float:
        """Seconds between two beats (a third of the lease they renew, say)."""
        ...

    def beat(self) -> None:
        """Renew what is kept (called on the watcher's thread; it may raise)."""
        ...


class _Watcher:
    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.runs: dict[str, tuple[RunStore, Callable[[str], None]]] = {}
        self.beats: dict[tuple[Any, ...], float] = {}
        self.keepers: dict[Keeper, float] = {}  # each keeper's last beat (monotonic)
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
                busy = bool(self.runs or self.keepers)
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


def keep(keeper: Keeper) -> None:
    """Beat ``keeper`` on the watcher's thread until ``unkeep`` (its first beat after
    ``keeper.every`` seconds; keeping it again changes nothing)."""
    with _WATCHER.guard:
        _WATCHER.keepers.setdefault(keeper, time.monotonic())
        _WATCHER.ensure_thread()
    _WATCHER.wake.set()


def unkeep(keeper: Keeper) -> None:
    """Stop beating ``keeper`` (it holds nothing now)."""
    with _WATCHER.guard:
        _WATCHER.keepers.pop(keeper, None)


def beat_soon() -> None:
    """Beat every keeper on the watcher's next round (something changed: a cancel)."""
    with _WATCHER.guard:
        for keeper in _WATCHER.keepers:
            _WATCHER.keepers[keeper] = float("-inf")


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
        heartbeat: Vouch for every store's running rows and beat every keeper now,
            whenever it last did.
    """
    with _WATCHER.guard:
        runs = dict(_WATCHER.runs)
        keepers = list(_WATCHER.keepers)
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
    _beat_keepers(keepers, now, heartbeat=heartbeat)
    for session in sessions():
        try:
            session.check()
        except Exception as exc:
            _log.debug("lock session of %s unchecked: %s", session.database, type(exc).__name__)
    for asession in asessions():  # checked on their own event loops
        asession.check_soon()


def _beat_keepers(keepers: list[Keeper], now: float, *, heartbeat: bool) -> None:
    for keeper in keepers:
        with _WATCHER.guard:  # (read again: another round may have beaten it since)
            last = _WATCHER.keepers.get(keeper)
            if last is None or (not heartbeat and now - last < keeper.every):
                continue  # let go of, or not due
            _WATCHER.keepers[keeper] = now
        try:
            keeper.beat()
        except Exception as exc:
            _log.debug("keeper %r did not beat: %s", keeper, type(exc).__name__)
