"""Redacting secrets from a live exception and its chain, in place (see ``redact_exception``)."""

from __future__ import annotations

import builtins
import collections
import contextlib
from collections.abc import MutableMapping
from typing import Any

from pydantic_core import ValidationError

from langgraph_runner._records.classify import keep
from langgraph_runner._records.redaction_rules import is_secret_key
from langgraph_runner._records.sanitize import REDACTED, sanitize_message

__all__ = ["redact_tree", "replacement"]

# Longest string kept in an exception's args or attributes: also bounds what a
# checkpoint stores for one error.
ARG_MAX = 2000
# Exceptions redacted in one tree (chain, groups, exceptions in args); past that,
# each is blanked at a constant cost (see redact_tree). Documented in SECURITY.md.
MAX_EXCEPTIONS = 10_000
DROPPED = "[dropped: past the redaction cap]"
_MAX_DEPTH = 32  # container nesting looked into
_MAX_ITEMS = 10_000  # container items looked at in one value
_GROUP: Any = getattr(builtins, "BaseExceptionGroup", ())
_GROUP_TYPES: tuple[type[BaseException], ...] = (_GROUP,) if _GROUP else ()
_SLOT = type(BaseException.__str__)  # a builtin class's own method (wrapper_descriptor)
_TEXT_ATTR = "_langgraph_runner_redacted"
_SAFE_CLASSES: dict[type[BaseException], type[BaseException]] = {}


def _clean(text: str) -> str:
    return sanitize_message(text, max_length=ARG_MAX)


def _safe_repr(value: object) -> str | None:
    try:
        return repr(value)
    except BaseException:  # a hostile __repr__ is contained, never raised
        return None


def _value(value: Any, depth: int, *, opaque: bool, budget: list[int] | None = None) -> Any:
    """``value`` with secrets redacted; the same object when nothing changed.

    ``opaque`` objects (not text, bytes or plain containers) are replaced by their
    redacted repr only when that repr shows a secret (exception args: what
    ``repr(exc)`` prints); as attributes they are left alone (a ``response`` an
    error_handler reads), except the secret headers of an HTTP request or response
    (``_redact_headers``). A pair ``(key, value)`` whose key names a secret (a
    header tuple) has its value redacted, as a dict's would be.

    The walk is bounded: a container nested deeper than ``_MAX_DEPTH``, or met after
    ``_MAX_ITEMS`` items were looked at in one value, is replaced by ``REDACTED``.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "surrogateescape")
        clean = _clean(text)
        return value if clean == text else type(value)(clean.encode("utf-8", "surrogateescape"))
    if budget is None:
        budget = [_MAX_ITEMS]
    if type(value) in _CONTAINERS:
        return _container(value, depth, opaque, budget)
    if isinstance(value, BaseException):
        return value
    if not opaque:
        _redact_headers(value)
        return value
    described = _safe_repr(value)
    if described is None:
        return f"<unprintable {type(value).__name__}>"
    clean = _clean(described)
    return value if clean == described else clean


def _container(value: Any, depth: int, opaque: bool, budget: list[int]) -> Any:
    """A dict, list, tuple or set redacted item by item, within the walk's bounds."""
    kind = type(value)
    try:
        size = len(value)
    except Exception:
        return REDACTED
    budget[0] -= size
    if depth >= _MAX_DEPTH or budget[0] < 0:
        return REDACTED
    if kind is dict:
        out = {
            k: REDACTED
            if v is not None and is_secret_key(k)
            else _value(v, depth + 1, opaque=opaque, budget=budget)
            for k, v in value.items()
        }
        changed = any(out[k] is not v for k, v in value.items())
        return out if changed else value
    if kind is tuple and len(value) == 2 and value[1] is not None and is_secret_key(value[0]):
        return (value[0], REDACTED)  # ("Authorization", "Bearer ..."): a header tuple
    items = [_value(v, depth + 1, opaque=opaque, budget=budget) for v in value]
    changed = any(a is not b for a, b in zip(items, value, strict=True))
    return kind(items) if changed else value


