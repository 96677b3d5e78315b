"""Bounding a shared cache backend's calls: a timeout per call and a pause after one times out.

A backend call runs in a daemon thread bounded by ``timeout``; one that times out
pauses the backend for ``BACKEND_PAUSE`` seconds (its calls skipped). Each tier of
a ``TieredCache`` gets a guard of its own (``guarded_tiers``), so a hung front tier
(Redis) is skipped while the back tier (PostgreSQL) keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langgraph.cache.base import BaseCache, FullKey

from langgraph_runner._cache.backends import TieredCache, is_shared
from langgraph_runner._records.exceptions import BackendTimeout

__all__ = ["BACKEND_PAUSE", "BackendGuard", "guarded_tiers"]

BACKEND_PAUSE = 10.0
"""Seconds a backend that timed out is left alone (its calls skipped) before it is tried again."""
_MAX_STUCK = 8  # backend calls running past their timeout, process-wide; more are refused


_stuck_lock = threading.Lock()
_running = [0]


def _release() -> None:
    with _stuck_lock:
        _running[0] -= 1


def _reserve(timeout: float) -> None:
    with _stuck_lock:
        if _running[0] >= _MAX_STUCK:
            raise BackendTimeout(f"{_MAX_STUCK} cache backend calls are still running; skipped")
        _running[0] += 1


class BackendGuard:
    """Runs backend calls in daemon threads, bounded by ``timeout``; pauses after one times out.

    A call that times out keeps its thread until the backend answers (a daemon
    thread: it never holds up the process's exit); at most ``_MAX_STUCK`` such
    calls run at once, later ones are refused at once.
    """

    __slots__ = ("paused_until", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.paused_until = 0.0

    def paused(self) -> bool:
        return self.paused_until > time.monotonic()

    def _timed_out(self) -> BackendTimeout:
        self.paused_until = time.monotonic() + BACKEND_PAUSE
        return BackendTimeout(
            f"the cache backend did not answer within {self.timeout:g} s "
            f"(skipped for {BACKEND_PAUSE:g} s)"
        )

    def call(self, fn: Callable[..., Any], arg: Any) -> Any:
        _reserve(self.timeout)
        box: list[Any] = []
        done = threading.Event()

        def run() -> None:
            try:
                box.append((True, fn(arg)))
            except BaseException as exc:
                box.append((False, exc))
            finally:
                _release()
                done.set()

        threading.Thread(target=run, name="langgraph_runner-cache", daemon=True).start()
        if not done.wait(self.timeout):
            raise self._timed_out()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    async def acall_sync(self, fn: Callable[..., Any], arg: Any) -> Any:
        _reserve(self.timeout)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

        def run() -> None:
            try:
                outcome = (True, fn(arg))
            except BaseException as exc:
                outcome = (False, exc)
            finally:
                _release()
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=run, name="langgraph_runner-cache", daemon=True).start()
        try:
            return await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11
            raise self._timed_out() from None

    async def acall(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except asyncio.TimeoutError:
            raise self._timed_out() from None


class _GuardedTier(BaseCache[Any]):
    """One tier of a ``TieredCache`` bounded by a guard of its own: a tier that times out is
    paused alone (while paused, reads miss and writes are skipped), so a hung Redis in front
    only costs speed and the PostgreSQL tier behind keeps serving."""

    def __init__(self, tier: BaseCache[Any], guard: BackendGuard) -> None:
        super().__init__(serde=tier.serde)
        self.tier = tier
        self.guard = guard

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """The tier's entries, or none while it is paused."""
        if self.guard.paused():
            return {}
        found: dict[FullKey, Any] = self.guard.call(self.tier.get, keys)
        return found

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        """Async ``get`` (in a worker thread)."""
        return await asyncio.to_thread(self.get, keys)

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Write to the tier, unless it is paused."""
        if not self.guard.paused():
            self.guard.call(self.tier.set, pairs)

    async def aset(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        """Async ``set`` (in a worker thread)."""
        await asyncio.to_thread(self.set, pairs)

    def clear(self, namespaces: Sequence[tuple[str, ...]] | None = None) -> None:
        """Clear the tier (bounded like any call, even while paused)."""
        self.guard.call(self.tier.clear, namespaces)

    async def aclear(self, namespaces: Sequence[tuple[str, ...]] | None = None) -> None:
        """Async ``clear`` (in a worker thread)."""
        await asyncio.to_thread(self.clear, namespaces)


def guarded_tiers(view: TieredCache[Any], timeout: float) -> TieredCache[Any]:
    """``view`` with each shared tier bounded and paused on its own (see ``_GuardedTier``)."""

    def tier(backend: BaseCache[Any]) -> BaseCache[Any]:
        return _GuardedTier(backend, BackendGuard(timeout)) if is_shared(backend) else backend

    return TieredCache(
        tier(view.front), tier(view.back), front_ttl=view.front_ttl, back_ttl=view.back_ttl
    )
