"""Tokens of a failed attempt: named in a custom stream event so a UI can drop them.

When a run streams ``messages``, LangGraph's ``StreamMessagesHandler`` sends each
token a chat model streams as soon as it comes. If the attempt then fails and the
node is retried, those tokens were already sent. So, only while a run streams
``messages``, a wrapped node watches its attempts: a ``Tokens`` collector is the
value of a context variable that LangChain's configure hook adds as a callback
handler to every chat model run started inside the attempt, and it keeps the ids
of the messages whose tokens were streamed. After an attempt that streamed tokens
fails (retried or not), the node writes the custom stream event::

    {"event": "langgraph_runner.discarded_message", "message_ids": [...]}

A run that does not stream ``messages`` pays one look at its callback handlers per
node call; nothing is added to its chat models.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.context import register_configure_hook

from langgraph_runner._internal import compat as _compat

__all__ = ["DISCARDED_EVENT", "TOKENS", "Tokens", "discarded", "watch", "unwatch"]

DISCARDED_EVENT = "langgraph_runner.discarded_message"
"""The ``event`` of the custom stream event that names a failed attempt's messages."""


class Tokens(BaseCallbackHandler):
    """The ids of the messages chat models streamed tokens of during one attempt."""

    run_inline = True  # beside LangGraph's StreamMessagesHandler, in the same order

    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: Any = None,
        run_id: Any = None,
        **kwargs: Any,
    ) -> None:
        message = getattr(chunk, "message", None)
        found = getattr(message, "id", None) or (f"lc_run--{run_id}" if run_id else None)
        if found and found not in self.ids:
            self.ids.append(str(found))


TOKENS: ContextVar[Tokens | None] = ContextVar("langgraph_runner_tokens", default=None)
_HOOKED: list[bool] = []


def _hook() -> None:
    """Let chat model runs report their tokens to ``TOKENS`` (registered once per process)."""
    if not _HOOKED:
        register_configure_hook(TOKENS, True)
        _HOOKED.append(True)


def watch(config: Any) -> tuple[Tokens, Token[Tokens | None]] | None:
    """A collector made current for the call, when its run streams ``messages``; else None.

    Runs on every call: a graph task's callbacks are a manager whose handler list is
    empty unless something listens, so the common case is two lookups.
    """
    callbacks = config.get("callbacks") if config else None
    if not getattr(callbacks, "handlers", callbacks) or not _compat.streams_messages(config):
        return None
    _hook()
    tokens = Tokens()
    # Also on the task's own callback manager, which a model called with the node's
    # config inherits: on Python 3.10 an async model call does not see the context
    # variable (no context for asyncio tasks before 3.11), but it gets the config.
    add = getattr(callbacks, "add_handler", None)
    if add is not None:
        add(tokens, inherit=True)
    return tokens, TOKENS.set(tokens)


def unwatch(watched: tuple[Tokens, Token[Tokens | None]], config: Any = None) -> None:
    """Undo ``watch``."""
    TOKENS.reset(watched[1])
    callbacks = config.get("callbacks") if config else None
    remove = getattr(callbacks, "remove_handler", None)
    if remove is not None:
        remove(watched[0])


def discarded(config: Any, tokens: Tokens) -> None:
    """After a failed attempt that streamed tokens: the custom event naming their messages.

    The collector is emptied for the next attempt. Written with the run's stream
    writer (a no-op unless the run streams ``custom``); never raises.
    """
    ids, tokens.ids = tokens.ids, []
    try:
        runtime = _compat.runtime_of(config)
        writer = getattr(runtime, "stream_writer", None)
        if writer is None:
            from langgraph.config import get_stream_writer

            writer = get_stream_writer()
        # LangGraph's writer reads the task's config from a context variable, which an
        # async node on Python 3.10 does not have (no context for asyncio tasks before
        # 3.11): set it for the call, as LangGraph does around a node.
        token = var_child_runnable_config.set(config) if config else None
        try:
            writer({"event": DISCARDED_EVENT, "message_ids": ids})
        finally:
            if token is not None:
                var_child_runnable_config.reset(token)
    except Exception:  # outside a graph run: nobody streams
        return
