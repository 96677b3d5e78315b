"""Structured events for wrapped nodes; failures visible by default.

Events go to the stdlib logger ``langgraph_runner`` as one-line records, so they
go wherever the application sends stdlib logs (with ``logger=``, to a
structlog-style logger of the application's instead). When
the application configured no logging at all, Python's own last-resort handler
prints WARNING and above to stderr, so a node that fails (and, in record mode,
lets the graph carry on) is never silent; INFO events print nothing. Set the
``langgraph_runner`` logger's level (or add a handler) to change that.
``configure_logging()`` opts into rendering every event (console or JSON) on
that one logger, through structlog's ``ProcessorFormatter``, without touching
``structlog.configure`` or the root logger, so an application's own structlog
setup stays as it is. An application that renders stdlib records with its own
``ProcessorFormatter`` adds ``add_event_fields`` to its ``foreign_pre_chain`` and
gets each event's fields as event-dict keys. structlog is imported only when
rendering is asked for: emitting an event never builds a structlog object.

Events: ``node.started``, ``node.retrying``, ``node.succeeded``, ``node.failed``
(and, with the resilience features, ``node.timeout``, ``node.aborted``,
``node.fallback``, ``circuit.*``, ``node.cache_hit``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import IO, Any, Protocol

from langgraph_runner._records.egress import egress
from langgraph_runner._records.log_record import make_record, print_as_last_resort
from langgraph_runner._records.sanitize import sanitize_message

__all__ = [
    "LOGGER_NAME",
    "EventLogger",
    "SupportsEvents",
    "add_event_fields",
    "configure_logging",
    "get_event_logger",
]

LOGGER_NAME = "langgraph_runner"
_FIELDS_ATTR = "lgr_fields"


class SupportsEvents(Protocol):
    """What a user-supplied ``logger=`` needs: structlog-style level methods."""

    def debug(self, event: str, **kw: Any) -> Any: ...
    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...
    def error(self, event: str, **kw: Any) -> Any: ...


# Control characters (newlines above all) in a value could forge log lines in a
# line-oriented sink: console and plain stdlib output show them escaped instead.
_ESCAPES = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    # bidirectional controls (U+202E ...) reorder what a terminal shows
    **{c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F))},
    **{c: f"\\u{c:04x}" for c in range(0x2066, 0x206A)},
}


def _escape(value: object) -> str:
    """``str(value)`` with control characters escaped, so one event stays one line.

    A ``__str__`` that raises gives ``<unprintable TypeName>``.
    """
    if isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    return text if text.isprintable() else text.translate(_ESCAPES)


def _line(fields: Mapping[str, Any]) -> str:
    """``key=value`` pairs (None values left out), control characters escaped.

    Rendered at once and checked once: only a line that is not printable as a
    whole (or a value whose ``__str__`` raises) is rendered again field by field.
    """
    try:
        text = " ".join([f"{k}={v!s}" for k, v in fields.items() if v is not None])
    except Exception:
        text = None
    if text is not None and text.isprintable():
        return text
    return " ".join(f"{_escape(k)}={_escape(v)}" for k, v in fields.items() if v is not None)


def _to_stdlib(
    logger: logging.Logger,
    level: int,
    event: str,
    tail: str,
    fields: Mapping[str, Any],
    audience: int | None = None,
) -> None:
    """Hand one event to the stdlib logger: its one-line message (``event``, then the
    printable ``tail`` of its fields) and its fields.

    The record is made directly, as ``Logger._log`` would make it but without looking
    for the caller in the stack (``findCaller``: the caller would be the package's own
    logging code, which tells a reader nothing); ``pathname``, ``lineno`` and
    ``funcName`` say so, as the stdlib's own records do when caller lookup is off
    (``log_record``). When only Python's last-resort handler would see the record
    (logging unconfigured), the line is written as it would write it: no record is made.
    ``audience`` is ``_audience(logger, level)`` when the caller asked it already.
    """
    line = f"{event} {tail}" if tail else event
    if (_audience(logger, level) if audience is None else audience) == LAST_RESORT:
        print_as_last_resort(line)
        return
    logger.handle(make_record(logger, level, line, {_FIELDS_ATTR: {"event": event, **fields}}))


# Who would see an event (EventLogger.audience): nobody (emits is False); only Python's own
# last-resort handler (logging unconfigured, the default), which prints the event's line
# and reads none of its fields; or handlers (or a filter, a record factory, a logger class
# of the application's own, a custom logger), which may read its record and fields.
NOBODY, LAST_RESORT, HANDLERS = 0, 1, 2

_STDERR_HANDLER = type(logging.lastResort)
_LOGGER_HANDLE = logging.Logger.handle
_LOGGER_CALL_HANDLERS = logging.Logger.callHandlers


def _audience(logger: logging.Logger, level: int) -> int:
    """Who a record at ``level`` would reach: ``NOBODY``, ``LAST_RESORT`` or ``HANDLERS``.

    One walk of the handlers, the way ``Logger.callHandlers`` does: ``NOBODY`` when only
    NullHandlers (or handlers above ``level``) would see it. With no handler at all,
    ``LAST_RESORT`` when Python's last-resort handler would print the record's message and
    nothing else (its formatter the stdlib's ``%(message)s``): not if anything could see a
    record (a filter on the way, a changed last-resort handler, a record factory or a
    logger class of the application's own).
    """
    current: logging.Logger | None = logger
    found = filtered = False
    while current is not None:
        for handler in current.handlers:
            found = True
            if not isinstance(handler, logging.NullHandler) and level >= handler.level:
                return HANDLERS
        if current.filters:
            filtered = True
        if not current.propagate:
            break
        current = current.parent
    last = logging.lastResort
    if found or last is None or level < last.level:
        return NOBODY
    if (
        not filtered
        and last.__class__ is _STDERR_HANDLER
        and last.formatter is None
        and not last.filters
        and logging.getLogRecordFactory() is logging.LogRecord
        and logger.__class__.handle is _LOGGER_HANDLE
        and logger.__class__.callHandlers is _LOGGER_CALL_HANDLERS
        and "handle" not in logger.__dict__
    ):
        return LAST_RESORT
    return HANDLERS


_METHODS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}


def _always(level: int) -> bool:
    return True


_LOG_PLAIN = frozenset((int, float, bool, type(None)))
LOG_TEXT = 8000  # a field's longest text (a stack is capped at 4000)


class EventLogger:
    """Emits the package's events; the cheap level check happens before any work.

    Args:
        logger: A structlog-style logger to send events to instead of the stdlib
            ``langgraph_runner`` logger. Its own filtering applies.
    """

    __slots__ = ("_custom", "_std", "enabled", "stdlib")

    enabled: Callable[[int], bool]
    """Whether an event at a level would be emitted (always True for a custom logger).

    Checked on every node call, so it is the stdlib ``Logger.isEnabledFor`` itself
    (one call, its level cache included) rather than a method that calls it.
    """

    stdlib: Any
    """The stdlib logger events go to when its level check is the stdlib's own, else None.

    The node call's drivers read its level cache directly (what ``isEnabledFor``
    reads once ``disabled`` is false) and call ``enabled`` only when it has no answer.
    None with a custom logger, and with a logger class that checks levels its own way.
    """

    def __init__(self, logger: SupportsEvents | None = None) -> None:
        self._std = logging.getLogger(LOGGER_NAME)
        self._custom = logger
        self.enabled = self._std.isEnabledFor if logger is None else _always
        std: Any = self._std
        own_check = type(std).isEnabledFor is logging.Logger.isEnabledFor
        plain = own_check and type(getattr(std, "_cache", None)) is dict
        self.stdlib = std if logger is None and plain else None

    def emits(self, level: int) -> bool:
        """Whether an event at ``level`` would reach a handler (or the custom logger):
        ``enabled``, and False when only NullHandlers would see it (nothing to build)."""
        return self.audience(level) != NOBODY

    def audience(self, level: int) -> int:
        """``emits(level)`` told apart: ``NOBODY`` (False), ``LAST_RESORT`` (a caller then
        gives ``emit_rendered`` no fields) or ``HANDLERS`` (a custom logger too)."""
        if not self.enabled(level):
            return NOBODY
        return HANDLERS if self._custom is not None else _audience(self._std, level)

    def emit(self, level: int, event: str, **fields: Any) -> None:
        """Emit one event; never raises into the caller."""
        audience = self.audience(level)
        if audience != NOBODY:
            self._send(level, event, fields, _NONE, audience=audience)

    def emit_checked(
        self,
        level: int,
        event: str,
        fields: dict[str, Any],
        clean: frozenset[str],
        quoted: tuple[str, ...] = (),
        audience: int | None = None,
    ) -> None:
        """``emit`` for a caller that asked ``emits(level)`` first, with its fields in a dict.

        Args:
            level: The event's level.
            event: The event's name.
            fields: The event's fields (not copied: their values are replaced by
                their sanitized form).
            clean: Fields that already went through the egress point (``egress`` or
                ``sanitize_message`` with a cap no larger than a log field's) or hold
                the package's own constants: they are not sanitized a second time.
                Every other field is.
            quoted: Fields whose text the clean fields quote as it is (a message
                that names the node): when sanitizing one of them changes it, every
                field is sanitized.
            audience: ``audience(level)``, when the caller asked it (None: asked again).
        """
        for key in quoted:
            value = fields[key]
            if value.__class__ is str and sanitize_message(value, max_length=LOG_TEXT) != value:
                self._send(level, event, fields, _NONE, audience=audience)
                return
        self._send(level, event, fields, clean, quoted, audience)

    def emit_rendered(
        self,
        level: int,
        event: str,
        fields: dict[str, Any] | None,
        tail: str | None,
        audience: int | None = None,
    ) -> None:
        """``emit`` for a caller that asked ``emits(level)`` first and did the rest itself.

        Args:
            level: The event's level.
            event: The event's name (printable).
            fields: The event's fields, every one already through the egress point
                (or a constant of the package's): none is sanitized here. None (with
                a ``tail``) when ``audience(level)`` told ``LAST_RESORT``: unread.
            tail: ``key=value`` pairs of ``fields`` as ``_line`` renders them (None
                values left out, in order), printable (the caller checked it); or None
                to render the line from ``fields`` with control characters escaped.
            audience: ``audience(level)``, when the caller asked it (None: asked again).
        """
        try:
            if fields is None:  # only the last-resort handler sees it (audience)
                print_as_last_resort(f"{event} {tail}")
                return
            custom = self._custom
            if custom is None:
                if tail is None:
                    tail = _line(fields)
                _to_stdlib(self._std, level, event, tail, fields, audience)
            else:
                _to_custom(custom, level, event, fields)
        except Exception:  # a broken user logger must not fail a node
            self._broken(event)

    def _broken(self, event: str) -> None:
        """A user's logger raised while emitting ``event``: noted at debug level."""
        self._std.debug("langgraph_runner: logger raised while emitting %s", event, exc_info=True)

    def _send(
        self,
        level: int,
        event: str,
        fields: dict[str, Any],
        clean: frozenset[str],
        checked: tuple[str, ...] = (),
        audience: int | None = None,
    ) -> None:
        try:
            # The egress point: an event's fields leave for wherever logs go. A plain
            # str takes egress's own text path directly (sanitize_message), one call.
            for key, value in fields.items():
                if value.__class__ in _LOG_PLAIN or key in clean or key in checked:
                    continue
                fields[key] = (
                    sanitize_message(value, max_length=LOG_TEXT)
                    if value.__class__ is str
                    else egress(value, max_length=LOG_TEXT)
                )
            custom = self._custom
            if custom is None:
                if type(event) is not str or not event.isprintable():
                    event = _escape(event)
                _to_stdlib(self._std, level, event, _line(fields), fields, audience)
            else:
                _to_custom(custom, level, event, fields)
        except Exception:  # a broken user logger must not fail a node
            self._broken(event)


def _to_custom(custom: Any, level: int, event: str, fields: dict[str, Any]) -> None:
    """Send an event to a user's structlog-style logger, by its level's method."""
    method = _METHODS.get(level) or logging.getLevelName(level).lower()
    getattr(custom, method)(event, **fields)


_NONE: frozenset[str] = frozenset()


# No NullHandler on purpose: with no handler anywhere, Python's "last resort" handler
# prints WARNING+ to stderr, so a recorded failure is visible in an unconfigured app.
_DEFAULT = EventLogger()


def get_event_logger(logger: SupportsEvents | None = None) -> EventLogger:
    """The shared default event logger, or one that sends to ``logger``."""
    return _DEFAULT if logger is None else EventLogger(logger)


def add_event_fields(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the fields of a ``langgraph_runner`` event as event-dict keys.

    Put it in the ``foreign_pre_chain`` of a ``structlog.stdlib.ProcessorFormatter``
    (after ``structlog.stdlib.ExtraAdder`` if the chain has one): a record the package
    logged then has ``event`` set to the event's name (``"node.failed"``) instead of its
    one-line message, and each of its sanitized fields (``node``, ``attempt``, ``code``,
    ...) as its own key. Other records pass unchanged. ``configure_logging`` uses it.

    Args:
        logger: The wrapped logger (unused).
        method_name: The level's method name (unused).
        event_dict: The event dict ``ProcessorFormatter`` made for a stdlib record
            (it holds the record as ``_record``).

    Returns:
        The same event dict.
    """
    fields = getattr(event_dict.get("_record"), _FIELDS_ATTR, None)
    if fields is not None:
        event_dict.pop(_FIELDS_ATTR, None)  # put there by an ExtraAdder
        event_dict.update(fields)
    return event_dict


def _time_and_level(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``timestamp`` (when the record was made, ISO 8601 in UTC) and ``level``, first."""
    ts = datetime.fromtimestamp(event_dict["_record"].created, tz=timezone.utc).isoformat()
    return {"timestamp": ts, "level": method_name, **event_dict}


def _without_exc_info(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """No traceback: its messages and source lines are not sanitized (we log types)."""
    event_dict.pop("exc_info", None)
    event_dict.pop("stack_info", None)
    return event_dict


def _printable(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> dict[str, str]:
    """Keys and values as printable text, None left out: one event stays one line."""
    return {
        k if k.__class__ is str and k.isprintable() else _escape(k): (
            v if v.__class__ is str and v.isprintable() else _escape(v)
        )
        for k, v in event_dict.items()
        if v is not None
    }


def _formatter(*, as_json: bool) -> logging.Formatter:
    """A ``structlog.stdlib.ProcessorFormatter`` for the package's events (imports structlog)."""
    import structlog
    from structlog.dev import Column, ConsoleRenderer

    renderer: list[Any]
    if as_json:
        renderer = [structlog.processors.JSONRenderer(default=str)]
    else:
        # timestamp, [level] padded to 7, the event padded to 16, then key=value pairs; the
        # text is printable already, so plain functions (no StringIO per pair) render it
        columns = [
            Column("timestamp", lambda key, value: str(value)),
            Column("level", lambda key, value: f"[{value!s:<7}]"),
            Column("event", lambda key, value: f"{value!s:<16}"),
            Column("", lambda key, value: f"{key}={value!s}"),
        ]
        renderer = [_printable, ConsoleRenderer(columns=columns, sort_keys=False)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[add_event_fields, _time_and_level],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _without_exc_info,
            *renderer,
        ],
    )


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marker type so configure_logging can replace its own handler and nothing else."""


def configure_logging(
    level: int | str = "INFO", *, json: bool = False, stream: IO[str] | None = None
) -> logging.Logger:
    """Render langgraph_runner's events (opt-in), with structlog's processors.

    Attaches one handler to the ``langgraph_runner`` stdlib logger (replacing
    one a previous call attached) and stops propagation to the root logger, so
    events are not printed twice. Its formatter is a
    ``structlog.stdlib.ProcessorFormatter``: ``add_event_fields`` turns each event
    into a structlog event dict, then ``JSONRenderer`` or ``ConsoleRenderer``
    writes it. Does not call ``structlog.configure``, so an application's own
    structlog setup stays as it is.

    Args:
        level: Minimum level, as a number or a name such as ``"DEBUG"``.
        json: One JSON object per line instead of the console format.
        stream: Where to write; stderr by default.

    Returns:
        The configured ``langgraph_runner`` logger.

    Raises:
        ValueError: If ``level`` is not a known level name.
    """
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ValueError(f"configure_logging: unknown level {level!r}")
        level = resolved
    std = logging.getLogger(LOGGER_NAME)
    for handler in list(std.handlers):
        if isinstance(handler, _OurHandler):
            std.removeHandler(handler)
    handler = _OurHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_formatter(as_json=json))
    std.addHandler(handler)
    std.setLevel(level)
    std.propagate = False
    return std
