"""A node's rate limits and budgets around each attempt: ``LimitGuard.wrap(fn)``.

::

    budgets spent? -> BudgetExceededError (before anything runs)
    each RateLimit: wait for a slot (deadline, abort signal, cancellation) or refuse;
        a limit with count_tokens also reserves the key's mean tokens per call
    each Budget: the call reserved (checked and counted in one atomic step)
    fn, with a UsageCounter on every LangChain model call inside it:
        before each model call: budgets checked again; token limits reserve the
            key's mean tokens per call (waiting for them)
        after each model call: tokens settled on the limits (used - reserved),
            tokens and cost on budgets
    a failure with HTTP 429 / Retry-After: every caller of the limit held off
    after the call: count_tokens hooks settled on the result; reservations of
        model calls that never reported usage given back

The wrapped function keeps ``fn``'s signature (``__wrapped__``), so the engine
injects exactly what ``fn`` declares; the wrapper runs inside each attempt, so a
retry waits for a slot of its own and the wait counts against the attempt's
timeout and the call's deadline. ``NodeContext.budgets`` reads the budgets while
the node runs.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

from langchain_core.runnables.config import var_child_runnable_config

from langgraph_runner._internal import compat as _compat
from langgraph_runner._limits.budget import Budget, BudgetStatus
from langgraph_runner._limits.gcra import Decision
from langgraph_runner._limits.ratelimit import RateLimit, SlotRequest
from langgraph_runner._limits.tokens import Usage, UsageCounter, counting
from langgraph_runner._policies.abort import AbortSignal
from langgraph_runner._policies.context import (
    BUDGET_VIEW,
    CURRENT,
    NodeContext,
    get_node_context,
)
from langgraph_runner._policies.run_scope import RunScope
from langgraph_runner._records.logs import EventLogger, get_event_logger
from langgraph_runner._traces.node_span import current_event

__all__ = ["LimitGuard", "coerce_budgets", "coerce_limits"]


def coerce_limits(value: object, where: str = "create_node") -> tuple[RateLimit, ...]:
    """``rate_limit=``: None, a ``RateLimit`` or a sequence of them.

    Raises:
        TypeError: Anything else.
    """
    return _coerce(value, RateLimit, "rate_limit", where)


def coerce_budgets(value: object, where: str = "create_node") -> tuple[Budget, ...]:
    """``budget=``: None, a ``Budget`` or a sequence of them.

    Raises:
        TypeError: Anything else.
        ValueError: Two budgets of one name and scope.
    """
    budgets = _coerce(value, Budget, "budget", where)
    seen = set()
    for b in budgets:
        if (b.name, b.per) in seen:
            raise ValueError(f"{where}: two budgets named {b.name!r} per {b.per}")
        seen.add((b.name, b.per))
    return budgets


def _coerce(value: object, cls: type[Any], field: str, where: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, cls):
        return (value,)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(v, cls) for v in value)
    ):
        return tuple(value)
    raise TypeError(
        f"{where}: {field} must be a {cls.__name__}, a list of them or None, "
        f"got {type(value).__name__}"
    )


class _EngineCall(Protocol):
    """What the guard reads of the engine's call when it is the current context source."""

    deadline_at: float | None
    run_signal: AbortSignal | None
    config: Any

    def node(self) -> str: ...
    def ids(self) -> tuple[str, str, str | None, str | None, RunScope | None]: ...
    def get(self) -> NodeContext: ...


