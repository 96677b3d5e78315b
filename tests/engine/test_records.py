"""redact_exception: what leaves a raise-mode node has no secret, and keeps type and chain."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import json
import logging
import sys
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.callbacks import BaseCallbackHandler
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import (
    CircuitOpenError,
    GraphState,
    NodeAbortedError,
    NodeError,
    NodeTimeoutError,
    RetryConfig,
    create_node,
)
from langgraph_runner._engine.call import Call
from langgraph_runner._engine.finish import Failure
from langgraph_runner._engine.records import (
    add_note,
    code_and_category,
    iso_utc,
    log_failed,
    record_message,
    redact_exception,
)
from langgraph_runner._engine.spec import NodeSpec
from langgraph_runner._records.logs import LAST_RESORT, LOGGER_NAME, get_event_logger
from langgraph_runner._records.redact_exc import ARG_MAX, _redact_one, _redact_plain
from langgraph_runner._records.sanitize import sanitize_message
from tests import services
from tests.conftest import SqliteConnect

SECRET = "hunter2-" + uuid.uuid4().hex[:12]
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" + uuid.uuid4().hex[:16]


class S(GraphState, total=False):
    x: int


class UpstreamError(Exception):
    """A client-library error whose text is built from attributes."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(status)
        self.url = url
        self.status = status

    def __str__(self) -> str:
        return f"{self.status} from {self.url}"


def _dict_args() -> BaseException:
    return ValueError({"user": "bob", "password": SECRET, "nested": [{"api_key": TOKEN}]})


def _bytes_args() -> BaseException:
    return RuntimeError(b"header Authorization: Bearer " + TOKEN.encode(), f"pwd={SECRET}")


def _chained() -> BaseException:
    try:
        try:
            raise KeyError(f"token={TOKEN}")
        except KeyError as inner:
            raise OSError(f"connect postgresql://app:{SECRET}@db/prod") from inner
    except OSError as middle:
        try:
            raise LookupError("lookup failed") from middle
        except LookupError as outer:
            return outer
    raise AssertionError("unreachable")


def _implicit_context() -> BaseException:
    try:
        try:
            raise ValueError(f"password={SECRET}")
        except ValueError:
            raise TypeError("while handling")  # noqa: B904 - the implicit __context__ is the point
    except TypeError as exc:
        return exc
    raise AssertionError("unreachable")


def _with_notes() -> BaseException:
    exc = ConnectionError("upstream down")
    add_note(exc, f"retrying with client_secret={SECRET}")
    add_note(exc, f"token {TOKEN}")
    return exc


def _attribute_str() -> BaseException:
    return UpstreamError(f"https://api.example.com/v1?token={SECRET}&x=1 key {TOKEN}", 503)


def _task_group() -> BaseException:
    async def fail(message: str) -> None:
        raise ConnectionError(message)

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(fail(f"password={SECRET}"))
            tg.create_task(fail(f"Authorization: token {TOKEN}"))

    try:
        asyncio.run(main())
    except builtins.BaseExceptionGroup as group:
        return group
    raise AssertionError("unreachable")


def _group_message() -> BaseException:
    return builtins.ExceptionGroup(f"batch failed with api_key={SECRET}", [ValueError(TOKEN)])


CASES: dict[str, Callable[[], BaseException]] = {
    "one-text-arg": lambda: ConnectionError(f"upstream rejected token={TOKEN} password={SECRET}"),
    "oserror-filename": lambda: FileNotFoundError(2, "No such file", f"/srv/x?token={TOKEN}"),
    "oserror-strerror": lambda: OSError(5, f"I/O error, password={SECRET}"),
    "dict-args": _dict_args,
    "bytes-args": _bytes_args,
    "cause-chain": _chained,
    "context-chain": _implicit_context,
    "notes": _with_notes,
    "attribute-str": _attribute_str,
}
if sys.version_info >= (3, 11):
    CASES["exception-group-message"] = _group_message
    CASES["taskgroup"] = _task_group


