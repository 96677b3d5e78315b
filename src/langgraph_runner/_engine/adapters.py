"""The Runnable shells LangGraph sees: a wrapped node looks like the function it wraps.

``_SyncNode`` and ``_AsyncNode`` are ``RunnableCallable`` subclasses whose
invoke/ainvoke call the engine's entry points directly; ``wrap`` copies the
function's qualname, doc, annotations and signature onto them (its name is the
Runnable's ``name``; ``__name__`` and ``__module__`` are RunnableCallable's, so
LangGraph draws a wrapped node exactly as a bare one), and points
``__wrapped__`` at the function whose body calls any subgraph (LangGraph
follows exactly one level to find subgraphs).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, run_in_executor

from langgraph_runner._engine.loop import AsyncEntry, SyncEntry
from langgraph_runner._engine.spec import fn_name
from langgraph_runner._internal import compat as _compat

__all__ = ["PREPARED", "wrap"]

PREPARED: ContextVar[bool] = ContextVar("langgraph_runner_prepared", default=False)
"""True inside an activity body of ``for_temporal`` (``_engine/activity``)."""


def _outside_activity(name: str) -> None:
    """Refuse a node that Temporal's plugin runs without ``for_temporal``.

    The plugin registers a node's ``func`` (else ``afunc``) as the activity: ours would
    run its whole retry loop per Temporal attempt (attempts multiplied) with a config
    that has no task id (no idempotency key). With ``execute_in: "workflow"`` it would
    run in the workflow's code, where its waits, threads and clocks are not replayed
    (a sync node cannot even start its thread there). Non-retryable, so the workflow
    fails once (an error of another type in workflow code would retry its task forever).
    """
    if PREPARED.get():
        return
    found = sys.modules.get("temporalio.activity")
    where = None
    if found is not None and found.in_activity():
        where = "as a Temporal activity"
    else:
        flows = sys.modules.get("temporalio.workflow")
        if flows is not None and flows.in_workflow():
            where = "in a Temporal workflow"
    if where is None:
        return
    message = (
        f"node {name!r} runs {where} without for_temporal: prepare the graph with "
        "langgraph_runner.temporal.for_temporal(builder) and give the plugin what it "
        "returns (a node of langgraph_runner runs only as an activity)"
    )
    errors = sys.modules.get("temporalio.exceptions")
    if errors is None:
        raise RuntimeError(message)
    raise errors.ApplicationError(message, type="NotPreparedForTemporal", non_retryable=True)


def _guarded(entry: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """``entry`` as the node's ``func``/``afunc``: what a direct call or the plugin calls.

    Its ``__wrapped__`` stays ``entry``'s (the function whose body calls a subgraph).
    """

    async def aguard(*args: Any, **kwargs: Any) -> Any:
        _outside_activity(entry.__name__)
        return await entry(*args, **kwargs)

    def guard(*args: Any, **kwargs: Any) -> Any:
        _outside_activity(entry.__name__)
        return entry(*args, **kwargs)

    out = functools.wraps(entry)(aguard if is_async else guard)
    out.__wrapped__ = getattr(entry, "__wrapped__", entry)
    return out


class _SyncNode(_compat.RunnableCallable):
    """A sync node with its own async path.

    LangGraph runs a plain sync function under ``ainvoke`` in an executor thread
    that cancellation never reaches; as a Runnable with both paths, our async
    path runs each attempt in a worker thread but keeps the retry loop (waits,
    records) on the event loop, where cancellation stops it at once.
    """

    def __init__(self, sync_entry: SyncEntry, async_entry: AsyncEntry) -> None:
        super().__init__(
            _guarded(sync_entry, False), async_entry, name=sync_entry.__name__, trace=False
        )
        self._run = sync_entry
        self._arun = async_entry
        # What LangGraph gives a bare sync function: an executor-backed async path. Its
        # compile-time checks read it (a native TimeoutPolicy on a sync node is refused
        # when the graph compiles); our own ainvoke below never calls it.
        self.afunc = functools.wraps(sync_entry)(
            functools.partial(run_in_executor, None, sync_entry)
        )
        self._afunc: Callable[..., Any] = self.afunc

    # Calling the node directly runs the sync path, like calling the function.
    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.func(*args, **kwargs)  # type: ignore[misc]

    # What RunnableCallable.invoke/ainvoke do for a trace=False callable that takes
    # (state, config), without their generic per-call work (kwargs merging, the
    # injection loop): LangGraph calls these once per node execution.
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if kwargs:
            return super().invoke(input, config, **kwargs)
        ret = self._run(input, config if config is not None else ensure_config())
        # RunnableCallable's recurse=True (the dict test first: isinstance on the ABC costs).
        if ret.__class__ is not dict and isinstance(ret, Runnable):
            return ret.invoke(input, config)
        return ret

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        afunc = self.afunc
        if kwargs or (afunc is not self._afunc and afunc is not self._arun):
            # An afunc swapped by someone else (Temporal's LangGraph plugin sets it to
            # an execute_activity call) is what this node runs, as for a bare function.
            return await super().ainvoke(input, config, **kwargs)
        ret = await self._arun(input, config if config is not None else ensure_config())
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

    def __init__(self, async_entry: AsyncEntry) -> None:
        guarded = _guarded(async_entry, True)
        _compat.RunnableCallable.__init__(
            self, None, guarded, name=async_entry.__name__, trace=False
        )
        self._arun = async_entry
        self._afunc = guarded
        if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
            inspect.markcoroutinefunction(self)
        else:
            # Before 3.12, inspect.iscoroutinefunction accepts a function-like object
            # (inspect._signature_is_functionlike) whose code is a coroutine's; the
            # explicit __signature__ set by wrap() still wins in inspect.signature().
            self.__code__ = _AsyncNode.__call__.__code__
            self.__defaults__ = None
            self.__kwdefaults__ = None

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
    target.__name__ = name or fn_name(fn)
    target.__annotations__ = dict(getattr(fn, "__annotations__", None) or {})
    # LangGraph follows exactly one __wrapped__ level to find subgraphs a node calls,
    # so point it at the function whose body does the calling.
    target.__wrapped__ = inspect.unwrap(fn)
    target.__signature__ = _signature_for(fn)


def wrap(
    fn: Callable[..., Any], name: str | None, is_async: bool, run: SyncEntry, arun: AsyncEntry
) -> Any:
    """The node LangGraph gets for ``fn``: a Runnable that looks like ``fn``."""
    _copy_metadata(arun, fn, name)
    if is_async:
        node: _SyncNode = _AsyncNode(arun)
    else:
        _copy_metadata(run, fn, name)
        node = _SyncNode(run, arun)
    _copy_metadata(node, fn, name)
    # What LangGraph's drawings read: get_graph() JSON (and Studio) names a node's
    # runnable by its __module__ and __name__ when it has a __name__, else by its
    # class. A bare function becomes a RunnableCallable, which has none, so the
    # wrapped node answers with RunnableCallable's own path; its node name stays in
    # ``node.name`` (Runnable.get_name()). A __name__ string also keeps the node
    # function-like for inspect.iscoroutinefunction before Python 3.12.
    drawn: Any = node
    drawn.__module__ = _compat.RunnableCallable.__module__
    drawn.__name__ = _compat.RunnableCallable.__name__
    return node
