"""Token usage from what LangChain models report, and the callback handler that counts it.

Chat models put ``usage_metadata`` (``input_tokens``, ``output_tokens``,
``total_tokens``) on the ``AIMessage``; a streamed call reports it on its final
chunk, and LangChain hands the merged message to ``on_llm_end``. Older models
report ``llm_output["token_usage"]`` instead. ``UsageCounter`` is a callback
handler made current for one node call with ``counting(...)``: LangChain adds it to
every model call made inside (``register_configure_hook``), without user code and
whether or not the node passes its config on.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from langgraph_runner._records.logs import get_event_logger

__all__ = ["MAX_TOKENS", "Usage", "UsageCounter", "counting", "model_name", "usage_of"]


class Usage(NamedTuple):
    """Tokens one model call (or several, summed) used."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    model: str | None = None

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            min(self.input_tokens + other.input_tokens, MAX_TOKENS),
            min(self.output_tokens + other.output_tokens, MAX_TOKENS),
            min(self.total_tokens + other.total_tokens, MAX_TOKENS),
            self.model or other.model,
        )


MAX_TOKENS = 10**12
"""Most tokens one call is counted for: a larger report (``10**400``) is clamped to it."""


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return min(value, MAX_TOKENS)
    return 0


def _from_metadata(meta: Any, model: str | None) -> Usage | None:
    if not isinstance(meta, Mapping):
        return None
    inp = _int(meta.get("input_tokens", meta.get("prompt_tokens")))
    out = _int(meta.get("output_tokens", meta.get("completion_tokens")))
    total = _int(meta.get("total_tokens")) or inp + out
    return Usage(inp, out, total, model)


def model_name(meta: Any) -> str | None:
    """The model name in a response's or a call's metadata, if any."""
    if not isinstance(meta, Mapping):
        return None
    for key in ("model_name", "model", "ls_model_name", "model_id"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _message_usage(message: Any) -> Usage | None:
    meta = getattr(message, "usage_metadata", None)
    if meta is None:
        return None
    return _from_metadata(meta, model_name(getattr(message, "response_metadata", None)))


def usage_of(obj: Any) -> Usage | None:
    """The token usage ``obj`` reports, or None when it reports none.

    Reads an ``AIMessage`` (or chunk), an ``LLMResult`` (its generations'
    messages, else ``llm_output["token_usage"]``), a ``ModelResponse``-like object
    with a ``result`` list, a list of messages, or a dict with ``"messages"`` (a
    node's update). Several messages are summed.
    """
    found = _message_usage(obj)
    if found is not None:
        return found
    generations = getattr(obj, "generations", None)
    if isinstance(generations, list):
        return _llm_result_usage(obj, generations)
    if isinstance(obj, Mapping):
        obj = obj.get("messages")
    elif hasattr(obj, "result") and isinstance(obj.result, list):
        obj = obj.result
    return _summed(obj) if isinstance(obj, list) else None


def _summed(messages: list[Any]) -> Usage | None:
    """The usage of several messages added up (None when none reports any)."""
    total: Usage | None = None
    for item in messages:
        part = _message_usage(item)
        if part is not None:
            total = part if total is None else total + part
    return total


def _llm_result_usage(result: Any, generations: list[Any]) -> Usage | None:
    """An ``LLMResult``'s usage: its generations' messages, else its ``llm_output``."""
    messages = [
        getattr(gen, "message", None)
        for batch in generations
        for gen in (batch if isinstance(batch, list) else ())
    ]
    total = _summed(messages)
    if total is not None:
        return total
    output = getattr(result, "llm_output", None)
    if isinstance(output, Mapping):
        usage = output.get("token_usage") or output.get("usage")
        return _from_metadata(usage, model_name(output))
    return None


class UsageCounter(BaseCallbackHandler):
    """Tells ``before(model)`` before each model call and ``after(usage)`` after it.

    ``before`` may raise (a spent budget): the handler has ``raise_error`` set, so the
    exception ends the model call. It may also wait (a token limit): under an async
    callback manager the handler runs in an executor thread (``run_inline`` is off), so
    a wait never blocks the event loop. ``after``'s errors are logged, never raised.
    """

    raise_error = True
    run_inline = False

    def __init__(
        self,
        before: Callable[[str | None], None] | None,
        after: Callable[[Usage], None],
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__()
        self._before = before
        self._after = after
        self._failed = failed
        self._models: dict[UUID, str | None] = {}

    def _start(self, run_id: UUID, kwargs: dict[str, Any]) -> None:
        model = model_name(kwargs.get("invocation_params")) or model_name(kwargs.get("metadata"))
        self._models[run_id] = model
        if self._before is not None:
            self._before(model)

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Check before a chat model call."""
        self._start(run_id, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Check before an LLM call."""
        self._start(run_id, kwargs)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Count the call's usage."""
        model = self._models.pop(run_id, None)
        try:
            usage = usage_of(response) or Usage()
            if usage.model is None and model is not None:
                usage = usage._replace(model=model)
            self._after(usage)
        except Exception as exc:  # counting must never fail the model call
            get_event_logger().emit(
                logging.WARNING, "budget.count_failed", error_type=type(exc).__name__
            )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the failed call; tell ``failed`` (a 429 holds the limit's callers off, even
        when the node handles the error itself)."""
        self._models.pop(run_id, None)
        if self._failed is not None:
            try:
                self._failed(error)
            except Exception as exc:  # never fail the model call's error path
                get_event_logger().emit(
                    logging.WARNING, "ratelimit.hold_failed", error_type=type(exc).__name__
                )


_COUNTER: contextvars.ContextVar[UsageCounter | None] = contextvars.ContextVar(
    "langgraph_runner_usage_counter", default=None
)
register_configure_hook(_COUNTER, inheritable=True)


@contextlib.contextmanager
def counting(counter: UsageCounter) -> Iterator[UsageCounter]:
    """Add ``counter`` to every LangChain callback manager configured inside the block."""
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)
