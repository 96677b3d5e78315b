"""Error records, codes, categories and the package's exception tree.

Exception tree (everything we raise derives from ``LangGraphRunnerError``)::

    Exception
    ├── LangGraphRunnerError
    │   ├── StateSchemaError        graph state lacks the errors/routing_flags channels
    │   ├── FailureLoopError        a node failed N times in a row in one run (loop guard)
    │   ├── NodeAbortedError        the run's abort signal fired (never retried)
    │   ├── CircuitOpenError        a circuit breaker rejected the call (never retried)
    │   ├── ThreadBusyError         another run holds the thread's lock (one writer per thread)
    │   ├── RateLimitedError        a rate limit refused the call (fail-fast, or no slot in time)
    │   ├── BudgetExceededError     a run, thread or tenant budget is spent (never retried)
    │   └── NodeTimeoutError        also a ``langgraph.errors.NodeTimeoutError`` (retryable)
    └── langgraph.errors.NodeTimeoutError
        └── NodeTimeoutError

``NodeError`` is the *record* of a terminal node failure that is written into
``GraphState["errors"]`` as plain JSON data. It shares its name with
``langgraph.errors.NodeError`` (the dataclass LangGraph injects into an
``error_handler``); import ours from ``langgraph_runner`` and LangGraph's from
``langgraph.errors`` when a module needs both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from langgraph_runner._internal.restore import restore

__all__ = [
    "BudgetExceededError",
    "CircuitOpenError",
    "ErrorCategory",
    "ErrorCode",
    "FailureLoopError",
    "LangGraphRunnerError",
    "NodeAbortedError",
    "NodeError",
    "NodeTimeoutError",
    "RateLimitedError",
    "StateSchemaError",
    "ThreadBusyError",
]


class ErrorCategory(str, enum.Enum):
    """Coarse failure category, used by records, logs and metrics."""

    TIMEOUT = "timeout"
    NETWORK = "network"
    RATE_LIMIT = "rate_limit"
    VALIDATION = "validation"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


_TEMPLATES: dict[str, str] = {
    "RETRY_EXHAUSTED": "Node '{node}' failed after {attempts} attempt(s): {error}",
    "NON_RETRYABLE": (
        "Node '{node}' failed with a non-retryable error on attempt {attempts}: {error}"
    ),
    "VALIDATION_FAILED": "Node '{node}' failed validation on attempt {attempts}: {error}",
    "NODE_TIMEOUT": "Node '{node}' timed out after {attempts} attempt(s): {error}",
    "CIRCUIT_OPEN": (
        "Node '{node}' was rejected by an open circuit breaker on attempt {attempts}: {error}"
    ),
    "NODE_ABORTED": "Node '{node}' was aborted on attempt {attempts}: {error}",
    "RATE_LIMITED": "Node '{node}' was refused by a rate limit on attempt {attempts}: {error}",
    "BUDGET_EXHAUSTED": (
        "Node '{node}' was stopped by a spent budget on attempt {attempts}: {error}"
    ),
}


class ErrorCode(str, enum.Enum):
    """Why a node failed terminally. Each code carries a message template."""

    RETRY_EXHAUSTED = "RETRY_EXHAUSTED"
    """A retryable error outlasted the attempts (also when only one was allowed)."""
    NON_RETRYABLE = "NON_RETRYABLE"
    """The error is not retryable (a programming error, an HTTP 4xx, ...)."""
    VALIDATION_FAILED = "VALIDATION_FAILED"
    """A pydantic ``ValidationError``."""
    NODE_TIMEOUT = "NODE_TIMEOUT"
    """The attempt timeout or the call's deadline ran out."""
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    """A circuit breaker rejected the call without running the node."""
    NODE_ABORTED = "NODE_ABORTED"
    """The run's abort signal fired."""
    RATE_LIMITED = "RATE_LIMITED"
    """A rate limit refused the call (fail-fast, or no slot before the deadline)."""
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    """A run, thread or tenant budget was spent before the call."""

    def __str__(self) -> str:
        return self.value

    @property
    def template(self) -> str:
        """The message template, with ``{node}``, ``{attempts}`` and ``{error}`` fields."""
        return _TEMPLATES[self._value_]

    def render(self, *, node: str, attempts: int, error: str) -> str:
        """Render this code's message template."""
        return self.template.format(node=node, attempts=attempts, error=error)


