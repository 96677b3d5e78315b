"""``RedisLimitStore``: rate limits and budgets shared by processes through Redis.

- **One atomic script per decision** (``scripts``), on the server's clock: no lost
  update between workers, no clock skew. A call reserves its slot in one round
  trip and then waits locally, so a waiting caller costs Redis nothing.
- **Held off together.** A 429 or Retry-After seen by any worker writes "blocked
  until" into the limit's hash; every worker's next acquire waits for it.
- **Redis down.** The store logs ``ratelimit.store_unreachable`` once per outage
  (``ratelimit.store_recovered`` when it answers again) and tries Redis at most
  once per ``reconnect_interval`` meanwhile. With ``on_unavailable="open"``
  (default) calls go ahead unlimited and budgets are not enforced (their spend
  during the outage is lost); with ``"closed"`` a rate-limited call is refused
  (``RateLimitedError``, reason ``"store unreachable"``) and a budgeted call is
  stopped (``BudgetExceededError``, ``exhausted="store unreachable"``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from langgraph_runner._internal.durations import seconds
from langgraph_runner._internal.extras import require_extra
from langgraph_runner._internal.redis_client import redis_client
from langgraph_runner._limits import gcra, scripts
from langgraph_runner._limits.gcra import Decision, Rates
from langgraph_runner._limits.stores import Spent, real_asleep, real_sleep
from langgraph_runner._policies.abort import AbortSignal
from langgraph_runner._policies.outage import Outage

if TYPE_CHECKING:
    import redis

__all__ = ["RedisLimitStore"]

_US = 1_000_000


def _seconds(name: str, value: object) -> float:
    return seconds(value, name, owner="RedisLimitStore")


class RedisLimitStore:
    """Rate-limit and budget state in Redis, shared by every process using the same prefix.

    Args:
        client: A sync ``redis.Redis`` client (give it short socket timeouts), or a
            URL such as ``"redis://127.0.0.1:6379/0"``, for which a client with
            ``timeout`` socket timeouts and no retries is made.
        prefix: Prefix of the keys: ``<prefix>{<limit key>}`` and
            ``<prefix>budget:{<budget key>}``.
        on_unavailable: ``"open"`` (default): while Redis is unreachable calls go
            ahead unlimited and budgets are not enforced; ``"closed"``: they are
            refused (see the module).
        timeout: Socket timeouts of a client made from a URL (default 0.25 s).
        reconnect_interval: While Redis is unreachable, try it at most this often
            (default 1 s).

    Raises:
        ImportError: The ``redis`` extra is not installed.
        TypeError: ``client`` is neither a ``redis.Redis`` nor a URL, or a time is
            not a number of seconds.
        ValueError: An empty prefix, a bad ``on_unavailable``, or a time out of range.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        prefix: str = "langgraph_runner:limit:",
        on_unavailable: Literal["open", "closed"] = "open",
        timeout: float | timedelta = 0.25,
        reconnect_interval: float | timedelta = 1.0,
    ) -> None:
        redis_mod = require_extra("redis", "redis")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"RedisLimitStore: prefix must be a non-empty string, got {prefix!r}")
        if on_unavailable not in ("open", "closed"):
            raise ValueError(
                "RedisLimitStore: on_unavailable must be 'open' or 'closed', "
                f"got {on_unavailable!r}"
            )
        self.prefix = prefix
        self.on_unavailable = on_unavailable
        self.reconnect_interval = _seconds("reconnect_interval", reconnect_interval)
        seconds = _seconds("timeout", timeout)
        self.client: redis.Redis = redis_client(client, timeout=seconds, owner="RedisLimitStore")
        self._errors: tuple[type[BaseException], ...] = (redis_mod.RedisError, OSError)
        self._scripts = {
            name: self.client.register_script(getattr(scripts, name))
            for name in ("ACQUIRE", "SPEND", "BLOCK", "BUDGET_ADD")
        }
        self._outage = Outage(
            events="ratelimit",
            store=prefix,
            reconnect_interval=self.reconnect_interval,
            fallback="unlimited" if on_unavailable == "open" else "refuse calls",
        )

    def __repr__(self) -> str:
        down = " unreachable" if self._outage.down else ""
        return (
            f"<RedisLimitStore prefix={self.prefix!r} on_unavailable={self.on_unavailable}{down}>"
        )

    @property
    def unreachable(self) -> bool:
        """Whether Redis is unreachable now."""
        return self._outage.down

    @property
    def fails_closed(self) -> bool:
        """Whether calls are refused while Redis is unreachable."""
        return self.on_unavailable == "closed"

    def limit_key(self, key: str) -> str:
        """The Redis key of rate limit ``key``."""
        return f"{self.prefix}{{{key}}}"

    def budget_key(self, key: str) -> str:
        """The Redis key of budget ``key``."""
        return f"{self.prefix}budget:{{{key}}}"

    # ------------------------------------------------------------------ rate limits

    def acquire(self, key: str, rates: Rates, cost: float, max_wait: float) -> Decision:
        """Reserve a slot in Redis (see ``LimitStore.acquire``)."""
        wait_us = -1 if max_wait < 0 else min(max_wait, 1e9) * _US
        reply = self._run(
            "ACQUIRE",
            self.limit_key(key),
            (*(_us(x) for x in rates), repr(float(cost)), f"{wait_us:.0f}"),
        )
        if reply is None:
            if self.fails_closed:
                return Decision(False, self.reconnect_interval, gcra.UNREACHABLE)
            return Decision(True, 0.0, gcra.UNREACHABLE)
        granted, wait, reason = reply
        return Decision(
            bool(int(granted)), float(wait) / _US, gcra.BLOCKED if int(reason) else gcra.RATE
        )

    def spend(self, key: str, rates: Rates, tokens: float) -> None:
        """Take tokens from the limit's token bucket in Redis."""
        self._run("SPEND", self.limit_key(key), (_us(rates.tok_interval), repr(float(tokens))))

    def block(self, key: str, seconds: float) -> None:
        """Hold every worker off ``key`` for ``seconds``."""
        self._run("BLOCK", self.limit_key(key), (f"{seconds * _US:.0f}",))

    def peek(self, key: str, rates: Rates) -> float:
        """Seconds a one-request call would wait now (0 when Redis is unreachable)."""
        decision = self.acquire(key, rates, 1.0, -1.0)
        return 0.0 if decision.reason == gcra.UNREACHABLE else max(0.0, decision.wait)

    # ------------------------------------------------------------------ budgets

    def add_spend(self, key: str, tokens: float, cost: float, calls: int, ttl: float) -> Spent:
        """Add to a budget's spend in Redis; the totals after it (zeros when unreachable)."""
        args = (repr(float(tokens)), repr(float(cost)), str(int(calls)), f"{ttl * 1000:.0f}")
        reply = self._run("BUDGET_ADD", self.budget_key(key), args)
        if reply is None:
            return Spent()
        return Spent(float(reply[0]), float(reply[1]), int(reply[2]))

    def spent(self, key: str) -> Spent | None:
        """A budget's spend so far; None when Redis is unreachable (unknown)."""
        if self._outage.skip():
            return None
        try:
            tokens, cost, calls = self.client.hmget(self.budget_key(key), "tokens", "cost", "calls")
        except self._errors as exc:
            self._outage.lost(exc)
            return None
        self._outage.back()
        return Spent(float(tokens or 0), float(cost or 0), int(calls or 0))

    def reset(self, key: str) -> None:
        """Forget a limit's and a budget's state named ``key``, for every process."""
        try:
            self.client.delete(self.limit_key(key), self.budget_key(key))
        except self._errors as exc:
            self._outage.lost(exc)

    # ------------------------------------------------------------------ waiting

    def sleep(self, seconds: float, signal: AbortSignal | None) -> bool:
        """A real sleep, ended by ``signal``."""
        return real_sleep(seconds, signal)

    async def asleep(self, seconds: float, signal: AbortSignal | None) -> bool:
        """A real asyncio sleep, ended by ``signal`` or cancellation."""
        return await real_asleep(seconds, signal)

    # ------------------------------------------------------------------ Redis

    def _run(self, script: str, key: str, args: tuple[str, ...]) -> Any:
        if self._outage.skip():
            return None
        try:
            reply = self._scripts[script](keys=[key], args=args)
        except self._errors as exc:
            self._outage.lost(exc)
            return None
        self._outage.back()
        return reply


def _us(seconds: float) -> str:
    return f"{seconds * _US:.6f}"
