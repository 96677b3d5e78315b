"""Abort signals: a thread-safe way to tell running node code to stop.

Python's ``RunnableConfig`` has no ``signal`` key (LangGraph JS has
``config.signal``). langgraph_runner puts an ``AbortSignal`` under
``config["configurable"]["abort_signal"]`` (``ABORT_SIGNAL_KEY``) for a whole
run; every node attempt gets its own ``AbortController`` linked to it, which also
fires when the attempt times out. Node code can poll ``signal.aborted``, call
``signal.throw_if_aborted()``, block on ``signal.wait_sync()``, ``await
signal.wait()`` or register a listener. ``abort()`` may be called from any
thread; the first reason wins.

Checkpoint savers never see the signal: LangGraph copies only ``str``, ``int``,
``float`` and ``bool`` configurable values into checkpoint metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from langgraph_runner._policies.context import get_node_context
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import NodeAbortedError
from langgraph_runner._records.logs import get_event_logger

__all__ = ["ABORT_SIGNAL_KEY", "AbortController", "AbortSignal"]

ABORT_SIGNAL_KEY = "abort_signal"
"""The ``configurable`` key under which a run's ``AbortSignal`` travels."""

Listener = Callable[[Any], object]

_TOKENS = itertools.count()  # next() on itertools.count is atomic under the GIL


def _noop() -> None:
    return None


def _resolve(fut: asyncio.Future[Any], reason: Any) -> None:
    if not fut.done():
        fut.set_result(reason)