def _shown(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


@pytest.mark.parametrize("make", list(CASES.values()), ids=list(CASES))
def test_redact_exception_leaves_no_secret_in_traceback_or_repr(
    make: Callable[[], BaseException],
) -> None:
    """After redact_exception the traceback text, repr and str show neither secret."""
    exc = make()
    assert SECRET in _shown(exc) or TOKEN in _shown(exc)  # the case really carries one
    redact_exception(exc)
    shown = _shown(exc)
    assert SECRET not in shown
    assert TOKEN not in shown


def test_redact_exception_keeps_type_identity_and_chain() -> None:
    """The same objects, the same types and the same links: except clauses still match."""
    exc = _chained()
    cause = exc.__cause__
    root = cause.__cause__ if cause is not None else None
    redact_exception(exc)
    assert type(exc) is LookupError
    assert exc.__cause__ is cause and isinstance(cause, OSError)
    assert cause.__cause__ is root and isinstance(root, KeyError)
    with pytest.raises(LookupError):
        raise exc


def test_attribute_built_text_keeps_the_class_for_except() -> None:
    """A class whose __str__ shows a secret still matches `except UpstreamError`."""
    exc = _attribute_str()
    redact_exception(exc)
    assert isinstance(exc, UpstreamError)
    assert type(exc).__name__ == "UpstreamError"
    assert exc.status == 503
    assert "[REDACTED]" in str(exc)


def test_opaque_attributes_are_left_for_error_handlers() -> None:
    """A response object on the exception is kept as is (handlers read its status)."""

    class Response:
        status_code = 429

    exc = ValueError(f"password={SECRET}")
    exc.response = Response()  # type: ignore[attr-defined]
    redact_exception(exc)
    assert exc.response.status_code == 429  # type: ignore[attr-defined]


def test_hostile_exceptions_do_not_break_redaction() -> None:
    """__str__/__repr__/args raising anything (even KeyboardInterrupt) never escape."""

    class Hostile(Exception):
        def __str__(self) -> str:
            raise KeyboardInterrupt

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    exc = Hostile(f"password={SECRET}")
    redact_exception(exc)
    assert SECRET not in "".join(traceback.format_exception(exc))
    assert isinstance(exc, Hostile)


def test_cycles_terminate() -> None:
    """An exception chain with a cycle is walked once."""
    a = ValueError(f"token={TOKEN}")
    b = ValueError("b")
    a.__context__ = b
    b.__context__ = a
    redact_exception(a)
    assert TOKEN not in repr(a)


# ---------------------------------------------------------------- real graphs, raise mode


def _graph(make: Callable[[], BaseException], saver: Any) -> Any:
    def node(state: S) -> S:
        raise make()

    builder = StateGraph(S)
    builder.add_node("node", create_node(node, on_error="raise"))
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    return builder.compile(checkpointer=saver)


def _invoke(graph: Any, thread: str) -> str:
    config = {"configurable": {"thread_id": thread}}
    with pytest.raises(Exception) as info:  # noqa: PT011 - each case raises its own type
        graph.invoke({"x": 1}, config)
    return _shown(info.value)


@pytest.mark.parametrize("make", list(CASES.values()), ids=list(CASES))
def test_raise_mode_sqlite_checkpoint_and_traceback_are_clean(
    make: Callable[[], BaseException],
    sqlite_connect: SqliteConnect,
) -> None:
    """SQLite checkpoint bytes and the traceback that leaves invoke hold no secret."""
    conn = sqlite_connect()
    graph = _graph(make, SqliteSaver(conn))
    shown = _invoke(graph, f"t-{uuid.uuid4().hex}")
    stored = b"".join(
        v if isinstance(v, bytes) else str(v).encode()
        for table in ("checkpoints", "writes")
        for row in conn.execute(f"SELECT * FROM {table}")
        for v in row
    ).decode("latin-1")
    assert "__error__" in stored  # LangGraph wrote the error
    for text in (shown, stored):
        assert SECRET not in text
        assert TOKEN not in text


@pytest.mark.parametrize("make", list(CASES.values()), ids=list(CASES))
def test_raise_mode_postgres_checkpoint_writes_are_clean(
    make: Callable[[], BaseException],
) -> None:
    """PostgreSQL checkpoint_writes (where LangGraph stores the error) hold no secret."""
    url = services.postgres_url()
    from langgraph.checkpoint.postgres import PostgresSaver

    thread = f"records-{uuid.uuid4().hex}"
    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
        shown = _invoke(_graph(make, saver), thread)
        with saver._cursor() as cur:
            chunks: list[str] = []
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                cur.execute(f"SELECT * FROM {table} WHERE thread_id = %s", (thread,))
                for row in cur.fetchall():
                    chunks.extend(
                        bytes(v).decode("latin-1")
                        if isinstance(v, (bytes, memoryview))
                        else json.dumps(v, default=str)
                        for v in row.values()
                    )
                cur.execute(f"DELETE FROM {table} WHERE thread_id = %s", (thread,))
    stored = "\n".join(chunks)
    assert "__error__" in stored
    for text in (shown, stored):
        assert SECRET not in text
        assert TOKEN not in text


def test_pydantic_validation_error_is_replaced_by_one_without_inputs() -> None:
    """A ValidationError comes back rebuilt without its inputs; type and cause kept."""
    from pydantic import BaseModel, ValidationError, field_validator

    class Model(BaseModel):
        port: int
        name: str

        @field_validator("name")
        @classmethod
        def _check(cls, value: str) -> str:
            raise ValueError(f"bad name, token={TOKEN}")

    cause = OSError("disk")
    try:
        Model(port=f"password={SECRET}", name="x")  # type: ignore[arg-type]
    except ValidationError as exc:
        exc.__cause__ = cause
        safe = redact_exception(exc)
        try:
            raise safe  # inside the except block: the original must not print as context
        except ValidationError as raised:
            shown = "".join(traceback.format_exception(raised))
    assert type(safe) is ValidationError
    assert safe.__cause__ is cause
    assert len(safe.errors()) == 2
    assert SECRET not in shown and TOKEN not in shown
    assert "int_parsing" in shown


def test_redact_exception_returns_the_same_object_when_it_can() -> None:
    """Ordinary exceptions are redacted in place and returned as they are."""
    exc = ValueError(f"password={SECRET}")
    assert redact_exception(exc) is exc


_PLAIN_TEXT = st.lists(
    st.sampled_from(["password=", SECRET, " ", "Bearer ", TOKEN, "token: ", "x", "\n"]), max_size=6
).map("".join)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    text=st.one_of(_PLAIN_TEXT, st.text(max_size=40)),
    cls=st.sampled_from([ValueError, ConnectionError, RuntimeError, KeyError, Exception]),
)
def test_the_one_text_argument_shortcut_redacts_as_the_full_walk(
    text: str, cls: type[BaseException]
) -> None:
    """An exception with one text argument and nothing else: the shortcut == the full walk."""
    quick, walked = cls(text), cls(text)
    assert _redact_plain(quick)
    _redact_one(walked)
    assert quick.args == walked.args
    assert (str(quick), repr(quick)) == (str(walked), repr(walked))
    assert quick.args == (sanitize_message(text, max_length=ARG_MAX),)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ValueError("a", "b"),
        lambda: ValueError(b"bytes"),
        lambda: FileNotFoundError(2, "No such file", "/tmp/f"),
        lambda: _with_notes(),
        lambda: _chained(),
        lambda: _attribute_str(),
    ],
    ids=["two-args", "bytes", "oserror-filename", "notes", "chain", "own-str"],
)
def test_the_shortcut_leaves_every_other_shape_to_the_full_walk(
    make: Callable[[], BaseException],
) -> None:
    """More than one text argument, notes, a chain or a class's own text: not the shortcut."""
    exc = make()
    before = (exc.args, dict(vars(exc)))
    assert not _redact_plain(exc)
    assert (exc.args, dict(vars(exc))) == before  # and it changed nothing