_CONTAINERS = (dict, list, tuple, set, frozenset)
_HTTP_KINDS = ("Request", "Response", "RequestInfo")


def _redact_headers(value: object, depth: int = 0) -> None:
    """Redact, in place, the secret headers of an HTTP request or response object.

    An object whose class name ends with ``Request``, ``Response`` or ``RequestInfo``
    (httpx, requests, aiohttp, urllib3, ...) with a mutable ``headers`` mapping:
    each header whose name is a secret key (``Authorization``, ``Cookie``,
    ``X-Api-Key``, ...) gets the value ``REDACTED``, and its ``url`` is redacted
    (``?api_key=...``); a response's ``request`` too.
    Other objects an exception holds are left as they are: a client or session
    may still be in use.
    """
    if depth > 1 or not type(value).__name__.endswith(_HTTP_KINDS):
        return
    with contextlib.suppress(Exception):
        headers = getattr(value, "headers", None)
        if isinstance(headers, MutableMapping):
            for key in [k for k in headers if is_secret_key(k)][:_MAX_ITEMS]:
                headers[key] = REDACTED
    with contextlib.suppress(Exception):
        _redact_url(value)
    with contextlib.suppress(Exception):
        _redact_headers(vars(value).get("request") or vars(value).get("_request"), depth + 1)


def _redact_url(value: object) -> None:
    """Replace the ``url`` of an HTTP request or response by its redacted form, same type.

    ``httpx.Request.url`` is an ``httpx.URL`` (rebuilt from the redacted text),
    ``requests``' ``PreparedRequest.url`` and ``Response.url`` are strings.
    """
    url = getattr(value, "url", None)
    if url is None or isinstance(url, (bytes, bytearray)):
        return
    text = str(url)
    clean = _clean(text)
    if clean == text:
        return
    kind = type(url)
    value.url = clean if kind is str else kind(clean)  # type: ignore[attr-defined]


def _set(exc: BaseException, name: str, value: Any) -> None:
    # A read-only or validating attribute: nothing to do.
    with contextlib.suppress(Exception):
        setattr(exc, name, value)


def _redact_one(exc: BaseException) -> None:
    try:
        args = exc.args
    except Exception:
        args = ()
    if isinstance(exc, _GROUP):
        new_args = (_value(args[0], 0, opaque=True), *args[1:]) if args else args
    else:
        new_args = _value(args, 0, opaque=True)
    if new_args is not args:
        _set(exc, "args", new_args)
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [_clean(n) if isinstance(n, str) else n for n in notes]
    try:
        attrs = list(vars(exc).items())
    except TypeError:
        attrs = []
    for name, value in attrs:
        if name in ("__notes__", _TEXT_ATTR):
            continue
        clean = _value(value, 0, opaque=False)
        if clean is not value:
            _set(exc, name, clean)
    c_fields = (
        ("errno", "strerror", "filename", "filename2")
        if isinstance(exc, OSError)
        else ("msg", "name", "path")
        if isinstance(exc, ImportError)
        else ()
    )
    if c_fields:  # C-level attributes that str() shows
        for name in c_fields:
            value = getattr(exc, name, None)
            clean = _value(value, 0, opaque=True)
            if clean is not value:
                _set(exc, name, clean)
    _fix_text(exc)


def _text(exc: BaseException, show: Any) -> str | None:
    try:
        out = show(exc)
    except BaseException:
        return None
    return out if isinstance(out, str) else None


def _from_args(cls: type[BaseException]) -> bool:
    """Whether ``str``/``repr`` of ``cls`` are builtin ones that show only cleaned data.

    True for builtin (C) ``__str__``/``__repr__`` except the ones that print a
    field other than ``args`` (an exception group's message, SyntaxError's text,
    ImportError's ``msg``).
    """
    return (
        isinstance(cls.__str__, _SLOT)
        and isinstance(cls.__repr__, _SLOT)
        and not issubclass(cls, (SyntaxError, ImportError, *_GROUP_TYPES))
    )


