"""``create_node`` and ``node_factory``: production-grade LangGraph nodes.

The wrapper is invisible to LangGraph: it keeps the function's name, module, doc
and annotations, takes ``(state, config)``, forwards ``config``/``runtime``/
``store``/``writer`` exactly as LangGraph would, passes every return value
through unchanged, and lets LangGraph's control flow (``interrupt()``,
``Command.PARENT``, drain) and cancellation through untouched.

The first attempt runs without any retry machinery (the success path costs a few
microseconds); only a failure hands over to tenacity. The machinery lives in the
private ``langgraph_runner._engine`` package.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, overload

from langchain_core.runnables import Runnable
from typing_extensions import Unpack

from langgraph_runner._engine import build
from langgraph_runner._engine.node_options import NodeOptions
from langgraph_runner._engine.runnables import is_wrapped as _is_wrapped
from langgraph_runner._engine.spec import check_option_names

__all__ = [
    "NodeFactory",
    "NodeOptions",
    "create_node",
    "is_wrapped",
    "node_factory",
    "with_result_hook",
]

F = TypeVar("F", bound=Callable[..., Any])
"""The wrapped function's own type: ``create_node(fn)`` is typed exactly like ``fn``
(parameters, sync or async, return), which is what ``add_node`` inspects."""


@overload
def create_node(fn: F, /, **options: Unpack[NodeOptions]) -> F: ...


@overload
def create_node(
    fn: Runnable[Any, Any], /, **options: Unpack[NodeOptions]
) -> Runnable[Any, Any]: ...


def create_node(
    fn: Callable[..., Any] | Runnable[Any, Any], /, **options: Unpack[NodeOptions]
) -> Any:
    """Wrap ``fn`` as a production-grade LangGraph node.

    Args:
        fn: The node: a function, sync or async, ``(state)``, ``(state, config)``,
            ``(state, *, runtime)``, ... exactly as LangGraph accepts it; or any
            ``Runnable`` (a ``ToolNode``, an LCEL chain, a compiled subgraph),
            called with ``invoke``/``ainvoke`` and the node's config unchanged.
        name: Name for logs and records; default: the LangGraph node name, else
            ``fn.__name__``.
        retry: ``RetryConfig``, an int (max_attempts) or None (one attempt).
        on_retry_attempt: Called before each wait with a ``RetryAttempt``; sync
            or async; its exceptions are logged, never raised.
        on_error: ``"record"`` returns ``{"errors": [record], "routing_flags":
            {"blocked": True}}`` on terminal failure; ``"raise"`` re-raises the
            original (redacted) exception so LangGraph's error_handler and
            RetryPolicy can take over.
        logger: A structlog-style logger for events; default: the stdlib
            ``langgraph_runner`` logger.
        cache: A ``NodeCache``: skip ``fn`` when it already ran on the same
            declared inputs with the same code; failures are never cached.
        metrics: A ``NodeMetricsCollector`` to report to when the run's config
            has none under ``configurable["metrics_collector"]``.
        timeout: Limit of each attempt: float seconds or a timedelta (a run
            limit), or LangGraph's ``TimeoutPolicy(run_timeout=, idle_timeout=,
            refresh_on=)`` with the same meaning as natively: the idle limit is
            reset by ``runtime.heartbeat()``, ``langgraph_runner.heartbeat()``
            and (``refresh_on="auto"``) stream writes and callback events. Works
            for sync and async nodes. An async fn is cancelled; a sync fn runs in
            a worker thread that is abandoned (its attempt's abort signal set, its
            late result discarded, its later stream writes and callback events
            muted). Raises ``NodeTimeoutError`` (retryable) into the retry loop.
        deadline: Limit of the whole call, attempts and waits together: no wait
            sleeps past it, and the attempt that runs is capped by what is left.
        on_timeout: ``hook(ctx)`` once per timed-out attempt (sync or async),
            under its own short limit; its errors are logged, never raised.
        circuit_breaker: A ``CircuitBreakerConfig`` (a breaker of this node's
            own), a ``CircuitBreaker``, or a key naming a process-wide breaker
            shared by every node that names it.
        fallback: On terminal failure, a node name (the node returns
            ``Command(update=..., goto=name)``) or a callable run inline with
            fn's signature rules whose update is merged with the (recovered)
            record; the failure is ``get_node_context().primary_error``.
        on_failure: ``hook(record, state)`` on every terminal failure, sync or
            async; its errors are logged, never raised.
        max_consecutive_failures: The loop guard of ``on_error="record"``: the
            N-th terminal failure of this node in a row in one run (no success
            of the node between) raises ``FailureLoopError`` naming the node
            instead of recording it, so an agent loop around a node that keeps
            failing stops. Default 5; None turns the guard off.
        rate_limit: A ``RateLimit`` (or a list): each attempt waits for a slot of
            every limit (bounded by the deadline and ``max_wait``, ended by the abort
            signal) or fails with ``RateLimitedError`` (code ``RATE_LIMITED``); tokens
            the LangChain models inside report are spent on token limits; a 429 or
            Retry-After holds every caller of the key off.
        budget: A ``Budget`` (or a list): checked before the call and before each
            model call inside it, spent after; a spent budget stops the node with a
            record of code ``BUDGET_EXHAUSTED`` and the routing flag
            ``budget_exhausted`` (or raises ``BudgetExceededError``, by option).
        item_key: For a node run as a ``Send`` task (map-reduce): its record's
            ``send_item`` shows ``arg[item_key]`` (or ``arg.item_key``) instead of
            the whole argument (both redacted, capped at 200 characters).

    Returns:
        A coroutine function when ``fn`` is async; otherwise a callable
        Runnable with sync and async paths (also for a Runnable ``fn``). Either
        goes into ``add_node``.

    Raises:
        TypeError: If ``fn`` is not callable or an option has the wrong type.
        ValueError: If an option has a wrong value (``on_error``, a timeout <= 0, ...).
        pydantic.ValidationError: If a config value is invalid.
    """
    return build(fn, **options)


class NodeFactory(Protocol):
    """What ``node_factory`` returns: ``create_node`` with defaults filled in."""

    @property
    def defaults(self) -> Mapping[str, Any]:
        """The defaults every node gets (read-only)."""
        ...

    @overload
    def __call__(self, fn: F, /, **options: Unpack[NodeOptions]) -> F: ...

    @overload
    def __call__(
        self, fn: Runnable[Any, Any], /, **options: Unpack[NodeOptions]
    ) -> Runnable[Any, Any]: ...

    def __call__(self, fn: Any, /, **options: Unpack[NodeOptions]) -> Any:
        """Wrap ``fn`` like ``create_node(fn, **{**defaults, **options})``."""
        ...


class _Factory:
    __slots__ = ("_defaults",)

    def __init__(self, defaults: NodeOptions) -> None:
        self._defaults = MappingProxyType(dict(defaults))

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._defaults.items())
        return f"node_factory({inner})"

    def __call__(self, fn: Any, /, **options: Unpack[NodeOptions]) -> Any:
        merged: Any = {**self._defaults, **options}
        return create_node(fn, **merged)


def node_factory(**defaults: Unpack[NodeOptions]) -> NodeFactory:
    """A ``create_node`` with defaults for every node of a graph; per-node arguments win.

    The defaults are validated now, by building a throwaway node with them, so
    a bad value fails here and not when the graph is built::

        make = node_factory(retry=RetryConfig(max_attempts=5), timeout=30, on_failure=alert)
        g.add_node("fetch", make(fetch))
        g.add_node("parse", make(parse, retry=None))   # per-node: no retries here

    A ``CircuitBreakerConfig`` default gives every node a breaker of its own; a
    ``CircuitBreaker`` instance or a key string makes them share one.

    Args:
        **defaults: Any keyword ``create_node`` takes, except ``name``.

    Returns:
        The factory: call it like ``create_node``; ``.defaults`` shows the defaults.

    Raises:
        TypeError: An unknown option, ``name``, or a default of the wrong type.
        ValueError: A default with a wrong value.
    """
    if "name" in defaults:
        raise TypeError("node_factory: 'name' cannot be a default (it names one node)")
    check_option_names(dict(defaults), "node_factory")

    def _probe(state: Any) -> None:
        return None

    create_node(_probe, **defaults)
    return _Factory(defaults)


def is_wrapped(node: object) -> bool:
    """Whether ``node`` was built by ``create_node`` (or ``node_factory``, ``harden``).

    Args:
        node: Anything ``add_node`` accepts.

    Returns:
        True for a node this package built.
    """
    return _is_wrapped(node)


def with_result_hook(node: Any, after: Callable[[Any], Any]) -> Any:
    """``node`` (made by ``create_node``) whose entry points pass each result through
    ``after`` (which may raise instead).

    The entry points are replaced in place, so the node stays the Runnable LangGraph
    and ``harden`` know (its name, signature, drawing and ``__wrapped__``).
    """
    run, arun = node._run, node._arun

    @functools.wraps(run)
    def run_after(state: Any, config: Any = None) -> Any:
        return after(run(state, config))

    @functools.wraps(arun)
    async def arun_after(state: Any, config: Any = None) -> Any:
        return after(await arun(state, config))

    for entry, inner in ((run_after, run), (arun_after, arun)):
        # LangGraph follows one __wrapped__ level to find subgraphs: keep it at the function.
        entry.__wrapped__ = getattr(inner, "__wrapped__", inner)
    node._run, node._arun = run_after, arun_after
    if node.func is run:
        node.func = run_after
    if node.afunc is arun:
        node.afunc = arun_after
    return node