# --------------------------------------------------------------------------- Failure


def _raised(exc: BaseException) -> BaseException:
    """``exc`` as an except clause sees it: with a traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _failure_shapes() -> list[BaseException]:
    return [
        _raised(ConnectionError(f"reset for api_key={SECRET}")),
        _raised(ValueError("x" * 5000)),  # past what the site memo keeps
        _raised(ValueError("y" * 350)),  # cut for the stack's message
        _raised(_UnprintableError()),
        _raised(CircuitOpenError("shared", 2.5, node="n")),
        _raised(NodeTimeoutError("n", timeout=1.0, elapsed=1.2)),
        _raised(NodeAbortedError("n", "stop")),
        _raised(UpstreamError(f"https://h/?token={TOKEN}", 503)),
        _dict_args(),
        _chained(),
    ]


@pytest.mark.parametrize("exc", _failure_shapes(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("retry", [None, RetryConfig(max_attempts=3, retry_on=(KeyError,))])
def test_a_failures_state_is_its_records_validated_json(
    exc: BaseException, retry: RetryConfig | None
) -> None:
    """state() is the record's to_state(), in field order, and validates back to the record."""
    failure = Failure(exc, "n", 2, 12.5, retry, "trace", "thread")
    state = failure.state()
    optional = ["task_id", "send_node", "send_item", "tenant"]  # a Send task's, a tenant's
    assert list(state) + optional == list(NodeError.model_fields)
    record = failure.record()
    assert record.to_state() == state
    assert NodeError.model_validate(state) == record
    assert json.loads(json.dumps(state)) == state
    assert record.code is code_and_category(exc, retry)[0]
    assert (record.node, record.attempts, record.duration_ms) == ("n", 2, 12.5)
    assert (record.trace_id, record.graph_execution_id) == ("trace", "thread")
    assert SECRET not in json.dumps(state) and TOKEN not in json.dumps(state)
    assert failure.state() is state  # built once
    sent = Failure(exc, "n", 2, 12.5, retry, "trace", "thread")
    sent.send = {"task_id": "t", "send_node": "work", "send_item": '{"n": 1}'}
    assert list(sent.state()) == list(NodeError.model_fields)[:-1]
    assert sent.record().to_state() == sent.state()
    assert NodeError.model_validate(sent.state()) == sent.record()
    owned = Failure(exc, "n", 2, 12.5, retry, "trace", "thread")
    owned.send = {"tenant": "acme"}
    assert owned.record().to_state() == owned.state()
    assert NodeError.model_validate(owned.state()) == owned.record()
    assert owned.record().tenant == "acme"
    assert list(owned.record().model_dump(mode="json")) == list(owned.record().to_state())


