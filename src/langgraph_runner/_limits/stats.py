"""Process-wide counters of rate limits and budgets, read by the metrics exporters.

Labels are the limit's key or the budget's name, the node and, for tenant
budgets, the tenant: never a run or thread id. Distinct label sets are capped
(``MAX_SERIES``); further ones are counted under ``"_overflow"`` names.
Counters only grow (``reset_limit_stats()`` zeroes them, which exporters see as
a counter reset).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

__all__ = [
    "MAX_SERIES",
    "BudgetSeries",
    "LimitSeries",
    "budget_series",
    "count_exhausted",
    "count_rejection",
    "count_spend",
    "count_wait",
    "limit_series",
    "reset_limit_stats",
]

MAX_SERIES = 1000
_OVERFLOW = "_overflow"


class LimitSeries(NamedTuple):
    """Lifetime totals of one rate limit at one node."""

    limit: str
    node: str
    waits: int
    wait_seconds: float
    rejections: int


class BudgetSeries(NamedTuple):
    """Lifetime totals of one budget at one node for one tenant (``""`` unless per tenant)."""

    budget: str
    node: str
    tenant: str
    tokens: float
    cost: float
    calls: int
    exhausted: int


_LOCK = threading.Lock()
_LIMITS: dict[tuple[str, str], list[float]] = {}  # (limit, node) -> [waits, seconds, rejections]
_BUDGETS: dict[tuple[str, str, str], list[float]] = {}  # -> [tokens, cost, calls, exhausted]


def _limit_row(limit: str, node: str) -> list[float]:
    row = _LIMITS.get((limit, node))
    if row is None:
        if len(_LIMITS) >= MAX_SERIES:
            limit = node = _OVERFLOW
            row = _LIMITS.get((limit, node))
        if row is None:
            row = _LIMITS[(limit, node)] = [0, 0.0, 0]
    return row


def _budget_row(budget: str, node: str, tenant: str) -> list[float]:
    row = _BUDGETS.get((budget, node, tenant))
    if row is None:
        if len(_BUDGETS) >= MAX_SERIES:
            budget = node = tenant = _OVERFLOW
            row = _BUDGETS.get((budget, node, tenant))
        if row is None:
            row = _BUDGETS[(budget, node, tenant)] = [0.0, 0.0, 0, 0]
    return row


def count_wait(limit: str, node: str, seconds: float) -> None:
    """A call waited ``seconds`` for a slot of ``limit``."""
    with _LOCK:
        row = _limit_row(limit, node)
        row[0] += 1
        row[1] += seconds


def count_rejection(limit: str, node: str) -> None:
    """``limit`` refused a call."""
    with _LOCK:
        _limit_row(limit, node)[2] += 1


def count_spend(
    budget: str, node: str, tenant: str, tokens: float, cost: float, calls: int
) -> None:
    """A budget was spent."""
    with _LOCK:
        row = _budget_row(budget, node, tenant)
        row[0] += tokens
        row[1] += cost
        row[2] += calls


def count_exhausted(budget: str, node: str, tenant: str) -> None:
    """A spent budget stopped a call."""
    with _LOCK:
        _budget_row(budget, node, tenant)[3] += 1


def limit_series() -> list[LimitSeries]:
    """Every rate limit's totals per node."""
    with _LOCK:
        return [
            LimitSeries(limit, node, int(r[0]), r[1], int(r[2]))
            for (limit, node), r in _LIMITS.items()
        ]


def budget_series() -> list[BudgetSeries]:
    """Every budget's totals per node and tenant."""
    with _LOCK:
        return [
            BudgetSeries(budget, node, tenant, r[0], r[1], int(r[2]), int(r[3]))
            for (budget, node, tenant), r in _BUDGETS.items()
        ]


def reset_limit_stats() -> None:
    """Zero every counter (exporters see a counter reset)."""
    with _LOCK:
        _LIMITS.clear()
        _BUDGETS.clear()
