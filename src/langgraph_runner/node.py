"""``create_node``: wrap a LangGraph node function with retries, timeouts, breakers and records.

The wrapper is invisible to LangGraph: it keeps the function's name, module, doc
and annotations, takes ``(state, config)``, forwards ``config``/``runtime``/
``store``/``writer`` exactly as LangGraph would, passes every return value
through unchanged, and lets LangGraph's control flow (``interrupt()``,
``Command.PARENT``, drain) and cancellation through untouched.

The first attempt runs without any retry machinery (the success path costs a few
microseconds); only a failure hands over to tenacity.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config

from langgraph_runner import _compat
from langgraph_runner.cache import NodeCache, code_fingerprint
from langgraph_runner.context import NodeContext
from langgraph_runner.errors import NodeError
from langgraph_runner.failure import Fallback, check_fallback
from langgraph_runner.logs import SupportsEvents, get_event_logger
from langgraph_runner.metrics.collector import NodeMetricsCollector
from langgraph_runner.options import BreakerOption, check_hook, check_seconds, resolve_breaker
from langgraph_runner.retry import RetryAttempt, RetryConfig
from langgraph_runner.runner import NodeRunner, NodeSpec

__all__ = ["create_node"]

F = TypeVar("F", bound=Callable[..., Any])
OnError = Literal["record", "raise"]


class _SyncNode(_compat.RunnableCallable):
    """A sync node with its own async path.

    LangGraph runs a plain sync function under ``ainvoke`` in an executor thread
    that cancellation never reaches; as a Runnable with both paths, our async
    path runs each attempt in a worker thread but keeps the retry loop (waits,
    records) on the event loop, where cancellation stops it at once.
    """

    def __init__(
        self,
        runner: NodeRunner,
        sync_entry: Callable[..., Any],
        async_entry: Callable[..., Any],
    ) -> None:
        super().__init__(sync_entry, async_entry, name=sync_entry.__name__, trace=False)
        self._runner = runner

    # Calling the node directly runs the sync path, like calling the function.
    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.func(*args, **kwargs)  # type: ignore[misc]

    # What RunnableCallable.invoke/ainvoke do for a trace=False callable that takes
    # (state, config), without their generic per-call work (kwargs merging, the
    # injection loop): LangGraph calls these once per node execution.
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if kwargs:
            return super().invoke(input, config, **kwargs)
        ret = self._runner.run(input, config if config is not None else ensure_config())
        # RunnableCallable's recurse=True (the dict test first: isinstance on the ABC costs).
        if ret.__class__ is not dict and isinstance(ret, Runnable):
            return ret.invoke(input, config)
        return ret

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if kwargs:
            return await super().ainvoke(input, config, **kwargs)
        ret = await self._runner.arun(input, config if config is not None else ensure_config())
        if ret.__class__ is not dict and isinstance(ret, Runnable):
            return await ret.ainvoke(input, config)
        return ret


class _AsyncNode(_SyncNode):
    """An async node: no sync path, as LangGraph makes of an async function.

    A Runnable rather than a coroutine function so that LangGraph calls our
    ``ainvoke`` directly (no generic injection of ``config``, no extra coroutine).
    Calling it returns a coroutine; LangGraph's ``is_async_callable`` (and, on
    Python 3.12+, ``inspect.iscoroutinefunction``) tell it apart as async.
    """

    def __init__(self, runner: NodeRunner, async_entry: Callable[..., Any]) -> None:
        _compat.RunnableCallable.__init__(
            self, None, async_entry, name=async_entry.__name__, trace=False
        )
        self._runner = runner
        if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
            inspect.markcoroutinefunction(self)

    async def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await self.afunc(*args, **kwargs)  # type: ignore[misc]

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        # RunnableCallable's own: "No synchronous function provided ...", as for any async node.
        return _compat.RunnableCallable.invoke(self, input, config, **kwargs)


# No annotations on __call__: LangGraph's add_node reads get_type_hints(node.__call__) and,
# when empty, get_type_hints(node), i.e. the wrapped function's own annotations (its input
# schema and Command[Literal[...]] destinations), which we copy onto the instance.
_SyncNode.__call__.__annotations__ = {}
_AsyncNode.__call__.__annotations__ = {}


def _signature_for(fn: Callable[..., Any]) -> inspect.Signature:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    first = params[0] if params else None
    state_param = inspect.Parameter(
        first.name if first is not None and first.kind is not first.VAR_POSITIONAL else "state",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=first.annotation if first is not None else inspect.Parameter.empty,
    )
    config_param = inspect.Parameter(
        "config",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=None,
        annotation=RunnableConfig,
    )
    return inspect.Signature([state_param, config_param])


def _copy_metadata(target: Any, fn: Callable[..., Any], name: str | None) -> None:
    for attr in ("__module__", "__qualname__", "__doc__"):
        with contextlib.suppress(AttributeError):
            setattr(target, attr, getattr(fn, attr))
    target.__name__ = name or getattr(fn, "__name__", type(fn).__name__)
    target.__annotations__ = dict(getattr(fn, "__annotations__", None) or {})
    # LangGraph follows exactly one __wrapped__ level to find subgraphs a node calls,
    # so point it at the function whose body does the calling.
    target.__wrapped__ = inspect.unwrap(fn)
    target.__signature__ = _signature_for(fn)


def create_node(
    fn: F,
    /,
    *,
    name: str | None = None,
    retry: RetryConfig | int | None = None,
    on_retry_attempt: Callable[[RetryAttempt], Any] | None = None,
    on_error: OnError = "record",
    logger: SupportsEvents | None = None,
    cache: NodeCache | None = None,
    metrics: NodeMetricsCollector | None = None,
    timeout: float | timedelta | None = None,
    deadline: float | timedelta | None = None,
    on_timeout: Callable[[NodeContext], Any] | None = None,
    circuit_breaker: BreakerOption | None = None,
    fallback: Fallback | None = None,
    on_failure: Callable[[NodeError, Any], Any] | None = None,
) -> F:
    """Wrap ``fn`` as a production-grade LangGraph node.

    Args:
        fn: The node function: sync or async, ``(state)``, ``(state, config)``,
            ``(state, *, runtime)``, ... exactly as LangGraph accepts it.
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
        timeout: Limit of each attempt (float seconds or timedelta). An async fn
            is cancelled; a sync fn runs in a worker thread that is abandoned
            (its attempt's abort signal set, its late result discarded).
            Raises ``NodeTimeoutError`` (retryable) into the retry loop.
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

    Returns:
        A coroutine function when ``fn`` is async; otherwise a callable
        Runnable with sync and async paths. Either goes into ``add_node``.

    Raises:
        TypeError: If ``fn`` is not callable or an option has the wrong type.
        ValueError: If an option has a wrong value (``on_error``, a timeout <= 0, ...).
        pydantic.ValidationError: If a config value is invalid.
    """
    if not callable(fn):
        raise TypeError(f"create_node: fn must be callable, got {type(fn).__name__}")
    if isinstance(fn, type):
        raise TypeError(f"create_node: fn must be a function, not the class {fn.__name__}")
    if on_error not in ("record", "raise"):
        raise ValueError(f"create_node: on_error must be 'record' or 'raise', got {on_error!r}")
    if cache is not None and not isinstance(cache, NodeCache):
        raise TypeError(f"create_node: cache must be a NodeCache, got {type(cache).__name__}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"create_node: name must be a non-empty string, got {name!r}")
    fallback = check_fallback(fallback)
    display = name or str(getattr(fn, "__name__", type(fn).__name__))
    spec = NodeSpec(
        fn=fn,
        name=name,
        is_async=_compat.is_async_callable(fn),
        accepts=_compat.func_accepts(fn),
        retry=RetryConfig.coerce(retry),
        on_retry_attempt=check_hook(on_retry_attempt, "on_retry_attempt"),
        on_error=on_error,
        log=get_event_logger(logger),
        cache=cache,
        metrics=metrics,
        fingerprint=code_fingerprint(fn) if cache is not None and cache.version is None else "",
        timeout=check_seconds(timeout, "timeout"),
        deadline=check_seconds(deadline, "deadline"),
        on_timeout=check_hook(on_timeout, "on_timeout"),
        breaker=resolve_breaker(circuit_breaker, display),
        fallback=fallback,
        fallback_accepts=(_compat.func_accepts(fallback) if callable(fallback) else None),
        fallback_is_async=callable(fallback) and _compat.is_async_callable(fallback),
        on_failure=check_hook(on_failure, "on_failure"),
    )
    runner = NodeRunner(spec)

    _copy_metadata(runner.arun, fn, name)
    if spec.is_async:
        node: _SyncNode = _AsyncNode(runner, runner.arun)
    else:
        _copy_metadata(runner.run, fn, name)
        node = _SyncNode(runner, runner.run, runner.arun)
    _copy_metadata(node, fn, name)
    return cast(F, node)