def test_the_same_site_failing_again_gets_its_own_node_attempts_and_time() -> None:
    """What is kept per site never leaks one failure's node, attempts or timestamp into another."""

    def fail(text: str) -> BaseException:
        return _raised(ConnectionError(text))

    first = Failure(fail("down"), "a", 1, 1.0, None, "t1", "g").state()
    second = Failure(fail("down"), "b", 3, 2.0, None, "t2", "g").state()
    third = Failure(fail("other text"), "a", 1, 1.0, None, "t3", "g").state()
    assert first["message"] == "Node 'a' failed after 1 attempt(s): ConnectionError: down"
    assert second["message"] == "Node 'b' failed after 3 attempt(s): ConnectionError: down"
    assert third["message"].endswith("ConnectionError: other text")
    assert second["stack"].endswith("ConnectionError: down")
    assert third["stack"].endswith("ConnectionError: other text")
    assert (first["trace_id"], second["trace_id"]) == ("t1", "t2")


def test_a_recovered_failure_says_so_before_and_after_its_state_is_built() -> None:
    """mark_recovered() shows in state() and record(), whenever it is called."""
    early = Failure(_raised(ValueError("v")), "n", 1, 1.0, None, "t", "g")
    early.mark_recovered()
    late = Failure(_raised(ValueError("v")), "n", 1, 1.0, None, "t", "g")
    assert late.state()["recovered"] is False
    late.mark_recovered()
    for failure in (early, late):
        assert failure.state()["recovered"] is True
        assert failure.record().recovered is True


