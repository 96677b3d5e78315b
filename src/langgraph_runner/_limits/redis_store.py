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
  during the outage is lost); with ``"closed"`` a rate-limited or budgeted call is
  refused with ``LimitStoreUnavailableError`` (record code
  ``LIMIT_STORE_UNAVAILABLE``), never taken for a spent budget.
- **Garbage is not a limit.** What the scripts read is validated: a limit's field
  that is not a finite number reads as fresh (a key of another type is reset); a
  budget that does not hold a spend (negative, not a number, another type) is
  treated like an unreachable store for that call (``on_unavailable`` decides)
  and logged as ``ratelimit.store_invalid``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from langgraph_runner._internal.checks import check_choice, check_text
from langgraph_runner._internal.durations import seconds
from langgraph_runner._internal.extras import require_extra
from langgraph_runner._internal.redis_client import redis_client
from langgraph_runner._limits import gcra, scripts
from langgraph_runner._limits.gcra import Decision, Rates
from langgraph_runner._limits.stores import BudgetLimits, Spent, real_asleep, real_sleep, valid
from langgraph_runner._policies.abort import AbortSignal
from langgraph_runner._policies.outage import Outage
from langgraph_runner._records.logs import get_event_logger

if TYPE_CHECKING:
    import redis

__all__ = ["RedisLimitStore"]

_US = 1_000_000
_INVALID = object()  # Redis answered, but not with a limit's or a budget's state


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
        check_text(prefix, "prefix", "RedisLimitStore")
        check_choice(on_unavailable, "on_unavailable", "RedisLimitStore", ("open", "closed"))
        self.prefix = prefix
        self.on_unavailable = on_unavailable
        self.reconnect_interval = _seconds("reconnect_interval", reconnect_interval)
        seconds = _seconds("timeout", timeout)
        self.client: redis.Redis = redis_client(client, timeout=seconds, owner="RedisLimitStore")
        self._errors: tuple[type[BaseException], ...] = (redis_mod.RedisError, OSError)
        self._answer_errors: tuple[type[BaseException], ...] = (
            redis_mod.ResponseError,
            ValueError,
            TypeError,
            IndexError,
        )
        self._no_script: type[BaseException] = redis_mod.exceptions.NoScriptError
        self._scripts = {
            name: self.client.register_script(getattr(scripts, name))
            for name in ("ACQUIRE", "SETTLE", "BLOCK", "BUDGET_ADD", "BUDGET_TAKE")
        }
        self._rates: dict[Rates, tuple[str, ...]] = {}
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

    def _rate_args(self, rates: Rates) -> tuple[str, ...]:
        args = self._rates.get(rates)
        if args is None:
            args = tuple(_us(x) for x in rates)
            if len(self._rates) < 1024:  # one entry per RateLimit in practice
                self._rates[rates] = args
        return args

    def acquire(
        self, key: str, rates: Rates, cost: float, max_wait: float, reserve: bool = False
    ) -> Decision:
        """Reserve a slot in Redis (see ``LimitStore.acquire``)."""
        wait = "-1" if max_wait < 0 else "1e15" if max_wait > 1e9 else f"{max_wait * _US:.0f}"
        reply = self._run(
            "ACQUIRE",
            self.limit_key(key),
            (*self._rate_args(rates), "1" if cost == 1 else repr(float(cost)), wait,
             "1" if reserve else "0"),
        )  # fmt: skip
        if reply is None or reply is _INVALID:
            if self.fails_closed:
                return Decision(False, self.reconnect_interval, gcra.UNREACHABLE)
            return Decision(True, 0.0, gcra.UNREACHABLE)
        granted, waited, reason, tokens = reply
        return Decision(
            granted == 1,
            float(waited) / _US,
            gcra.BLOCKED if reason == 1 else gcra.RATE,
            float(tokens),
        )

    def spend(self, key: str, rates: Rates, tokens: float) -> None:
        """Take tokens from the limit's token bucket in Redis."""
        self.settle(key, rates, tokens, 0.0)

    def settle(self, key: str, rates: Rates, tokens: float, reserved: float) -> None:
        """Take (or give back) the difference between used and reserved tokens in Redis."""
        if rates.tok_interval <= 0:
            return
        args = (_us(rates.tok_interval), repr(float(tokens)), repr(float(reserved)))
        self._run("SETTLE", self.limit_key(key), (*args, repr(gcra.MEAN_WEIGHT)))

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
        reply = self._budget_reply("BUDGET_ADD", key, args)
        return Spent() if reply is None else reply[1]

    def take_call(self, key: str, limits: BudgetLimits, ttl: float) -> tuple[bool, Spent] | None:
        """Count one call on a budget unless a limit is reached (one Lua script)."""
        args = (*("" if x is None else repr(float(x)) for x in limits), f"{ttl * 1000:.0f}")
        return self._budget_reply("BUDGET_TAKE", key, args)

    def _budget_reply(
        self, script: str, key: str, args: tuple[str, ...]
    ) -> tuple[bool, Spent] | None:
        reply = self._run(script, self.budget_key(key), args)
        if reply is None or reply is _INVALID:
            return None
        found = valid(reply[1], reply[2], reply[3])
        if reply[0] == -1 or found is None:
            self._invalid(self.budget_key(key))
            return None
        return reply[0] == 1, found

    def spent(self, key: str) -> Spent | None:
        """A budget's spend so far; None when Redis is unreachable or holds no spend there."""
        if self._outage.skip():
            return None
        name = self.budget_key(key)
        try:
            tokens, cost, calls = self.client.hmget(name, "tokens", "cost", "calls")
        except self._answer_errors:
            self._invalid(name)
            return None
        except self._errors as exc:
            self._outage.lost(exc)
            return None
        self._outage.back()
        found = valid(tokens, cost, calls)
        if found is None:
            self._invalid(name)
        return found

    def _invalid(self, name: str) -> None:
        get_event_logger().emit(
            logging.WARNING, "ratelimit.store_invalid", store=self.prefix, key=name
        )

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
        """The script's reply; None when Redis is unreachable, ``_INVALID`` when it answered
        with an error (the store is up: only this answer is unusable)."""
        if self._outage.skip():
            return None
        found = self._scripts[script]
        try:
            try:  # EVALSHA straight away (Script.__call__ costs more than the script)
                reply = self.client.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", found.sha, 1, key, *args
                )
            except self._no_script:
                reply = found(keys=[key], args=args)  # loads the script, then runs it
        except self._answer_errors:
            self._outage.back()
            return _INVALID
        except self._errors as exc:
            self._outage.lost(exc)
            return None
        self._outage.back()
        return reply


def _us(seconds: float) -> str:
    return f"{seconds * _US:.6f}"