class NodeError(BaseModel):
    """A JSON-safe record of a terminal node failure, as stored in ``GraphState["errors"]``.

    State holds ``record.model_dump(mode="json")``; ``NodeError.model_validate(d)``
    turns it back into a model. Messages and stacks are already sanitized.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    node: str
    code: ErrorCode
    message: str
    error_type: str
    category: ErrorCategory
    recoverable: bool
    attempts: int = Field(ge=0)
    timestamp: str
    duration_ms: float = Field(ge=0)
    stack: str | None = None
    trace_id: str | None = None
    graph_execution_id: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    recovered: bool = False

    @field_validator("timestamp")
    @classmethod
    def _iso_timestamp(cls, value: str) -> str:
        # fromisoformat() only reads a trailing "Z" from Python 3.11 on.
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if parsed.utcoffset() != timedelta(0):
            raise ValueError("timestamp must be ISO-8601 in UTC (offset +00:00 or Z)")
        return value

    def to_state(self) -> dict[str, Any]:
        """Plain JSON data, as written into state."""
        return _to_state(self)


# A terminal failure builds one record and writes it to state; pydantic's constructor
# and serializer were a third of that path's cost. The fields are all plain values or
# our str enums, so both can be done by hand: checked once here against pydantic, and
# pydantic's own are used should a release ever set models up differently.
_NODE_ERROR_FIELDS = tuple(NodeError.model_fields)
_PLAIN = frozenset((str, int, float, bool, type(None)))


def _restore_error(fields: dict[str, Any]) -> NodeError:
    # What model_construct ends with (and unpickling does): the values become __dict__.
    return restore(NodeError, fields, fields)


def _json_fields(record: NodeError) -> dict[str, Any]:
    if type(record) is not NodeError:
        return record.model_dump(mode="json")
    out = {}
    for key, value in record.__dict__.items():
        if type(value) in _PLAIN:
            out[key] = value
        elif isinstance(value, enum.Enum):
            out[key] = value.value
        else:
            return record.model_dump(mode="json")
    return out


def _construct(fields: dict[str, Any]) -> NodeError:
    return NodeError.model_construct(**fields)


def _dump_json(record: NodeError) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _pick() -> tuple[Callable[[dict[str, Any]], NodeError], Callable[[NodeError], dict[str, Any]]]:
    probe = {
        "node": "n",
        "code": ErrorCode.RETRY_EXHAUSTED,
        "message": "m",
        "error_type": "ValueError",
        "category": ErrorCategory.NETWORK,
        "recoverable": True,
        "attempts": 2,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "duration_ms": 1.5,
        "stack": None,
        "trace_id": "t",
        "graph_execution_id": None,
        "retry_after": None,
        "recovered": False,
    }
    validated = NodeError.model_validate(probe)
    try:
        built = _restore_error(dict(probe))
        same = (
            tuple(probe) == _NODE_ERROR_FIELDS
            and built == validated
            and built.model_fields_set == validated.model_fields_set
            and _json_fields(built) == validated.model_dump(mode="json")
            and _json_fields(validated) == validated.model_dump(mode="json")
            and list(_json_fields(built)) == list(validated.model_dump(mode="json"))
        )
    except Exception:  # any surprise means: let pydantic do it
        same = False
    if same:
        return _restore_error, _json_fields
    return _construct, _dump_json


error_from_fields, _to_state = _pick()
"""``error_from_fields(fields)``: a ``NodeError`` from every field, in declaration order,
already well-typed (no validation, like ``model_construct``); ``fields`` becomes its
``__dict__``, so do not reuse it."""


def _restore_exception(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class LangGraphRunnerError(Exception):
    """Base class for every exception langgraph_runner raises itself."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The default re-calls __init__ with self.args (the message), which breaks on
        # our keyword-only constructors: pickle, copy and process pools would fail.
        return (_restore_exception, (type(self), self.args, dict(self.__dict__)))