class AbortSignal:
    """Read side of an abort: observed by node code, fired by an ``AbortController``.

    Create signals with ``AbortController().signal`` (or ``AbortSignal.any``);
    a signal cannot fire itself.
    """

    __slots__ = (
        "__weakref__",
        "_aborted",
        "_dead",
        "_event",
        "_links",
        "_listeners",
        "_lock",
        "_reason",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aborted = False
        self._reason: Any = None
        self._listeners: dict[int, Listener] = {}
        # Tokens of listeners whose follower was garbage collected. Finalizers may
        # run while this thread holds _lock (GC can trigger anywhere), so they only
        # append here, lock-free, and the entries are purged under the lock later.
        self._dead: deque[int] = deque()
        self._event: threading.Event | None = None  # created on first wait_sync()
        # Detachers from the signals this one follows (see _follow).
        self._links: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        state = f"aborted reason={self._reason!r}" if self._aborted else "pending"
        return f"<AbortSignal {state}>"

    # Deep copies of a RunnableConfig must keep pointing at the same signal.
    def __copy__(self) -> AbortSignal:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AbortSignal:
        return self

    @property
    def aborted(self) -> bool:
        """Whether the signal has fired."""
        return self._aborted

    @property
    def reason(self) -> Any:
        """The reason given to the first ``abort()`` (None before, or if none was given)."""
        return self._reason

    def throw_if_aborted(self) -> None:
        """Raise ``NodeAbortedError`` if the signal has fired.

        The error names the node and attempt of the current ``NodeContext``
        (``"<unknown>"`` and 1 outside a wrapped node); its ``__cause__`` is the
        reason when the reason is an exception.

        Raises:
            NodeAbortedError: The signal has fired.
        """
        if not self._aborted:
            return
        ctx = get_node_context()
        reason = self._reason
        err = NodeAbortedError(
            ctx.node if ctx is not None else "<unknown>",
            reason,
            attempt=ctx.attempt if ctx is not None else 1,
        )
        raise err from (reason if isinstance(reason, BaseException) else None)

    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(reason)`` once when the signal fires.

        Called at once (in this thread) if the signal has already fired, else in
        the thread that calls ``abort()``. Exceptions from the callback are logged
        as ``abort.listener_failed`` and never raised.

        Args:
            callback: Receives the abort reason.

        Returns:
            A function that unsubscribes the callback; calling it again, or after
            the signal fired, does nothing.
        """
        with self._lock:
            self._purge()
            if not self._aborted:
                token = next(_TOKENS)
                self._listeners[token] = callback
                return lambda: self._remove(token)
        _call_listener(callback, self._reason)
        return _noop

    def _remove(self, token: int) -> None:
        with self._lock:
            self._listeners.pop(token, None)

    def _purge(self) -> None:  # caller holds _lock
        dead = self._dead
        while dead:
            self._listeners.pop(dead.popleft(), None)

    def listener_count(self) -> int:
        """How many listeners are registered (for leak checks in tests)."""
        with self._lock:
            self._purge()
            return len(self._listeners)

    def wait_sync(self, timeout: float | None = None) -> bool:
        """Block this thread until the signal fires or ``timeout`` seconds pass.

        Args:
            timeout: Seconds to wait at most; None waits indefinitely.

        Returns:
            Whether the signal has fired.
        """
        if self._aborted:
            return True
        with self._lock:
            if self._aborted:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    async def wait(self) -> Any:
        """Wait until the signal fires, whichever thread fires it.

        Cancelling the waiting task unsubscribes it (nothing is left behind).

        Returns:
            The abort reason.
        """
        if self._aborted:
            return self._reason
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()

        def wake(reason: Any) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, fut, reason)

        unsubscribe = self.add_listener(wake)
        try:
            return await fut
        finally:
            unsubscribe()

    def _fire(self, reason: Any) -> bool:
        with self._lock:
            if self._aborted:
                return False
            self._reason = reason
            self._aborted = True
            listeners = list(self._listeners.values())
            self._listeners.clear()
            event = self._event
            links, self._links = self._links, []
        if event is not None:
            event.set()
        for link in links:  # it has fired: stop following other signals
            link()
        for callback in listeners:
            _call_listener(callback, reason)
        return True

    def _follow(self, source: AbortSignal) -> None:
        """Fire when ``source`` fires; detached by ``_unfollow``, firing, or GC of self."""
        token = next(_TOKENS)
        live = [True]  # False once detached explicitly

        def collected(_ref: object) -> None:
            # self was dropped without close(): the entry must still leave the
            # (long-lived) source. GC may run this while a lock is held, so only
            # queue the token (lock-free) for the source to purge.
            if live[0]:
                source._dead.append(token)

        # The source holds forward -> ref, never self; ref's callback fires on GC.
        ref = weakref.ref(self, collected)

        def forward(reason: Any) -> None:
            target = ref()
            if target is not None:
                target._fire(reason)

        with source._lock:
            source._purge()
            if not source._aborted:
                source._listeners[token] = forward
                registered = True
            else:
                registered = False
        if not registered:
            self._fire(source._reason)
            return

        def detach() -> None:
            live[0] = False
            source._remove(token)

        with self._lock:
            if not self._aborted:
                self._links.append(detach)
                return
        detach()

    def _unfollow(self) -> None:
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link()

    @classmethod
    def any(cls, *signals: AbortSignal) -> AbortSignal:
        """A signal that fires, with the same reason, when any of ``signals`` fires.

        It stops listening to the others once it fires or is garbage collected,
        so combining with a long-lived run signal leaks nothing.

        Args:
            *signals: The signals to follow.

        Returns:
            A new signal (already aborted if one of ``signals`` is).
        """
        combined = cls()
        for source in signals:
            combined._follow(source)
            if combined._aborted:
                break
        return combined


def _call_listener(callback: Listener, reason: Any) -> None:
    try:
        callback(reason)
    except Exception as exc:  # a listener is not node code: log, never raise into abort()
        get_event_logger().emit(
            logging.ERROR,
            "abort.listener_failed",
            listener=getattr(callback, "__qualname__", repr(callback)),
            error_type=type(exc).__name__,
            error=egress_text(str(exc)),
        )


class AbortController:
    """Write side of an abort: owns an ``AbortSignal`` and fires it.

    Usable as a context manager that calls ``close()`` on exit.

    Args:
        parent: A signal to follow: when it fires this controller aborts with the
            parent's reason (at once if it already has).
    """

    __slots__ = ("__weakref__", "_signal")

    def __init__(self, *, parent: AbortSignal | None = None) -> None:
        self._signal = AbortSignal()
        if parent is not None:
            self._signal._follow(parent)

    def __repr__(self) -> str:
        return f"<AbortController signal={self._signal!r}>"

    def __enter__(self) -> AbortController:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def signal(self) -> AbortSignal:
        """The signal this controller fires."""
        return self._signal

    def abort(self, reason: Any = None) -> bool:
        """Fire the signal. Idempotent and thread-safe; the first reason wins.

        Listeners run in the calling thread, before this returns.

        Args:
            reason: Why (any object; an exception is typical).

        Returns:
            True if this call fired the signal, False if it had already fired.
        """
        return self._signal._fire(reason)

    def close(self) -> None:
        """Stop following the parent signal. Idempotent; does not abort."""
        self._signal._unfollow()
