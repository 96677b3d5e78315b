"""``Budget``: tokens, cost and calls per run, thread or tenant; checked before, spent after.

A budget's spend is kept in a store under ``budget:<name>:<per>:<id>``, where the
id is the run's trace id, the thread id, or the tenant id read from
``config["configurable"][tenant_key]`` (or the metadata). Every call guarded by a
budget reserves it first (``reserve``): in one atomic step of the store the limits
are checked and the call is counted, so a budget of N calls admits at most N
calls whatever the concurrency. When a limit is reached (spent >= limit) the call
is not made and ``BudgetExceededError`` is raised. Tokens and cost are added as
each model call ends, so they may pass a limit by what the calls running at that
moment use. A shared store that cannot answer and fails closed refuses the call
with ``LimitStoreUnavailableError`` (never taken for a spent budget).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, NamedTuple

from langgraph_runner._internal.checks import check_choice, check_positive, check_text
from langgraph_runner._internal.durations import seconds
from langgraph_runner._limits import stats
from langgraph_runner._limits.stores import LimitStore, Spent, default_store
from langgraph_runner._limits.tokens import Usage
from langgraph_runner._records.exceptions import BudgetExceededError, LimitStoreUnavailableError
from langgraph_runner._records.logs import get_event_logger

__all__ = ["Budget", "BudgetStatus"]

_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()


class BudgetStatus(NamedTuple):
    """Where a budget stands for one run, thread or tenant.

    Attributes:
        name: The budget's name.
        per: ``"run"``, ``"thread"`` or ``"tenant"``.
        scope_id: The run, thread or tenant it counts for.
        spent: ``{"tokens", "cost", "calls"}`` spent so far.
        remaining: The same units left (None for a unit without a limit; never
            below 0).
        exhausted: Whether a limit is reached (the next call is stopped).
    """

    name: str
    per: str
    scope_id: str
    spent: dict[str, float]
    remaining: dict[str, float | None]
    exhausted: bool


def _limit(name: str, value: object, *, integer: bool = False) -> float | None:
    limit = check_positive(value, name, "Budget")
    if integer and limit is not None and limit != int(limit):
        raise ValueError(f"Budget: {name} must be a whole number, got {value!r}")
    return limit


@dataclass(frozen=True, kw_only=True)
class Budget:
    """A spending cap per run, thread or tenant.

    Args:
        name: The budget's name (budgets of one name and scope share their spend).
        per: ``"run"`` (default; the run's trace id), ``"thread"`` (the thread id,
            else the run) or ``"tenant"`` (``config["configurable"][tenant_key]``;
            a call without a tenant id is not counted).
        tokens: Most tokens (input + output, as the models report them).
        cost: Most cost, in the currency of ``prices``.
        calls: Most calls: node calls for ``create_node``, model calls for
            ``RunnerMiddleware``.
        prices: Model name -> ``(input, output)`` finite price per million tokens; a name
            also matches models it is a prefix of (``"gpt-4o"`` matches
            ``"gpt-4o-2024-08-06"``), and ``"*"`` prices every other model.
            Required with ``cost``.
        tenant_key: The ``configurable`` (or metadata) key of the tenant id.
        on_exhausted: ``"record"`` (default): the node fails with a record of code
            ``BUDGET_EXHAUSTED`` and the routing flags ``blocked`` and
            ``budget_exhausted`` (or raises, with ``on_error="raise"``);
            ``"raise"``: ``BudgetExceededError`` always leaves the node and ends the run.
        store: None for this process; a ``RedisLimitStore`` to share the spend
            between processes.
        ttl: How long a shared store keeps a budget's spend after its last change
            (default 7 days; seconds or a timedelta).

    Raises:
        TypeError: A value of the wrong type (the message names the field).
        ValueError: A value out of range, no limit, or ``cost`` without ``prices``.
    """

    name: str = "budget"
    per: Literal["run", "thread", "tenant"] = "run"
    tokens: float | None = None
    cost: float | None = None
    calls: int | None = None
    prices: Mapping[str, tuple[float, float]] | None = None
    tenant_key: str = "tenant_id"
    on_exhausted: Literal["record", "raise"] = "record"
    store: LimitStore | None = None
    ttl: float | timedelta = 7 * 24 * 3600.0
    _ttl: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_text(self.name, "name", "Budget")
        check_choice(self.per, "per", "Budget", ("run", "thread", "tenant"))
        limits = (
            _limit("tokens", self.tokens),
            _limit("cost", self.cost),
            _limit("calls", self.calls, integer=True),
        )
        if all(x is None for x in limits):
            raise ValueError("Budget: give at least one of tokens, cost or calls")
        if self.prices is not None:
            if not isinstance(self.prices, Mapping):
                raise TypeError("Budget: prices must be a mapping of model name -> (input, output)")
            for model, price in self.prices.items():
                ok = (
                    isinstance(price, tuple)
                    and len(price) == 2
                    and all(
                        isinstance(p, (int, float))
                        and not isinstance(p, bool)
                        and math.isfinite(p)
                        and p >= 0
                        for p in price
                    )
                )
                if not isinstance(model, str) or not model or not ok:
                    raise ValueError(
                        f"Budget: prices[{model!r}] must be (input, output) finite prices per "
                        f"million tokens >= 0, got {price!r}"
                    )
            object.__setattr__(self, "prices", dict(self.prices))
        elif self.cost is not None:
            raise ValueError("Budget: cost needs prices (model -> (input, output) per 1M tokens)")
        check_text(self.tenant_key, "tenant_key", "Budget")
        check_choice(self.on_exhausted, "on_exhausted", "Budget", ("record", "raise"))
        if self.store is not None and not isinstance(self.store, LimitStore):
            raise TypeError(
                "Budget: store must be a RedisLimitStore or InProcessLimitStore, "
                f"got {type(self.store).__name__}"
            )
        object.__setattr__(self, "ttl", seconds(self.ttl, "ttl", owner="Budget"))
        object.__setattr__(self, "_ttl", self.ttl)
        object.__setattr__(self, "calls", None if limits[2] is None else int(limits[2]))

    # ------------------------------------------------------------------ scope

    def scope_id(
        self, *, run: str | None, thread: str | None, config: Mapping[str, Any] | None
    ) -> str | None:
        """The id this budget counts a call under (None: not counted)."""
        if self.per == "run":
            return run
        if self.per == "thread":
            return thread or run
        for part in ("configurable", "metadata"):
            found = (config or {}).get(part) or {}
            tenant = found.get(self.tenant_key) if isinstance(found, Mapping) else None
            if tenant is not None and tenant != "":
                return str(tenant)
        return None

    def key(self, scope_id: str) -> str:
        """The store key of this budget's spend for ``scope_id``."""
        return f"budget:{self.name}:{self.per}:{scope_id}"

    def _store(self) -> LimitStore:
        return self.store if self.store is not None else default_store()

    def limits(self) -> dict[str, float | None]:
        """The limits per unit (None for none)."""
        return {"tokens": self.tokens, "cost": self.cost, "calls": self.calls}

    # ------------------------------------------------------------------ reading

    def status(self, scope_id: str) -> BudgetStatus:
        """Where the budget stands for ``scope_id`` (read from the store)."""
        spent = self._store().spent(self.key(scope_id))
        return self._status(scope_id, spent if spent is not None else Spent())

    def status_of(self, scope_id: str, spent: Spent) -> BudgetStatus:
        """Where the budget stands for ``scope_id`` given its ``spent`` totals (no store read)."""
        return self._status(scope_id, spent)

    def _status(self, scope_id: str, spent: Spent) -> BudgetStatus:
        used = {"tokens": spent.tokens, "cost": spent.cost, "calls": float(spent.calls)}
        remaining: dict[str, float | None] = {}
        exhausted = False
        for unit, limit in self.limits().items():
            if limit is None:
                remaining[unit] = None
                continue
            remaining[unit] = max(0.0, limit - used[unit])
            exhausted = exhausted or used[unit] >= limit
        return BudgetStatus(self.name, self.per, scope_id, used, remaining, exhausted)

    def check(self, scope_id: str, *, node: str | None = None, tenant: str = "") -> BudgetStatus:
        """Raise ``BudgetExceededError`` when a limit is reached; else where it stands.

        Raises:
            BudgetExceededError: A limit is reached.
            LimitStoreUnavailableError: The shared store cannot answer and fails closed.
        """
        store = self._store()
        spent = store.spent(self.key(scope_id))
        if spent is None:  # a shared store that cannot answer
            return self._unavailable(store, scope_id, node)
        status = self._status(scope_id, spent)
        if status.exhausted:
            unit = next(
                u
                for u, limit in self.limits().items()
                if limit is not None and status.spent[u] >= limit
            )
            self._exhausted(scope_id, node, tenant, spent, unit)
        return status

    def reserve(self, scope_id: str, *, node: str | None = None, tenant: str = "") -> BudgetStatus:
        """Count one call unless a limit is reached, in one atomic step of the store.

        Raises:
            BudgetExceededError: A limit is reached (the call is not counted).
            LimitStoreUnavailableError: The shared store cannot answer and fails closed.
        """
        store = self._store()
        found = store.take_call(self.key(scope_id), self._limits, self._ttl)
        if found is None:
            return self._unavailable(store, scope_id, node)
        taken, spent = found
        status = self._status(scope_id, spent)
        if not taken:
            unit = next(
                u
                for u, limit in self.limits().items()
                if limit is not None and status.spent[u] >= limit
            )
            self._exhausted(scope_id, node, tenant, spent, unit)
        stats.count_spend(self.name, node or "", tenant, 0.0, 0.0, 1)
        return status

    @property
    def _limits(self) -> tuple[float | None, float | None, float | None]:
        calls = self.calls
        return self.tokens, self.cost, None if calls is None else float(calls)

    def _unavailable(self, store: LimitStore, scope_id: str, node: str | None) -> BudgetStatus:
        """A shared store that cannot answer: not enforced (fails open) or refused."""
        if not getattr(store, "fails_closed", False):
            return self._status(scope_id, Spent())
        raise LimitStoreUnavailableError(
            self.name, float(getattr(store, "reconnect_interval", 1.0)), node=node, kind="budget"
        )

    def _exhausted(
        self, scope_id: str, node: str | None, tenant: str, spent: Spent, unit: str
    ) -> None:
        stats.count_exhausted(self.name, node or "", tenant)
        get_event_logger().emit(
            logging.WARNING,
            "budget.exhausted",
            budget=self.name,
            per=self.per,
            node=node,
            unit=unit,
            spent={"tokens": spent.tokens, "cost": round(spent.cost, 6), "calls": spent.calls},
        )
        err = BudgetExceededError(
            self.name,
            scope=self.per,
            scope_id=scope_id,
            spent={"tokens": spent.tokens, "cost": spent.cost, "calls": float(spent.calls)},
            limits=self.limits(),
            exhausted=unit,
            node=node,
        )
        err.raise_run = self.on_exhausted == "raise"
        raise err

    # ------------------------------------------------------------------ spending

    def cost_of(self, usage: Usage) -> float:
        """The cost of ``usage`` by the price table (0 for a model it does not price)."""
        if not self.prices:
            return 0.0
        model = usage.model or ""
        price = self.prices.get(model)
        if price is None:
            best = max(
                (m for m in self.prices if m != "*" and model.startswith(m)), key=len, default=None
            )
            price = self.prices.get(best) if best is not None else self.prices.get("*")
        if price is None:
            self._warn_unpriced(model)
            return 0.0
        inp, out = usage.input_tokens, usage.output_tokens
        if inp == 0 and out == 0:
            inp = usage.total_tokens
        return (inp * price[0] + out * price[1]) / 1_000_000

    def _warn_unpriced(self, model: str) -> None:
        with _WARNED_LOCK:
            if (self.name, model) in _WARNED or len(_WARNED) > 10_000:
                return
            _WARNED.add((self.name, model))
        get_event_logger().emit(
            logging.WARNING, "budget.unpriced_model", budget=self.name, model=model or None
        )

    def spend(
        self,
        scope_id: str,
        *,
        tokens: float = 0.0,
        cost: float = 0.0,
        calls: int = 0,
        node: str | None = None,
        tenant: str = "",
    ) -> Spent:
        """Add to the spend of ``scope_id``; the totals after it."""
        stats.count_spend(self.name, node or "", tenant, tokens, cost, calls)
        return self._store().add_spend(self.key(scope_id), tokens, cost, calls, self._ttl)

    def spend_usage(
        self, scope_id: str, usage: Usage, *, node: str | None = None, tenant: str = ""
    ) -> Spent:
        """Add one model call's tokens and cost (not a call: see ``spend``)."""
        return self.spend(
            scope_id,
            tokens=float(usage.total_tokens),
            cost=self.cost_of(usage),
            node=node,
            tenant=tenant,
        )

    def reset(self, scope_id: str) -> None:
        """Forget the spend of ``scope_id``."""
        self._store().reset(self.key(scope_id))
