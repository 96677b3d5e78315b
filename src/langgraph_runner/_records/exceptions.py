"""Every exception the package defines, in one tree.

Exception tree (what a user may catch derives from ``LangGraphRunnerError``)::

    Exception
    ├── LangGraphRunnerError          raised by langgraph_runner itself
    │   ├── StateSchemaError          (also TypeError) state lacks errors/routing_flags channels
    │   ├── FailureLoopError          (also RuntimeError) a node failed N times in a row in a run
    │   ├── NodeTimeoutError          (also LangGraph's) an attempt's limit or the deadline ran out
    │   ├── NodeAbortedError          the run's abort signal fired (never retried)
    │   ├── CircuitOpenError          a circuit breaker rejected the call (never retried)
    │   ├── RateLimitedError          a rate limit refused the call (never retried)
    │   │   └── LimitStoreUnavailableError  the limit store is unreachable and fails closed
    │   ├── BudgetExceededError       a run, thread or tenant budget is spent (never retried)
    │   ├── ThreadBusyError           (also RuntimeError) another run holds the thread's lock
    │   ├── ThreadNotFoundError       (also LookupError) no checkpoint for the thread
    │   ├── DatabaseUnavailableError  (also ConnectionError) the runs database stayed unreachable
    │   ├── RunNotCompletedError      a rebuild's base run did not complete
    │   ├── StepFailedError           a step of a run failed and the run stopped
    │   ├── SweepError                the testing kit's fault sweep could not run the graph
    │   ├── WorkflowCycleError        (also ValueError) a workflow declared as a DAG has a cycle
    │   └── Unauthenticated           the runs service was given no credential it accepts (401)
    ├── langgraph.errors.NodeTimeoutError
    │   └── NodeTimeoutError          (so LangGraph's RetryPolicy and handlers see a timeout)
    └── internal: caught inside the package, never raised to a caller
        ├── Unhashable                a value has no canonical form (cache keys, fingerprints)
        ├── BackendTimeout            (also TimeoutError) a cache backend did not answer in time
        ├── Rejected                  a cache entry failed signature verification
        ├── CommandError              the CLI was given a bad command line: exit code 2
        ├── FollowTimeoutError        ``report --follow --timeout`` ran out: exit code 1
        ├── HangNotStopped            a sweep's planned hang that no timeout stopped
        ├── RequestRefused            the runs service answers a request with an HTTP error
        └── ThreadInUse               the run queue refused a run: its thread has runs not ended

Each error carries its context as attributes (node, attempt, elapsed, thread id ...)
and pickles with them (``LangGraphRunnerError.__reduce__``). The public ones are
exported by ``langgraph_runner``; the modules that raise them (``_reports.report``,
``_rebuild.history``, ``_runs.lifecycle``, the CLI and cache modules) import them from here.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.errors import NodeTimeoutError as _LGNodeTimeoutError

from langgraph_runner._records.record import NodeError

__all__ = [
    "BackendTimeout",
    "BudgetExceededError",
    "CircuitOpenError",
    "CommandError",
    "DatabaseUnavailableError",
    "FailureLoopError",
    "FollowTimeoutError",
    "HangNotStopped",
    "LangGraphRunnerError",
    "LimitStoreUnavailableError",
    "NodeAbortedError",
    "NodeTimeoutError",
    "RateLimitedError",
    "RequestRefused",
    "Rejected",
    "RunNotCompletedError",
    "StateSchemaError",
    "StepFailedError",
    "SweepError",
    "ThreadBusyError",
    "ThreadInUse",
    "ThreadNotFoundError",
    "Unauthenticated",
    "Unhashable",
    "WorkflowCycleError",
]


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

    Attributes:
        node: The node that failed.
        missing: The channels the state lacks.
        cause: The node's own error, redacted (``Type: message``), or None. The message
            names it first: a checkpoint keeps only the text of the error a task raised,
            so a report of the step (its ``cause``) shows what went wrong in the node.
    """

    def __init__(self, node: str, missing: tuple[str, ...], cause: str | None = None) -> None:
        self.node = node
        self.missing = missing
        self.cause = cause
        failed = f"Node '{node}' failed ({cause})" if cause else f"Node '{node}' failed"
        super().__init__(
            f"{failed} and wants to record the failure, but the graph state has no "
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


class LimitStoreUnavailableError(RateLimitedError):
    """A rate limit's or a budget's shared store cannot answer and fails closed
    (``on_unavailable="closed"``): the call was refused, not because a limit was
    reached. Never retried; record code ``LIMIT_STORE_UNAVAILABLE``.

    Attributes:
        limit: The rate limit's key or the budget's name.
        retry_after: Seconds until the store is tried again.
        node: The node that was refused, when known.
        reason: ``"store unreachable"``.
        kind: ``"rate limit"`` or ``"budget"``.
    """

    def __init__(
        self,
        limit: str,
        retry_after: float,
        *,
        node: str | None = None,
        reason: str = "store unreachable",
        kind: str = "rate limit",
    ) -> None:
        self.kind = kind
        super().__init__(limit, retry_after, node=node, reason=reason)
        self.args = (
            f"The store of {kind} '{limit}' is unavailable and fails closed: the call was "
            f"refused; retry after {self.retry_after:.3f}s" + (f" (node '{node}')" if node else ""),
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
        raise_run: Whether the budget ends the run (``on_exhausted="raise"``) rather
            than being recorded.
    """

    raise_run: bool = False

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


class ThreadNotFoundError(LangGraphRunnerError, LookupError):
    """The checkpointer holds no checkpoint for the requested thread."""


class DatabaseUnavailableError(LangGraphRunnerError, ConnectionError):
    """The database could not be reached (after retries): names it, never its password.

    Attributes:
        database: ``postgres:host:port/dbname`` or ``sqlite:path``.
    """

    def __init__(self, database: str, message: str) -> None:
        super().__init__(f"{database}: {message}")
        self.database = database


class RunNotCompletedError(LangGraphRunnerError):
    """The base run of a rebuild did not complete (still pending, failed or interrupted).

    Attributes:
        thread_id: The base run's thread.
        reason: What is unfinished about it.
    """

    def __init__(self, thread_id: str, reason: str) -> None:
        self.thread_id = thread_id
        self.reason = reason
        super().__init__(
            f"cannot rebuild from thread {thread_id!r}: its run is not completed ({reason})"
        )


class StepFailedError(LangGraphRunnerError):
    """A step of a run ended failed and the run stopped (``on_step_failure="stop"``).

    Attributes:
        node: The step (node) that failed.
        cause: Its redacted cause (from its error record), or None.
    """

    def __init__(self, node: str, cause: str | None) -> None:
        self.node = node
        self.cause = cause
        super().__init__(f"step {node!r} failed" + (f": {cause}" if cause else ""))


# --------------------------------------------------------------------------- internal


class Unhashable(Exception):
    """A value with no canonical form; ``path`` locates it, innermost first."""

    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value
        self.path: list[str] = []  # innermost first


class BackendTimeout(TimeoutError):
    """A cache backend did not answer within ``NodeCache.backend_timeout``."""


class Rejected(Exception):
    """A cache entry that failed verification; the message says why (no entry content)."""


class CommandError(Exception):
    """A problem with what the user typed on the command line: exit code 2, no traceback."""


class FollowTimeoutError(Exception):
    """The run was still going when the ``--follow`` time limit ran out: exit code 1."""


class SweepError(LangGraphRunnerError):
    """The fault sweep could not run: the graph fails without a fault, or does not repeat itself."""


class HangNotStopped(Exception):
    """A planned hang that no timeout stopped (the sweep reports the point as hung)."""


class WorkflowCycleError(LangGraphRunnerError, ValueError):
    """A workflow declared as a DAG has a cycle.

    Attributes:
        workflow: The workflow's name.
        cycle: The nodes of one cycle, the first repeated at the end (``a -> b -> a``).
    """

    def __init__(self, workflow: str, cycle: list[str]) -> None:
        self.workflow = workflow
        self.cycle = cycle
        super().__init__(
            f"require_dag: workflow {workflow!r} is not a DAG: it has the cycle "
            f"{' -> '.join(cycle)}"
        )


class Unauthenticated(LangGraphRunnerError):
    """The request carries no credential the runs service accepts (answered with 401).

    Attributes:
        field: The header (or field) that should have carried the credential.
    """

    def __init__(self, message: str, *, field: str = "X-API-Key") -> None:
        super().__init__(message)
        self.field = field


class RequestRefused(Exception):
    """The runs service answers a request with an HTTP error (status, detail, field)."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


class ThreadInUse(Exception):
    """The run queue refused to queue a run (``multitask_strategy=reject``): its thread has
    runs not ended (queued or running).

    Attributes:
        thread_id: The thread as stored (a tenant's own).
        run_id: The thread's oldest run not ended, if one was still there when looked up.
        status: Its queue status (``queued`` or ``claimed``), or None.
    """

    def __init__(self, thread_id: str, run_id: str | None, status: str | None) -> None:
        super().__init__(f"thread {thread_id!r} has runs not ended")
        self.thread_id, self.run_id, self.status = thread_id, run_id, status
