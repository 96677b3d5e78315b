"""The one way out: everything that leaves a node towards another party passes here.

Records, log events, the ``ToolMessage`` and ``AIMessage`` texts sent to the model,
report and CLI causes and metric label values are handed to ``egress`` (any value),
``egress_text`` (text) or ``egress_error`` (an exception shown as text) before they
are written, whatever their type:

* text is redacted by ``sanitize_message`` (the rule table, then value detection);
* bytes the same, kept as bytes;
* mappings item by item, a value under a secret key name (``is_secret_key``)
  replaced whole; ``(name, value)`` header pairs likewise;
* lists, tuples and sets item by item (message content blocks are lists of
  strings and dicts);
* a message (an object with ``content`` and ``model_copy``, as LangChain's) is
  copied with its content redacted;
* an exception becomes ``"<Type>: <redacted message>"``: the live exception is left
  alone (``egress_exception`` redacts one in place, for raise mode);
* anything else is kept when its ``repr`` shows no secret, and replaced by the
  redacted ``repr`` when it does.

The walk is bounded (``MAX_DEPTH`` levels, ``MAX_ITEMS`` items per value): what lies
past the bounds is replaced by ``[REDACTED]``, never let through unread.
"""

from __future__ import annotations

from typing import Any

from langgraph_runner._records.redact_exc import redact_tree, replacement
from langgraph_runner._records.redaction_rules import is_secret_key
from langgraph_runner._records.sanitize import DEFAULT_MAX_MESSAGE, REDACTED, sanitize_message

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "egress",
    "egress_content",
    "egress_error",
    "egress_exception",
    "egress_text",
]

MAX_DEPTH = 32
"""Container nesting looked into; deeper containers become ``[REDACTED]``."""
MAX_ITEMS = 10_000
"""Container items looked at in one value; past that, containers become ``[REDACTED]``."""

_PLAIN = (bool, int, float, type(None))


def egress_text(value: object, *, max_length: int = DEFAULT_MAX_MESSAGE) -> str:
    """``str(value)`` redacted and capped: what a sink writes as text.

    The text stage of every other function here (``sanitize_message``); for an
    exception that is its message alone (``egress_error`` adds the type).
    """
    return sanitize_message(value, max_length=max_length)


def egress_error(error: BaseException | None, *, max_length: int = DEFAULT_MAX_MESSAGE) -> str:
    """``"<Type>: <redacted message>"``, or ``"unknown error"`` for None.

    The exception itself is not changed; a ``__str__`` that raises is shown as
    ``<unprintable Type>``.
    """
    if error is None:
        return "unknown error"
    name = type(error).__name__
    try:
        text = f"{name}: {error}"
    except BaseException:  # a hostile __str__ must not replace the error being shown
        text = f"{name}: <unprintable {name}>"
    return sanitize_message(text, max_length=max_length)


def egress_exception(exc: BaseException) -> BaseException:
    """``exc`` redacted in place (its chain, groups, args, attributes, notes), for raising.

    Returns ``exc`` itself, or a replacement of the same type when its text cannot
    be changed in place (a pydantic ``ValidationError``).
    """
    redact_tree(exc)
    return replacement(exc)


def egress_content(content: Any, *, max_length: int = 2000) -> Any:
    """A message's ``content`` (a string or a list of strings and content blocks), redacted."""
    return egress(content, max_length=max_length)


def egress(value: Any, *, max_length: int = DEFAULT_MAX_MESSAGE) -> Any:
    """``value`` with every secret redacted, whatever its type (see the module docstring).

    Returns the same object when nothing had to change, so callers can compare by
    identity. Never raises.

    Args:
        value: What is about to leave the node.
        max_length: Cap on each text inside ``value``.
    """
    try:
        return _walk(value, 0, [MAX_ITEMS], max_length)
    except Exception:  # a hostile container or repr: nothing of it goes out
        return REDACTED


def _walk(value: Any, depth: int, budget: list[int], limit: int) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return sanitize_message(value, max_length=limit)
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "surrogateescape")
        clean = sanitize_message(text, max_length=limit)
        return value if clean == text else type(value)(clean.encode("utf-8", "surrogateescape"))
    if isinstance(value, BaseException):
        return egress_error(value, max_length=limit)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return _container(value, depth, budget, limit)
    content = getattr(value, "content", None)
    if content is not None and callable(getattr(value, "model_copy", None)):
        clean = _walk(content, depth + 1, budget, limit)
        return value if clean is content else value.model_copy(update={"content": clean})
    try:
        described = repr(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    clean = sanitize_message(described, max_length=limit)
    return value if clean == described else clean


def _container(value: Any, depth: int, budget: list[int], limit: int) -> Any:
    budget[0] -= len(value)
    if depth >= MAX_DEPTH or budget[0] < 0:
        return REDACTED
    if isinstance(value, dict):
        out = {}
        changed = False
        for key, item in value.items():
            clean_key = _walk(key, depth + 1, budget, limit) if isinstance(key, str) else key
            if item is not None and is_secret_key(key):
                clean = REDACTED
            else:
                clean = _walk(item, depth + 1, budget, limit)
            changed = changed or clean is not item or clean_key is not key
            out[clean_key] = clean
        if not changed:
            return value
        return out if type(value) is dict else _rebuild(value, out)
    pair = isinstance(value, tuple) and len(value) == 2 and value[1] is not None
    if pair and is_secret_key(value[0]):
        return (value[0], REDACTED)  # ("Authorization", "Bearer ..."): a header pair
    items = [_walk(v, depth + 1, budget, limit) for v in value]
    if all(a is b for a, b in zip(items, value, strict=True)):
        return value
    return _rebuild(value, items)


def _rebuild(value: Any, items: Any) -> Any:
    kind = type(value)
    if kind in (dict, list, tuple, set, frozenset):
        return kind(items)
    try:  # a subclass (a NamedTuple, an OrderedDict ...) rebuilt as its base when it refuses
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return kind(*items)
        return kind(items)
    except Exception:
        for base in (dict, list, tuple, set, frozenset):
            if isinstance(value, base):
                return base(items)
        return REDACTED