class StateSchemaError(LangGraphRunnerError, TypeError):
    """The graph's state cannot hold what a wrapped node must record.

    Raised instead of letting LangGraph silently drop an error record because the
    state schema lacks the ``errors``/``routing_flags`` channels.
    """

    def __init__(self, node: str, missing: tuple[str, ...]) -> None:
        self.node = node
        self.missing = missing
        super().__init__(
            f"Node '{node}' failed and wants to record the failure, but the graph state has no "
            f"{', '.join(repr(m) for m in missing)} channel(s): LangGraph would drop the record "
            "silently. Build the graph on a state that subclasses langgraph_runner.GraphState "
            "(or declares the same reducer channels), or pass on_error='raise'."
        )


class FailureLoopError(LangGraphRunnerError, RuntimeError):
    """The same node failed terminally N times in a row in one run: the run stops.

    Raised by a wrapped node in ``on_error="record"`` mode instead of recording its
    ``max_consecutive_failures``-th failure in a row, so an agent loop around a node
    that keeps failing ends long before the recursion limit. The earlier records
    stay in the checkpoint; the last one is ``record``. Never retried, and a wrapped
    node around a subgraph lets it through rather than recording it, so the whole
    run stops.

    Attributes:
        node: The node's name.
        failures: Consecutive terminal failures counted, this one included.
        limit: The node's ``max_consecutive_failures``.
        record: The sanitized record of the last failure.
    """

    def __init__(self, *, record: NodeError, failures: int, limit: int) -> None:
        self.node = record.node
        self.failures = failures
        self.limit = limit
        self.record = record
        super().__init__(
            f"Node '{record.node}' failed {failures} times in a row in this run with no "
            f"success between (max_consecutive_failures={limit}); stopping the run. "
            f"Last failure: {record.message}"
        )


class NodeTimeoutError(LangGraphRunnerError, _LGNodeTimeoutError):
    """A node attempt exceeded its timeout, or the call exceeded its deadline.

    Subclasses ``langgraph.errors.NodeTimeoutError`` so LangGraph's RetryPolicy
    and error handlers treat it like a native timeout. Retryable.

    Attributes:
        node: The node's name.
        timeout: The limit that fired, in seconds.
        elapsed: Seconds the attempt (or call) had run.
        attempt: The 1-based attempt number.
        kind: ``"run"`` for an attempt's run limit, ``"idle"`` for its idle limit (no
            progress signal for that long), ``"deadline"`` for the call deadline.
    """

    def __init__(
        self,
        node: str,
        *,
        timeout: float,
        elapsed: float,
        attempt: int = 1,
        kind: Literal["run", "idle", "deadline"] = "run",
    ) -> None:
        if kind == "idle":
            _LGNodeTimeoutError.__init__(self, node, elapsed, kind="idle", idle_timeout=timeout)
        else:
            _LGNodeTimeoutError.__init__(self, node, elapsed, kind="run", run_timeout=timeout)
        self.attempt = attempt
        self.kind = kind  # type: ignore[assignment]
        what = {"deadline": "deadline", "idle": "idle timeout"}.get(kind, "timeout")
        progress = " without making progress" if kind == "idle" else ""
        self.args = (
            f"Node '{node}' exceeded its {what} of {timeout:.3f}s{progress} on attempt "
            f"{attempt} (elapsed: {elapsed:.3f}s).",
        )

    def __str__(self) -> str:
        return str(self.args[0])


class NodeAbortedError(LangGraphRunnerError):
    """The run's abort signal fired before or during a node attempt. Never retried.

    Attributes:
        node: The node's name.
        reason: The reason given to ``AbortController.abort`` (sanitized when recorded).
        attempt: The 1-based attempt during which the abort was observed.
    """

    def __init__(self, node: str, reason: Any = None, *, attempt: int = 1) -> None:
        self.node = node
        self.reason = reason
        self.attempt = attempt
        detail = f": {reason}" if reason is not None else ""
        super().__init__(f"Node '{node}' was aborted on attempt {attempt}{detail}")