class _Scope:
    """One call's view of the guard: node, ids, the budgets' scope ids."""

    __slots__ = ("budgets", "ctx", "deadline", "guard", "node", "reserved", "signal")

    node: str
    ctx: Callable[[], NodeContext] | None

    def __init__(self, guard: LimitGuard, default_name: str) -> None:
        self.guard = guard
        source = CURRENT.get()
        node_of = getattr(source, "node", None)
        run: str | None
        thread: str | None
        if callable(node_of) and hasattr(source, "deadline_at"):
            # The engine's call itself (no per-attempt context): read what it has without
            # building the whole NodeContext.
            call = cast("_EngineCall", source)
            self.node = str(node_of())
            self.deadline = call.deadline_at
            self.signal = call.run_signal
            config = call.config
            run = thread = None
            if guard.budgets:
                run, _exec, thread, _run_id, _scope = call.ids()
            self.ctx = call.get
        else:
            ctx = get_node_context()
            # Inside an attempt with its own context, LangChain's current config is the
            # attempt's.
            config = getattr(source, "config", None) or var_child_runnable_config.get()
            if ctx is not None:
                self.node = str(ctx.node)
                self.deadline = ctx.deadline
                self.signal = ctx.abort_signal
                run, thread = ctx.trace_id, ctx.thread_id
                self.ctx = lambda: ctx
            else:
                self.node = str(default_name)
                self.deadline = self.signal = None
                conf = (config or {}).get("configurable") or {}
                run = str((config or {}).get("run_id") or conf.get("thread_id") or "") or None
                thread = conf.get("thread_id")
                self.ctx = None
        # Tokens reserved per limit and not settled yet (one entry per call or model call).
        self.reserved: list[collections.deque[float]] = [collections.deque() for _ in guard.limits]
        self.budgets: list[tuple[Budget, str, str]] = []
        for budget in guard.budgets:
            sid = budget.scope_id(run=run, thread=thread, config=config)
            if sid is not None:
                self.budgets.append((budget, sid, sid if budget.per == "tenant" else ""))

    def fields(self) -> dict[str, Any]:
        """The ids a log event carries (built only when something is logged)."""
        if self.ctx is None:
            return {}
        ctx = self.ctx()
        return {"attempt": ctx.attempt, "thread_id": ctx.thread_id, "trace_id": ctx.trace_id}

    def check(self, _model: str | None = None) -> None:
        for budget, sid, tenant in self.budgets:
            budget.check(sid, node=self.node, tenant=tenant)

    def reserve(self) -> None:
        """Count the call on every budget, each in one atomic step (a spent one refuses)."""
        for budget, sid, tenant in self.budgets:
            budget.reserve(sid, node=self.node, tenant=tenant)

    def give_back(self) -> None:
        """Settle every reservation not settled yet as unused (the call never ran, or a
        model call never reported its usage)."""
        for limit, pending in zip(self.guard.limits, self.reserved, strict=True):
            while pending:
                limit.spend(0.0, pending.popleft())

    def view(self) -> dict[str, BudgetStatus]:
        return {budget.name: budget.status(sid) for budget, sid, _t in self.budgets}

    def used(self, usage: Usage) -> None:
        """After each model call: tokens settled on the limits, tokens and cost on the budgets."""
        for limit, pending in zip(self.guard.limits, self.reserved, strict=True):
            if limit.count_tokens is None and limit.limits_tokens:
                try:
                    reserved = pending.popleft()
                except IndexError:
                    reserved = 0.0
                limit.spend(usage.total_tokens, reserved)
        for budget, sid, tenant in self.budgets:
            budget.spend_usage(sid, usage, node=self.node, tenant=tenant)

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, Exception):
            for limit in self.guard.limits:
                limit.hold_for(exc)

    def finished(self, result: Any, ok: bool) -> None:
        log = self.guard.log
        if log.emits(logging.DEBUG):
            for budget, sid, _tenant in self.budgets:
                status = budget.status(sid)
                log.emit(
                    logging.DEBUG, "budget.spent", node=self.node, budget=budget.name,
                    per=budget.per, spent=status.spent, remaining=status.remaining,
                )  # fmt: skip
        for limit, pending in zip(self.guard.limits, self.reserved, strict=True):
            if limit.count_tokens is not None and limit.limits_tokens:
                reserved = pending.popleft() if pending else 0.0
                tokens = limit.count_tokens(result) if ok else 0.0
                limit.spend(tokens or 0.0, reserved)
        self.give_back()

    def acquire(self) -> float:
        """Wait for a slot of every limit; the seconds waited. A limit with ``count_tokens``
        also reserves the key's mean tokens per call."""
        waited = 0.0
        try:
            for limit, pending in zip(self.guard.limits, self.reserved, strict=True):
                waited += self._took(limit, pending, limit.acquire_slot(**self._slot(limit)))
        except BaseException:
            self.give_back()
            raise
        return waited

    async def aacquire(self) -> float:
        """The async ``acquire``."""
        waited = 0.0
        try:
            for limit, pending in zip(self.guard.limits, self.reserved, strict=True):
                slot = await limit.aacquire_slot(**self._slot(limit))
                waited += self._took(limit, pending, slot)
        except BaseException:
            self.give_back()
            raise
        return waited

    def _slot(self, limit: RateLimit) -> SlotRequest:
        """What a call asks of ``limit`` for its slot."""
        return {
            "node": self.node,
            "deadline": self.deadline,
            "signal": self.signal,
            "log": self.guard.log,
            "fields": self.fields,
            "reserve": limit.count_tokens is not None,
        }

    @staticmethod
    def _took(limit: RateLimit, pending: collections.deque[float], slot: Decision) -> float:
        """Keep the tokens ``slot`` reserved (a limit that counts them); its wait."""
        if limit.count_tokens is not None and limit.limits_tokens:
            pending.append(slot.tokens)
        return slot.wait

    def before_model(self, _model: str | None = None) -> None:
        """Before each model call inside the node: budgets checked, token limits waited for
        (a node that loops over a model, a whole agent inside one node, is held to its
        tokens per minute call by call)."""
        self.check()
        for limit, pending in zip(self.guard.limits, self.reserved, strict=True):
            if limit.limits_tokens and limit.count_tokens is None:
                slot = limit.acquire_slot(
                    cost=0.0, node=self.node, deadline=self.deadline, signal=self.signal,
                    log=self.guard.log, fields=self.fields, reserve=True,
                )  # fmt: skip
                pending.append(slot.tokens)

    def counter(self) -> UsageCounter:
        return UsageCounter(self.before_model, self.used, self.failed)


