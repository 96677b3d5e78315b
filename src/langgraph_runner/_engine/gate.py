"""An attempt's config, gated by its ``Progress``: heartbeats, stream writes, callbacks.

A guarded attempt runs with a config whose runtime ``heartbeat`` beats the
attempt's progress and whose ``stream_writer`` and callback handlers go through
it too. Under ``refresh_on="auto"`` every write and callback event counts as
progress (LangGraph's ``TimeoutPolicy`` does the same). Once the attempt timed
out, the gate is closed: an abandoned thread's writes, tokens ("messages"
stream mode) and callback events no longer reach the run.

The token collector of a run that streams ``messages`` (``tokens.TOKENS``, which
LangChain's configure hook adds to every chat model run) is gated too, for the
attempt (``gate_tokens``): an abandoned attempt's late tokens are never named in
a later attempt's ``discarded_message`` event.

Handlers are gated by a subclass of their own class made once per class, whose
``on_*`` methods forward to the original handler (so ``isinstance`` checks that
LangChain and LangGraph make, for example for token streaming, still hold).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import Token
from typing import Any

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.runnables import RunnableConfig

from langgraph_runner._engine.streamed import TOKENS, Tokens
from langgraph_runner._internal import compat as _compat
from langgraph_runner._policies.progress import Progress

__all__ = ["gate_tokens", "gated_config", "ungate_tokens"]

_GATED: dict[type, type | None] = {}


def _forward(name: str, is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def aforward(self: Any, *args: Any, **kwargs: Any) -> Any:
            progress: Progress = self._lgr_progress
            if not progress.open:
                return None
            if self._lgr_auto:
                progress.beat()
            return await getattr(self._lgr_target, name)(*args, **kwargs)

        return aforward

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        progress: Progress = self._lgr_progress
        if not progress.open:
            return None
        if self._lgr_auto:
            progress.beat()
        return getattr(self._lgr_target, name)(*args, **kwargs)

    return forward


def _fallback(self: Any, name: str) -> Any:
    return getattr(self.__dict__["_lgr_target"], name)


def _gated_type(cls: type) -> type | None:
    if cls in _GATED:
        return _GATED[cls]
    # No __slots__ in the subclass: its instances get a __dict__ even if cls has slots.
    namespace: dict[str, Any] = {"__getattr__": _fallback}
    for name in dir(cls):
        if name.startswith("on_") and callable(getattr(cls, name, None)):
            namespace[name] = _forward(name, inspect.iscoroutinefunction(getattr(cls, name)))
    gated: type | None
    try:
        gated = type(f"Gated{cls.__name__}", (cls,), namespace)
    except TypeError:  # a class that cannot be subclassed: leave it ungated
        gated = None
    _GATED[cls] = gated
    return gated


def _gate(handler: Any, progress: Progress, auto: bool, made: dict[int, Any]) -> Any:
    found = made.get(id(handler))
    if found is not None:
        return found
    gated_type = _gated_type(type(handler))
    if gated_type is None:
        return handler
    gated: Any = object.__new__(gated_type)
    gated.__dict__.update(_lgr_target=handler, _lgr_progress=progress, _lgr_auto=auto)
    made[id(handler)] = gated
    return gated


def _gated_callbacks(callbacks: Any, progress: Progress, auto: bool) -> Any:
    made: dict[int, Any] = {}
    if isinstance(callbacks, list):
        return [_gate(h, progress, auto, made) for h in callbacks]
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.handlers = [_gate(h, progress, auto, made) for h in callbacks.handlers]
        manager.inheritable_handlers = [
            _gate(h, progress, auto, made) for h in callbacks.inheritable_handlers
        ]
        return manager
    return callbacks


def gated_config(
    config: RunnableConfig | None, progress: Progress, *, refresh_on: str = "auto"
) -> RunnableConfig | None:
    """``config`` with its runtime and callbacks going through ``progress``."""
    if not config:
        return config
    auto = refresh_on == "auto"
    runtime = _compat.runtime_of(config)
    if runtime is not None:
        writer = runtime.stream_writer

        def write(chunk: Any) -> None:
            if progress.open:
                if auto:
                    progress.beat()
                writer(chunk)

        config = _compat.with_runtime(
            config, runtime.override(heartbeat=progress.beat, stream_writer=write)
        )
    callbacks = config.get("callbacks")
    if callbacks is not None:
        config = {**config, "callbacks": _gated_callbacks(callbacks, progress, auto)}
    return config


def gate_tokens(
    config: RunnableConfig | None, progress: Progress | None, *, refresh_on: str = "auto"
) -> Token[Tokens | None] | None:
    """For a gated attempt (``progress``) of a call that collects its tokens: make the
    collector's gated stand-in the current one, until ``ungate_tokens``.

    The stand-in is the one in ``config``'s callbacks (``gated_config``'s), so the
    configure hook, which adds the current collector to a chat model run unless the
    very object is among its handlers already, adds no second one. None when there is
    nothing to gate.
    """
    tokens = TOKENS.get()
    if tokens is None or progress is None:
        return None
    callbacks = config.get("callbacks") if config else None
    handlers = callbacks if isinstance(callbacks, list) else getattr(callbacks, "handlers", ())
    stand_in: Any = None
    for handler in handlers or ():
        if getattr(handler, "__dict__", {}).get("_lgr_target") is tokens:
            stand_in = handler
            break
    if stand_in is None:
        stand_in = _gate(tokens, progress, refresh_on == "auto", {})
    return TOKENS.set(stand_in)


def ungate_tokens(token: Token[Tokens | None] | None) -> None:
    """Undo ``gate_tokens``."""
    if token is not None:
        TOKENS.reset(token)