class CircuitOpenError(LangGraphRunnerError):
    """A circuit breaker rejected a call without running it. Never retried.

    Attributes:
        breaker: The breaker's name (its key for shared breakers).
        retry_after: Seconds until the breaker lets a probe through.
        node: The node that was rejected, when known.
    """

    def __init__(self, breaker: str, retry_after: float, *, node: str | None = None) -> None:
        self.breaker = breaker
        self.retry_after = max(0.0, retry_after)
        self.node = node
        super().__init__(
            f"Circuit '{breaker}' is open; retry after {self.retry_after:.3f}s"
            + (f" (node '{node}')" if node else "")
        )


class ThreadBusyError(LangGraphRunnerError, RuntimeError):
    """Another run holds the thread's lock: a second writer would repeat its nodes.

    Raised by ``thread_lock`` (and so by ``run``/``arun``) when the thread is being
    run by another process, or by another run in this process, and the lock did not
    come free within the wait allowed. Nothing of the thread ran.

    Attributes:
        thread_id: The busy thread's id.
        checkpoint_ns: Its checkpoint namespace (``""`` for a root graph).
        waited: Seconds waited for the lock before giving up (0 when not waiting).
    """

    def __init__(self, thread_id: str, *, checkpoint_ns: str = "", waited: float = 0.0) -> None:
        self.thread_id = thread_id
        self.checkpoint_ns = checkpoint_ns
        self.waited = waited
        shown = thread_id if len(thread_id) <= 120 else thread_id[:120] + "..."
        ns = f" (checkpoint namespace {checkpoint_ns!r})" if checkpoint_ns else ""
        held = f"still held after waiting {waited:.3f}s" if waited > 0 else "held"
        super().__init__(
            f"Thread {shown!r}{ns} is being run by another process (or another run in this "
            f"process): its lock is {held}, and a second writer would run its remaining nodes "
            "again. Let that run finish, then resume the thread; or pass lock_wait=<seconds> "
            "to run()/arun() (wait= to thread_lock()) to wait for it; or use another thread_id."
        )


class RateLimitedError(LangGraphRunnerError):
    """A rate limit refused a call: fail-fast mode, or no slot before the deadline. Never retried.

    Attributes:
        limit: The limit's key (shared by every node and process that names it).
        retry_after: Seconds until a slot is expected to be free.
        node: The node that was refused, when known.
        reason: Why: ``"rate limit"``, ``"blocked"`` (a 429 or Retry-After told
            every worker to hold off) or ``"store unreachable"`` (Redis down and
            the limit fails closed).
    """

    def __init__(
        self,
        limit: str,
        retry_after: float,
        *,
        node: str | None = None,
        reason: str = "rate limit",
    ) -> None:
        self.limit = limit
        self.retry_after = max(0.0, retry_after)
        self.node = node
        self.reason = reason
        super().__init__(
            f"Rate limit '{limit}' refused the call ({reason}); retry after "
            f"{self.retry_after:.3f}s" + (f" (node '{node}')" if node else "")
        )


class BudgetExceededError(LangGraphRunnerError):
    """A budget (per run, thread or tenant) is spent: the call was not made. Never retried.

    Attributes:
        budget: The budget's name.
        scope: ``"run"``, ``"thread"`` or ``"tenant"``.
        scope_id: The run, thread or tenant it was counted for.
        spent: What was spent, ``{"tokens": ..., "cost": ..., "calls": ...}``.
        limits: The budget's limits, same keys (None for no limit).
        exhausted: The first unit found spent (``"tokens"``, ``"cost"`` or ``"calls"``).
        node: The node that was stopped, when known.
    """

    def __init__(
        self,
        budget: str,
        *,
        scope: str,
        scope_id: str,
        spent: dict[str, float],
        limits: dict[str, float | None],
        exhausted: str,
        node: str | None = None,
    ) -> None:
        self.budget = budget
        self.scope = scope
        self.scope_id = scope_id
        self.spent = spent
        self.limits = limits
        self.exhausted = exhausted
        self.node = node
        super().__init__(
            f"Budget '{budget}' ({scope}) is spent: {exhausted} {spent.get(exhausted, 0):g} "
            f"of {limits.get(exhausted)}" + (f" (node '{node}')" if node else "")
        )