@settings(derandomize=True, max_examples=300, deadline=None)
@given(t=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_iso_utc_is_datetimes_isoformat(t: float) -> None:
    """iso_utc(t) == datetime.fromtimestamp(t, timezone.utc).isoformat(), for any time."""
    assert iso_utc(t) == datetime.fromtimestamp(t, timezone.utc).isoformat()


class _PassThrough(logging.Filter):
    """Lets every record through: a record is made and handed to the last-resort handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return True


def _node(state: S) -> S:
    return state


EDGE_DURATIONS = [0.0, -0.0, 5e-324, 0.0004999, 0.0005, 0.0625, 2.5, 100.0, 123.4565, 1e15 + 0.5]
EDGE_DURATIONS += [999999999999.9995, 999999999999.999, 1e12, -1e12, 1e16, 1.5e17]


@settings(derandomize=True, max_examples=1000, deadline=None)
@given(
    duration_ms=st.floats(min_value=0, max_value=1e7)
    | st.floats(min_value=-1e13, max_value=1e13)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(EDGE_DURATIONS)
)
def test_the_last_resort_line_is_the_message_of_the_events_record(duration_ms: float) -> None:
    """With logging unconfigured, node.failed is written without its fields or a record,
    byte for byte as Python's last-resort handler writes the message of the record made
    when something may see one (here a pass-through filter), whatever the duration: its
    text is str(round(duration_ms, 3)), however it is computed."""
    exc = _raised(ConnectionError("upstream down"))
    code, category = code_and_category(exc, None)
    spec = NodeSpec(
        fn=_node,
        name="n",
        is_async=False,
        accepts={},
        retry=None,
        on_retry_attempt=None,
        on_error="raise",
        log=get_event_logger(),
    )
    call = Call(spec, {"configurable": {"thread_id": "t-1"}, "run_id": "r-1"})
    message = record_message(exc, code, "n", 1)
    root, ours = logging.getLogger(), logging.getLogger(LOGGER_NAME)
    saved = list(root.handlers), root.level
    root.handlers[:] = []  # as an application that configured no logging
    root.setLevel(logging.WARNING)
    try:
        assert spec.log.audience(logging.ERROR) == LAST_RESORT
        with contextlib.redirect_stderr(io.StringIO()) as direct:
            log_failed(spec, call, exc, code, category, duration_ms, message, LAST_RESORT)
        through = _PassThrough()
        ours.addFilter(through)
        try:
            with contextlib.redirect_stderr(io.StringIO()) as recorded:
                log_failed(spec, call, exc, code, category, duration_ms, message)
        finally:
            ours.removeFilter(through)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    line = direct.getvalue()
    assert line == recorded.getvalue()
    assert line.startswith(f"node.failed node=n attempt=1 duration_ms={round(duration_ms, 3)} ")
    assert line.endswith(" thread_id=t-1 run_id=r-1 trace_id=r-1\n")


def test_raise_mode_with_logs_filtered_builds_no_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing reads a raise-mode record when logs are filtered and no hook is set: none is made."""
    import langgraph_runner._engine.loop as loop
    import langgraph_runner._engine.records as records

    def unexpected(*args: Any) -> Any:
        raise AssertionError("a record's text was built")

    monkeypatch.setattr(records, "_site_fields", unexpected)
    monkeypatch.setattr(records, "record_state", unexpected)  # finish's
    monkeypatch.setattr(loop, "record_state", unexpected)  # loop.end's

    def fail(state: S) -> S:
        raise ConnectionError("down")

    builder = StateGraph(S)
    builder.add_node("n", create_node(fail, retry=None, on_error="raise"))
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    logger = logging.getLogger("langgraph_runner")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with pytest.raises(ConnectionError, match="down"):
            builder.compile().invoke({"x": 1})
    finally:
        logger.setLevel(level)


def _reference_code(exc: BaseException, retry: RetryConfig | None) -> tuple[Any, Any]:
    """The code and category as the records module defines them, computed the long way."""
    from langgraph.errors import NodeTimeoutError as LGNodeTimeoutError
    from pydantic import ValidationError

    from langgraph_runner import ErrorCategory, ErrorCode
    from langgraph_runner._records.classify import classify_error, is_retryable_node_error

    if isinstance(exc, LGNodeTimeoutError):
        return ErrorCode.NODE_TIMEOUT, ErrorCategory.TIMEOUT
    category = classify_error(exc)
    if isinstance(exc, CircuitOpenError):
        return ErrorCode.CIRCUIT_OPEN, category
    if isinstance(exc, NodeAbortedError):
        return ErrorCode.NODE_ABORTED, category
    if isinstance(exc, ValidationError):
        return ErrorCode.VALIDATION_FAILED, category
    retryable = retry.should_retry(exc) if retry is not None else is_retryable_node_error(exc)
    return (ErrorCode.RETRY_EXHAUSTED if retryable else ErrorCode.NON_RETRYABLE), category


def _late_status(status: int) -> BaseException:
    exc = RuntimeError("late")
    exc.status_code = status  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionError("c"),
        ValueError("v"),
        TypeError("t"),
        TimeoutError(),
        _late_status(404),
        _late_status(503),
        RuntimeError("after a late status, plain again"),
        CircuitOpenError("b", 1.0),
        NodeTimeoutError("n", timeout=1.0, elapsed=1.0),
        NodeAbortedError("n"),
        _with_notes(),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'status_code', '')}",
)
@pytest.mark.parametrize(
    "retry",
    [None, RetryConfig(max_attempts=2), RetryConfig(max_attempts=2, retry_on=(TypeError,))],
    ids=["none", "default", "own-predicate"],
)
def test_code_and_category_kept_per_class_match_the_long_way(
    exc: BaseException, retry: RetryConfig | None
) -> None:
    """What is kept per class never differs from the answer computed for the instance."""
    expected = _reference_code(exc, retry)
    assert code_and_category(exc, retry) == expected
    assert code_and_category(exc, retry) == expected  # the second may come from the class


