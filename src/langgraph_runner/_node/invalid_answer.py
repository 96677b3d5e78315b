"""A structured answer that does not validate leaves a hardened agent's model node as bare.

``create_agent(response_format=ToolStrategy(..., handle_errors=False))`` raises
``StructuredOutputError`` from its model node when the model's structured answer
does not validate; a structured-output retry middleware inside the node may have
given up on it already. That is no failure of the model call to retry or record:
the model node of a hardened agent lets it out as the bare agent does (in record
mode too), as ``RunnerMiddleware`` does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from langgraph_runner._node.factory import with_result_hook

__all__ = ["letting_invalid_answers_out"]

# Matched by name: the class lives in LangChain, which this package does not import here.
_INVALID = ("langchain.agents.structured_output", "StructuredOutputError")


def _is_invalid_answer(exc: BaseException) -> bool:
    return any((c.__module__, c.__qualname__) == _INVALID for c in type(exc).__mro__)


class _Invalid:
    """The error, carried past the engine as a result (neither retried nor recorded)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _carrying(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` returning the invalid-answer error instead of raising it."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def acarry(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                if _is_invalid_answer(exc):
                    return _Invalid(exc)
                raise

        return acarry

    @functools.wraps(fn)
    def carry(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if _is_invalid_answer(exc):
                return _Invalid(exc)
            raise

    return carry


def _raised(result: Any) -> Any:
    if isinstance(result, _Invalid):
        raise result.error
    return result


def letting_invalid_answers_out(make: Callable[[Callable[..., Any]], Any]) -> Any:
    """The hardened model node ``make`` builds, from which a ``StructuredOutputError`` leaves.

    Args:
        make: Builds the hardened node, passing each function it wraps (the sync and
            the async model node functions) through the function it is given.

    Returns:
        The node ``make`` built, its entry points re-raising the error after the engine.
    """
    return with_result_hook(make(_carrying), _raised)