def _fix_text(exc: BaseException) -> None:
    """Swap the class when ``str``/``repr`` still show a secret (or raise)."""
    cls = type(exc)
    if _from_args(cls):
        return
    shown = _text(exc, cls.__str__)
    described = _text(exc, cls.__repr__)
    clean_str = f"<unprintable {cls.__name__}>" if shown is None else _clean(shown)
    clean_repr = f"{cls.__name__}()" if described is None else _clean(described)
    if clean_str == shown and clean_repr == described:
        return
    safe = _safe_class(cls)
    if safe is None:
        return
    try:
        vars(exc)[_TEXT_ATTR] = (clean_str, clean_repr)
        exc.__class__ = safe
    except (TypeError, AttributeError):  # a builtin class: its text comes from args
        vars(exc).pop(_TEXT_ATTR, None)


def _redacted_str(self: BaseException) -> str:
    return str(vars(self)[_TEXT_ATTR][0])


def _redacted_repr(self: BaseException) -> str:
    return str(vars(self)[_TEXT_ATTR][1])


def _safe_class(cls: type[BaseException]) -> type[BaseException] | None:
    if _TEXT_ATTR in vars(cls):  # already one of ours
        return cls
    safe = _SAFE_CLASSES.get(cls)
    if safe is None:
        try:
            maker: Any = type(cls)
            safe = maker(
                cls.__name__,
                (cls,),
                {
                    "__str__": _redacted_str,
                    "__repr__": _redacted_repr,
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    _TEXT_ATTR: True,
                },
            )
        except Exception:  # a final class or a metaclass that refuses
            return None
        keep(_SAFE_CLASSES, cls, safe)  # bounded: classes made per call are not all kept
    return safe


_ARGS_ONLY: dict[type[BaseException], bool] = {}


def _shows_only_args(cls: type[BaseException]) -> bool:
    """``_from_args(cls)``, once per class."""
    found = _ARGS_ONLY.get(cls)
    if found is None:
        found = keep(_ARGS_ONLY, cls, _from_args(cls))
    return found


def _redact_plain(exc: BaseException) -> bool:
    """Redact the common exception in place: one text argument and nothing else.

    That is an exception whose ``str``/``repr`` are builtin (they show ``args``
    and nothing else), with at most one ``str`` argument, no attributes (nor
    notes), no cause or context, and, for an ``OSError``, no filename or
    ``strerror``. Returns False, having changed nothing, for any other; the
    general walk (``redact_tree``) handles those.
    """
    try:
        if exc.__cause__ is not None or exc.__context__ is not None or exc.__dict__:
            return False
        cls = type(exc)
        shows_only_args = _ARGS_ONLY.get(cls)
        if shows_only_args is None:
            shows_only_args = _shows_only_args(cls)
        if not shows_only_args:
            return False
        if isinstance(exc, OSError) and (
            exc.filename is not None or exc.filename2 is not None or exc.strerror is not None
        ):
            return False
        args = exc.args
        if not args:
            return True
        if len(args) != 1 or args[0].__class__ is not str:
            return False
        clean = sanitize_message(args[0], max_length=ARG_MAX)  # _clean(), inlined
        if clean != args[0]:
            exc.args = (clean,)
        return True
    except Exception:  # a hostile exception: the general walk contains it
        return False