def test_record_mode_validation_error_hides_its_inputs_in_state_logs_and_checkpoint(
    sqlite_connect: SqliteConnect, caplog: pytest.LogCaptureFixture
) -> None:
    """A ValidationError recorded in state shows its errors, never input_value (like raise mode)."""
    from pydantic import BaseModel

    class Model(BaseModel):
        port: int

    plain = "Tr0ub4dor-" + uuid.uuid4().hex[:10]  # no key name in front: only hiding inputs helps

    def node(state: S) -> S:
        Model(port=plain)  # type: ignore[arg-type]
        return {}

    builder = StateGraph(S)
    builder.add_node("node", create_node(node))
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    conn = sqlite_connect()
    graph = builder.compile(checkpointer=SqliteSaver(conn))
    with caplog.at_level(logging.DEBUG):
        out = graph.invoke({"x": 1}, {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}})
    record = out["errors"][0]
    assert record["code"] == "VALIDATION_FAILED"
    assert "int_parsing" in record["message"]
    stored = b"".join(
        v if isinstance(v, bytes) else str(v).encode()
        for table in ("checkpoints", "writes")
        for row in conn.execute(f"SELECT * FROM {table}")
        for v in row
    ).decode("latin-1")
    for text in (json.dumps(out), caplog.text, stored):
        assert plain not in text


class _Noted(BaseCallbackHandler):
    """A callback handler: with one in the config, a failure ends through ``finish``."""


@pytest.mark.parametrize("handlers", [False, True], ids=["unconfigured", "handler"])
@pytest.mark.parametrize("callbacks", [False, True], ids=["end", "finish"])
def test_a_failure_asks_once_who_sees_its_line(
    monkeypatch: pytest.MonkeyPatch, handlers: bool, callbacks: bool
) -> None:
    """A recorded failure writes ``node.failed`` once and asks once who would see it,
    whether it ends in ``loop.end`` or goes on to ``finish`` (a callback handler), with
    logging unconfigured (the last-resort line) or a handler configured (a record)."""
    import langgraph_runner._records.logs as logs

    walks: list[int] = []
    real = logs._audience

    def counted(logger: logging.Logger, level: int) -> int:
        walks.append(level)
        return real(logger, level)

    def fails(state: S) -> S:
        raise ConnectionError("upstream down")

    g = StateGraph(S)
    g.add_node("n", create_node(fails, retry=None))
    g.add_edge(START, "n")
    g.add_edge("n", END)
    graph = g.compile()
    config: dict[str, Any] = {"callbacks": [_Noted()]} if callbacks else {}
    root, ours = logging.getLogger(), logging.getLogger(LOGGER_NAME)
    saved = list(root.handlers), root.level
    root.handlers[:] = []  # as an application that configured no logging
    root.setLevel(logging.WARNING)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    if handlers:
        ours.addHandler(handler)
    monkeypatch.setattr(logs, "_audience", counted)
    try:
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            out = graph.invoke({}, config)
    finally:
        ours.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert out["errors"][0]["code"] == "RETRY_EXHAUSTED"
    written = (stream if handlers else stderr).getvalue().splitlines()
    assert [line.split()[0] for line in written] == ["node.failed"]
    assert (
        "message=Node 'n' failed after 1 attempt(s): ConnectionError: upstream down" in written[0]
    )
    assert walks == [logging.ERROR]
