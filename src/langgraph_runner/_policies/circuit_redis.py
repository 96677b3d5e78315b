"""Circuit breakers shared by processes through Redis (the ``redis`` extra).

``get_circuit_breaker(key, config, store=RedisBreakerStore(url))`` returns a
``SharedCircuitBreaker``: a ``CircuitBreaker`` whose state lives in Redis, so
every worker counts the same consecutive failures, opens together, and admits
exactly ``half_open_max_calls`` probes (one by default) between them.

- **Atomic transitions.** Admission, failure and success each run one Lua
  script on the server, with the server's clock: no lost update, no clock skew.
- **Probe leases.** A probe holds a lease (``probe_lease`` seconds) that its
  success or failure releases; if its worker dies, the lease expires and the
  next caller probes instead.
- **Cached closed state.** A closed state read from Redis is trusted locally for
  ``cache_ttl`` seconds (at most half the ``recovery_timeout``), so the common
  check costs no round trip; an open state for at most as long. Failures always
  go to Redis. A worker may thus admit a call up to ``cache_ttl`` after another
  worker opened the circuit; its failure is not counted, and its answer tells
  the worker the circuit is open.
- **Redis is not a dependency of your nodes.** When Redis is unreachable (or
  answers an error) the breaker falls back to its own local state, logs
  ``circuit.store_unreachable`` once per outage and ``circuit.store_recovered``
  when Redis answers again, and tries Redis at most once per
  ``reconnect_interval`` meanwhile. Counts made locally are not merged back.
"""

from __future__ import annotations

import contextvars
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from langgraph_runner._internal.checks import check_text
from langgraph_runner._internal.durations import seconds
from langgraph_runner._internal.extras import require_extra
from langgraph_runner._internal.redis_client import redis_client
from langgraph_runner._policies import breaker_scripts as lua
from langgraph_runner._policies.circuit import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    _name_of,
)
from langgraph_runner._policies.outage import Outage
from langgraph_runner._records.exceptions import CircuitOpenError

if TYPE_CHECKING:
    import redis

__all__ = ["RedisBreakerStore", "SharedCircuitBreaker"]

_STATES = (CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN)
_LOCAL = "local"  # admitted by the local fallback state
_monotonic = time.monotonic