def _blank(exc: BaseException) -> None:
    """Replace everything ``exc`` shows by ``DROPPED``, at a constant cost (no scan).

    For an exception past ``MAX_EXCEPTIONS``: its args, attributes and notes are
    dropped, its own cause/context chain is cut, and a class that builds its text
    elsewhere is swapped for one printing the marker. A group keeps its members
    (they cannot be removed): the walk blanks them in turn.
    """
    with contextlib.suppress(Exception):
        group = isinstance(exc, _GROUP)
        _set(exc, "args", (DROPPED, list(getattr(exc, "exceptions", ()))) if group else (DROPPED,))
        with contextlib.suppress(TypeError):
            vars(exc).clear()
        exc.__cause__ = None
        exc.__context__ = None
        exc.__suppress_context__ = True
        if isinstance(exc, OSError):
            for name in ("errno", "strerror", "filename", "filename2"):
                _set(exc, name, None)
        cls = type(exc)
        if group or not _shows_only_args(cls):
            safe = _safe_class(cls)
            if safe is not None:
                with contextlib.suppress(TypeError, AttributeError):
                    vars(exc)[_TEXT_ATTR] = (DROPPED, f"{cls.__name__}({DROPPED!r})")
                    exc.__class__ = safe


def _linked(exc: BaseException) -> list[BaseException]:
    """What a traceback prints of ``exc`` besides itself, in print order."""
    found: list[BaseException] = []
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            found.append(linked)
    with contextlib.suppress(Exception):
        found.extend(a for a in exc.args if isinstance(a, BaseException))
    if isinstance(exc, _GROUP):
        found.extend(exc.exceptions)
    return found


def redact_tree(exc: BaseException) -> None:
    """Redact ``exc``, its cause/context chain and group members, in place.

    Breadth first (cause and context, exceptions in args, then group members from
    the first, which a traceback prints first), so the exceptions nearest ``exc``
    are redacted first. The first ``MAX_EXCEPTIONS`` exceptions are
    redacted; every one past that is blanked (``_blank``: its text replaced by
    ``DROPPED``, its chain cut), never left as it was.
    """
    if _redact_plain(exc):
        return
    seen: set[int] = {id(exc)}
    todo: collections.deque[BaseException] = collections.deque((exc,))
    done = 0
    while todo:
        current = todo.popleft()
        if done < MAX_EXCEPTIONS:
            # Never let redaction replace the error it redacts.
            with contextlib.suppress(Exception):
                _redact_one(current)
        else:
            _blank(current)
        done += 1
        for linked in _linked(current):
            if id(linked) not in seen:
                seen.add(id(linked))
                todo.append(linked)


def _pydantic_replacement(exc: BaseException) -> BaseException | None:
    """A pydantic ValidationError rebuilt without inputs, or None when ``exc`` is not one.

    Its text is built inside pydantic-core from the inputs it failed on (``input_value=``),
    and neither its text nor its class can change in place: the only safe form is a
    new one of the same type with the inputs hidden and the context values redacted.
    """
    if type(exc) is not ValidationError:
        return None
    try:
        errors: list[Any] = []
        for error in exc.errors(include_url=False):
            detail: dict[str, Any] = {"type": error["type"], "loc": error["loc"], "input": None}
            ctx = error.get("ctx")
            if ctx:
                for value in ctx.values():
                    if isinstance(value, BaseException):
                        redact_tree(value)
                detail["ctx"] = {k: _value(v, 0, opaque=False) for k, v in ctx.items()}
            errors.append(detail)
        return ValidationError.from_exception_data(exc.title, errors, hide_input=True)
    except Exception:  # a custom error type pydantic cannot rebuild: keep the original
        return None


def replacement(exc: BaseException) -> BaseException:
    """``exc``, or an equivalent of the same type when its text cannot be redacted in place.

    The replacement keeps the traceback, the cause and the (redacted) notes, and
    suppresses the implicit context, so raising it inside an ``except`` block does
    not print the original again.
    """
    if type(exc) is not ValidationError:  # the only kind replaced
        return exc
    new = _pydantic_replacement(exc)
    if new is None:
        return exc
    new.__cause__ = exc.__cause__
    new.__suppress_context__ = True
    new.__traceback__ = exc.__traceback__
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        vars(new)["__notes__"] = list(notes)
    return new
