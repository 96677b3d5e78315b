"""Structured events for wrapped nodes, quiet by default.

A library must not write to stdout/stderr on its own. Events are built with
structlog and handed to the stdlib logger ``langgraph_runner``: with no handler
configured they go wherever the application sends stdlib logs (nowhere, by
default, for INFO). ``configure_logging()`` opts into rendering them (console or
JSON) on that one logger, without touching ``structlog.configure`` or the root
logger, so an application's own structlog setup stays as it is.

Events: ``node.started``, ``node.retrying``, ``node.succeeded``, ``node.failed``
(and, with the resilience features, ``node.timeout``, ``node.aborted``,
``node.fallback``, ``circuit.*``, ``node.cache_hit``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import IO, Any, Protocol

import structlog

__all__ = ["LOGGER_NAME", "EventLogger", "SupportsEvents", "configure_logging", "get_event_logger"]

LOGGER_NAME = "langgraph_runner"
_FIELDS_ATTR = "lgr_fields"


class SupportsEvents(Protocol):
    """What a user-supplied ``logger=`` needs: structlog-style level methods."""

    def debug(self, event: str, **kw: Any) -> Any: ...
    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...
    def error(self, event: str, **kw: Any) -> Any: ...


def _to_stdlib(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    event = str(event_dict.pop("event", ""))
    fields = dict(event_dict)
    tail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return {
        "msg": f"{event} {tail}" if tail else event,
        "extra": {_FIELDS_ATTR: {"event": event, **fields}},
    }


def _always(level: int) -> bool:
    return True


class EventLogger:
    """Emits the package's events; the cheap level check happens before any work.

    Args:
        logger: A structlog-style logger to send events to instead of the stdlib
            ``langgraph_runner`` logger. Its own filtering applies.
    """

    __slots__ = ("_custom", "_std", "_structlog", "enabled")

    enabled: Callable[[int], bool]
    """Whether an event at a level would be emitted (always True for a custom logger).

    Checked on every node call, so it is the stdlib ``Logger.isEnabledFor`` itself
    (one call, its level cache included) rather than a method that calls it.
    """

    def __init__(self, logger: SupportsEvents | None = None) -> None:
        self._std = logging.getLogger(LOGGER_NAME)
        self._custom = logger
        self.enabled = self._std.isEnabledFor if logger is None else _always
        self._structlog: Any = (
            logger
            if logger is not None
            else structlog.wrap_logger(
                self._std,
                processors=[_to_stdlib],
                wrapper_class=structlog.stdlib.BoundLogger,
                cache_logger_on_first_use=True,
            )
        )

    def emit(self, level: int, event: str, **fields: Any) -> None:
        """Emit one event; never raises into the caller."""
        if not self.enabled(level):
            return
        method = logging.getLevelName(level).lower()
        try:
            getattr(self._structlog, method)(event, **fields)
        except Exception:  # a broken user logger must not fail a node
            self._std.debug(
                "langgraph_runner: logger raised while emitting %s", event, exc_info=True
            )


# The standard library-author move: with no handler anywhere, Python's "last resort"
# handler would print our warnings to stderr. A NullHandler keeps us silent by default.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())
_DEFAULT = EventLogger()


def get_event_logger(logger: SupportsEvents | None = None) -> EventLogger:
    """The shared default event logger, or one that sends to ``logger``."""
    return _DEFAULT if logger is None else EventLogger(logger)


class _Formatter(logging.Formatter):
    def __init__(self, *, as_json: bool) -> None:
        super().__init__()
        self._json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, _FIELDS_ATTR, None) or {})
        event = fields.pop("event", None) or record.getMessage()
        ts = datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat()
        if self._json:
            payload = {"timestamp": ts, "level": record.levelname.lower(), "event": event, **fields}
            return json.dumps(payload, default=str)
        kv = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return f"{ts} [{record.levelname.lower():<7}] {event:<16} {kv}".rstrip()


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marker type so configure_logging can replace its own handler and nothing else."""


def configure_logging(
    level: int | str = "INFO", *, json: bool = False, stream: IO[str] | None = None
) -> logging.Logger:
    """Render langgraph_runner's events (opt-in).

    Attaches one handler to the ``langgraph_runner`` stdlib logger (replacing
    one a previous call attached) and stops propagation to the root logger, so
    events are not printed twice. Does not call ``structlog.configure``.

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
    handler.setFormatter(_Formatter(as_json=json))
    std.addHandler(handler)
    std.setLevel(level)
    std.propagate = False
    return std