class RedisBreakerStore:
    """Breaker state in Redis, shared by every process that uses the same server and prefix.

    Args:
        client: A ``redis.Redis`` client (sync; give it short socket timeouts), or a
            URL such as ``"redis://127.0.0.1:6379/0"``, for which a client with
            ``timeout`` socket timeouts and no retries is made.
        prefix: Prefix of the keys (``<prefix>{<breaker key>}`` and ``...:probes``).
        cache_ttl: Seconds a state read from Redis is trusted locally (float or
            timedelta, default 0.5), capped at half a breaker's ``recovery_timeout``
            so a stale closed state never outlives the open period; 0 asks Redis
            on every check.
        probe_lease: Seconds a half-open probe may run before another worker may
            probe (default 10); set it above your node's attempt timeout.
        timeout: Socket timeouts of a client made from a URL (default 0.25 s).
        reconnect_interval: While Redis is unreachable, try it at most this often
            (default 1 s); the breakers use their local state meanwhile.

    Raises:
        ImportError: The ``redis`` extra is not installed.
        TypeError: ``client`` is neither a ``redis.Redis`` nor a URL, or a time is
            not a number of seconds.
        ValueError: An empty prefix, or a time out of range.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        prefix: str = "langgraph_runner:breaker:",
        cache_ttl: float | timedelta = 0.5,
        probe_lease: float | timedelta = 10.0,
        timeout: float | timedelta = 0.25,
        reconnect_interval: float | timedelta = 1.0,
    ) -> None:
        redis_mod = require_extra("redis", "redis")
        check_text(prefix, "prefix", "RedisBreakerStore")
        self.prefix = prefix
        owner = "RedisBreakerStore"
        self.cache_ttl = seconds(cache_ttl, "cache_ttl", owner=owner, zero=True)  # 0: no cache
        self.probe_lease = seconds(probe_lease, "probe_lease", owner=owner)
        self.reconnect_interval = seconds(reconnect_interval, "reconnect_interval", owner=owner)
        limit = seconds(timeout, "timeout", owner=owner)
        self.client: redis.Redis = redis_client(client, timeout=limit, owner="RedisBreakerStore")
        self._errors: tuple[type[BaseException], ...] = (redis_mod.RedisError, OSError)
        self._scripts = {
            name: self.client.register_script(getattr(lua, name))
            for name in ("ADMIT", "FAILURE", "SUCCESS", "PEEK")
        }
        # Redis unreachable: breakers use their local state until it answers again.
        self._outage = Outage(
            events="circuit",
            store=prefix,
            reconnect_interval=self.reconnect_interval,
            fallback="local state",
        )

    def __repr__(self) -> str:
        down = " unreachable" if self._outage.down else ""
        return f"<RedisBreakerStore prefix={self.prefix!r}{down}>"

    def breaker(self, key: str, config: CircuitBreakerConfig | None = None) -> SharedCircuitBreaker:
        """A new breaker named ``key`` whose state lives in Redis.

        Prefer ``get_circuit_breaker(key, config, store=store)``, which keeps one per
        process and lets nodes name it by key.

        Raises:
            ValueError: An empty key.
        """
        return SharedCircuitBreaker(key, config, store=self)

    def owns(self, breaker: CircuitBreaker) -> bool:
        """Whether ``breaker`` keeps its state in this store."""
        return isinstance(breaker, SharedCircuitBreaker) and breaker.store is self

    @property
    def unreachable(self) -> bool:
        """Whether Redis is unreachable now (breakers use their local state)."""
        return self._outage.down

    def keys(self, key: str) -> list[str]:
        """The Redis keys of breaker ``key``: its hash and its probe leases."""
        base = f"{self.prefix}{{{key}}}"
        return [base, f"{base}:probes"]

    def _run(self, script: str, keys: list[str], args: Sequence[str | int]) -> list[int] | None:
        """Run one of the breaker scripts; None (and the outage noted) when Redis fails."""
        try:
            reply: list[int] = self._scripts[script](keys=keys, args=args)
        except self._errors as exc:
            self._outage.lost(exc)
            return None
        self._outage.back()
        return reply

    def _command(self, name: str, *args: object) -> None:
        """Run a plain command whose answer does not matter; note an outage."""
        try:
            getattr(self.client, name)(*args)
        except self._errors as exc:
            self._outage.lost(exc)


class SharedCircuitBreaker(CircuitBreaker):
    """A ``CircuitBreaker`` whose state lives in a ``RedisBreakerStore`` (see the module).

    The interface is ``CircuitBreaker``'s, so ``create_node(circuit_breaker=...)``
    takes it. Listeners hear the transitions this process caused; ``state`` and
    ``snapshot()`` read Redis (the local fallback state while it is unreachable).

    Args:
        name: The breaker's key, shared by every process.
        config: Thresholds; ``CircuitBreakerConfig()`` defaults when None. Every
            process should use the same.
        store: Where the state lives.

    Raises:
        ValueError: An empty name.
    """

    def __init__(
        self, name: str, config: CircuitBreakerConfig | None = None, *, store: RedisBreakerStore
    ) -> None:
        check_text(name, "name", "SharedCircuitBreaker")
        super().__init__(name, config)
        self._store = store
        self._keys = store.keys(name)
        self._recovery_ms = max(1, round(self._recovery * 1000))
        self._lease_ms = max(1, round(store.probe_lease * 1000))
        # Below half the recovery: a stale closed view expires before probes are due.
        self._ttl = min(store.cache_ttl, self._recovery / 2)
        # Monotonic deadlines of what Redis last said (0.0: ask again).
        self._closed_until = 0.0  # closed: admit locally
        self._settled_until = 0.0  # closed with no failure: successes need not be told
        self._open_until = 0.0  # open: reject locally...
        self._probe_at = 0.0  # ...with retry_after counted to here
        # How the current thread/task's call was admitted: a probe's lease token, or _LOCAL.
        self._mark: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"langgraph_runner_shared_circuit_{name}", default=None
        )

    def __repr__(self) -> str:
        return f"<SharedCircuitBreaker {self._name!r} {self._store!r}>"

    @property
    def store(self) -> RedisBreakerStore:
        """Where the breaker's state lives."""
        return self._store

    @property
    def settled(self) -> bool:
        """Closed with no failure, as last read from Redis within ``cache_ttl``."""
        store = self._store
        if store._outage.down:
            return self._local_settled and _monotonic() < store._outage.retry_at
        return _monotonic() < self._settled_until

    @settled.setter
    def settled(self, value: bool) -> None:  # the local fallback state writes it
        self._local_settled = value

    @property
    def state(self) -> CircuitState:
        """The state in Redis (the local fallback state while Redis is unreachable)."""
        view = self._peek()
        return super().state if view is None else _STATES[view[0]]

    def before_call(self, node: str | Callable[[], str] | None = None) -> None:
        """Admit an attempt, or reject it (see ``CircuitBreaker.before_call``)."""
        now = _monotonic()
        if now < self._closed_until:
            return
        store = self._store
        if store._outage.skip():
            return self._local_call(node)
        if now < self._open_until:
            raise CircuitOpenError(self._name, self._probe_at - now, node=_name_of(node))
        token = secrets.token_hex(8)
        args = (self._recovery_ms, self._max_probes, self._lease_ms, token)
        reply = store._run("ADMIT", self._keys, args)
        if reply is None:
            return self._local_call(node)
        decision, failures, wait_ms, change = reply
        if decision == 0:
            self._view(0, failures, 0)
            return None
        self._view(1 if wait_ms > 0 else 2, failures, wait_ms)
        if change:
            self._notify(*_change(change))
        if decision == 1:
            self._mark.set(token)
            return None
        raise CircuitOpenError(self._name, wait_ms / 1000, node=_name_of(node))

    def on_success(self) -> None:
        """Record a successful attempt (told to Redis unless settled)."""
        mark = self._mark.get()
        if mark is not None:
            self._mark.set(None)
        elif self.settled:
            return
        self._report("SUCCESS", mark, super().on_success, self._max_probes)

    def on_failure(self) -> None:
        """Record a failed attempt (always told to Redis while it answers)."""
        mark = self._mark.get()
        if mark is not None:
            self._mark.set(None)
        self._report("FAILURE", mark, super().on_failure, self._threshold)

    def on_ignored(self) -> None:
        """Record an outcome that must not count; a probe gives its lease back."""
        mark = self._mark.get()
        if mark is None:
            return
        self._mark.set(None)
        if mark == _LOCAL:
            super().on_ignored()
            return
        self._store._command("zrem", self._keys[1], mark)  # else the lease expires

    def reset(self) -> None:
        """Force the circuit closed for every process, and the local state too."""
        self._store._command("delete", *self._keys)
        self._view(0, 0, 0)
        super().reset()

    def snapshot(self) -> dict[str, Any]:
        """The breaker's state as JSON-serializable data (see ``CircuitBreaker.snapshot``).

        Adds ``store``: ``"redis"``, or ``"local"`` when Redis is unreachable and the
        local fallback state is shown.
        """
        view = self._peek()
        if view is None:
            return {**super().snapshot(), "store": "local"}
        state, failures, wait_ms, opened_ms, probes = view
        return {
            "name": self._name,
            "state": _STATES[state].value,
            "consecutive_failures": failures,
            "opened_at": opened_ms / 1000 if state else None,
            "retry_after": wait_ms / 1000 if state else None,
            "half_open_calls": probes if state == 2 else 0,
            "config": self._config.model_dump(mode="json"),
            "store": "redis",
        }

    def _local_call(self, node: str | Callable[[], str] | None) -> None:
        super().before_call(node)
        self._mark.set(_LOCAL)

    def _report(self, script: str, mark: str | None, local: Callable[[], None], arg: int) -> None:
        if mark == _LOCAL or self._store._outage.skip():
            local()
            return
        reply = self._store._run(script, self._keys, (self._recovery_ms, arg, mark or ""))
        if reply is None:
            local()
            return
        state, failures, wait_ms, change = reply
        self._view(state, failures, wait_ms)
        if change:
            self._notify(*_change(change))

    def _peek(self) -> list[int] | None:
        if self._store._outage.skip():
            return None
        return self._store._run("PEEK", self._keys, (self._recovery_ms,))

    def _view(self, state: int, failures: int, wait_ms: int) -> None:
        """Trust what Redis said for ``cache_ttl``: a closed or open state (not half-open)."""
        until = _monotonic() + self._ttl
        if state == 0:
            self._open_until = 0.0
            self._closed_until = until
            self._settled_until = until if failures == 0 else 0.0
            return
        self._closed_until = self._settled_until = 0.0
        self._probe_at = until - self._ttl + wait_ms / 1000
        self._open_until = min(until, self._probe_at) if state == 1 else 0.0


def _change(code: int) -> tuple[CircuitState, CircuitState]:
    old, new = lua.CHANGES[code]
    return CircuitState(old), CircuitState(new)