class LimitGuard:
    """Rate limits and budgets of one node (or one middleware).

    Args:
        limits: The ``RateLimit``s every call waits for.
        budgets: The ``Budget``s every call is checked against and spends.
        log: Where ``node.rate_limited`` goes.
    """

    __slots__ = ("budgets", "counts", "limits", "log")

    def __init__(
        self,
        limits: tuple[RateLimit, ...],
        budgets: tuple[Budget, ...],
        log: EventLogger | None = None,
    ) -> None:
        self.limits = limits
        self.budgets = budgets
        self.log = log if log is not None else get_event_logger()
        # Model calls are counted only when something spends what they report.
        self.counts = bool(budgets) or any(
            limit.limits_tokens and limit.count_tokens is None for limit in limits
        )

    def __bool__(self) -> bool:
        return bool(self.limits or self.budgets)

    def scope(self, default_name: str) -> _Scope:
        """The current call's scope (reads the node context and the config)."""
        return _Scope(self, default_name)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with the limits and budgets around each call (same signature)."""
        name = getattr(fn, "__name__", type(fn).__name__)
        if _compat.is_async_callable(fn):  # as the engine and LangGraph decide it
            return self._wrap_async(fn, name)
        return self._wrap_sync(fn, name)

    def _wrap_sync(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def limited(*args: Any, **kwargs: Any) -> Any:
            scope = _Scope(self, name)
            scope.check()  # a spent budget refuses before any wait
            waited = scope.acquire()
            if waited > 0:
                current_event(_WAIT_EVENT, {"langgraph_runner.rate_limit.wait_s": waited})
            with _Call(scope) as call:
                call.result = fn(*args, **kwargs)
            return call.result

        return limited

    def _wrap_async(self, fn: Callable[..., Awaitable[Any]], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def limited(*args: Any, **kwargs: Any) -> Any:
            scope = _Scope(self, name)
            scope.check()  # a spent budget refuses before any wait
            waited = await scope.aacquire()
            if waited > 0:
                current_event(_WAIT_EVENT, {"langgraph_runner.rate_limit.wait_s": waited})
            with _Call(scope) as call:
                call.result = await fn(*args, **kwargs)
            return call.result

        return limited


_WAIT_EVENT = "langgraph_runner.rate_limit.wait"  # an event of the attempt's span


class _Call:
    """One call inside its slot: budgets reserved (or the slot given back), the budget
    view and the token counter set around it, its outcome told to the scope."""

    __slots__ = ("counting", "result", "scope", "token")

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.result: Any = None
        if scope.budgets:
            try:
                scope.reserve()  # checked and counted at once: N calls admit at most N
            except BaseException:
                scope.give_back()
                raise
        self.token = BUDGET_VIEW.set(scope.view) if scope.guard.budgets else None
        self.counting = counting(scope.counter()) if scope.guard.counts else None

    def __enter__(self) -> _Call:
        if self.counting is not None:
            self.counting.__enter__()
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            if self.counting is not None:
                self.counting.__exit__(type(exc) if exc is not None else None, exc, None)
            if exc is not None:
                self.scope.failed(exc)
        finally:
            if self.token is not None:
                BUDGET_VIEW.reset(self.token)
            self.scope.finished(self.result, exc is None)
