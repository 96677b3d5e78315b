"""Event logging: quiet by default, stdlib logger, opt-in rendering, custom loggers."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from langgraph.graph import END, START, StateGraph
from structlog.testing import CapturingLogger

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._records.logs import (
    HANDLERS,
    LAST_RESORT,
    LOGGER_NAME,
    NOBODY,
    EventLogger,
    _line,
    add_event_fields,
    configure_logging,
    get_event_logger,
)
from langgraph_runner.testing import no_wait
from tests.conftest import EventCapture

LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put the package logger, the root logger and structlog back as they were."""
    ours = logging.getLogger(LOGGER_NAME)
    saved = (list(ours.handlers), ours.level, ours.propagate)
    root = logging.getLogger()
    root_saved = (list(root.handlers), root.level)
    structlog_saved = structlog.get_config()
    try:
        yield
    finally:
        ours.handlers[:] = saved[0]
        ours.setLevel(saved[1])
        ours.propagate = saved[2]
        root.handlers[:] = root_saved[0]
        root.setLevel(root_saved[1])
        structlog.configure(**structlog_saved)


@contextlib.contextmanager
def unconfigured() -> Iterator[None]:
    """Logging as in an application that configured nothing.

    pytest attaches its capture handlers to the root logger for each test phase, so
    they are removed here, inside the test body, rather than in a fixture.
    """
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


class Keep(logging.Handler):
    """Keeps every record it receives."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Keep:
    """A handler on the package logger, at DEBUG."""
    handler = Keep()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


class S(GraphState, total=False):
    x: int


def _failing_graph() -> Any:
    def boom(state: S) -> S:
        raise ConnectionError("down")

    builder = StateGraph(S)
    builder.add_node("boom", create_node(boom, retry=RetryConfig(max_attempts=2)))
    builder.add_edge(START, "boom")
    builder.add_edge("boom", END)
    return builder.compile()


# ---------------------------------------------------------------- visible by default


def _boom_graph() -> Any:
    def boom(state: GraphState) -> dict[str, Any]:
        raise ValueError("bad input for token=sk-abcdefghijklmnopqrstuv")

    builder = StateGraph(GraphState)
    builder.add_node("boom", create_node(boom))
    builder.add_edge(START, "boom")
    builder.add_edge("boom", END)
    return builder.compile()


def test_info_events_print_nothing_when_the_app_configured_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """INFO events (started, succeeded) print nothing when no logging is configured."""
    with unconfigured():
        get_event_logger().emit(logging.INFO, "node.started", node="n")
    assert capfd.readouterr() == ("", "")


def test_a_recorded_failure_prints_one_line_when_nothing_is_configured(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A terminal failure in record mode prints one sanitized line on stderr, nothing else."""
    with unconfigured():
        out = _boom_graph().invoke({})
    assert out["routing_flags"] == {"blocked": True}
    stdout, stderr = capfd.readouterr()
    assert stdout == ""
    [line] = stderr.splitlines()
    assert line.startswith("node.failed node=boom")
    assert "token=[REDACTED]" in line and "sk-abcdef" not in line


SECRET = "sk-abcdefghijklmnopqrstuv"


def _secret_graph(node: str, on_error: Any, message: str = "bad input for token={}") -> Any:
    def boom(state: GraphState) -> dict[str, Any]:
        raise ValueError(message.format(SECRET))

    builder = StateGraph(GraphState)
    builder.add_node(node, create_node(boom, retry=None, on_error=on_error))
    builder.add_edge(START, node)
    return builder.compile()


@pytest.mark.parametrize("on_error", ["record", "raise"])
@pytest.mark.parametrize("node", ["boom", f"api_key={SECRET}"])
def test_no_secret_reaches_the_failed_line(on_error: str, node: str, kept: Keep) -> None:
    """A secret in the error, the node's name or the run's ids never reaches node.failed."""
    config = {"configurable": {"thread_id": f"password={SECRET}", "trace_id": f"token={SECRET}"}}
    with contextlib.suppress(ValueError):
        _secret_graph(node, on_error).invoke({}, config)
    [record] = [r for r in kept.records if r.getMessage().startswith("node.failed")]
    fields = record.lgr_fields  # type: ignore[attr-defined]
    assert SECRET not in record.getMessage() and SECRET not in repr(fields)
    assert "[REDACTED]" in fields["message"] and "[REDACTED]" in fields["thread_id"]
    assert fields["error_type"] == "ValueError"


def test_no_secret_reaches_a_custom_logger(events: EventCapture) -> None:
    """The same holds for a structlog-style logger given as logger=."""

    def boom(state: GraphState) -> dict[str, Any]:
        raise ValueError(f"bad input for token={SECRET}")

    builder = StateGraph(GraphState)
    builder.add_node("boom", create_node(boom, retry=None, logger=events))
    builder.add_edge(START, "boom")
    builder.add_edge("boom", END)
    builder.compile().invoke({}, {"configurable": {"thread_id": f"password={SECRET}"}})
    [failed] = events.named("node.failed")
    assert SECRET not in repr(failed) and "[REDACTED]" in failed["message"]


def test_fields_not_declared_clean_are_sanitized(kept: Keep) -> None:
    """emit_checked skips only the fields it is told are clean; a quoted name that shows a
    secret makes it sanitize every field."""
    log = get_event_logger()
    secret = f"token={SECRET}"
    log.emit_checked(logging.ERROR, "e", {"a": secret, "b": secret}, frozenset({"b"}))
    log.emit_checked(
        logging.ERROR, "e", {"n": secret, "b": secret}, frozenset({"b"}), quoted=("n",)
    )
    first, second = (r.lgr_fields for r in kept.records)  # type: ignore[attr-defined]
    assert first == {"event": "e", "a": "token=[REDACTED]", "b": secret}
    assert second == {"event": "e", "n": "token=[REDACTED]", "b": "token=[REDACTED]"}


def test_a_recorded_failure_reaches_caplog(caplog: pytest.LogCaptureFixture) -> None:
    """The same failure is one record on the 'langgraph_runner' logger at WARNING or above."""
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        _boom_graph().invoke({})
    ours = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert [(r.levelno >= logging.WARNING, r.getMessage().split()[0]) for r in ours] == [
        (True, "node.failed")
    ]


def test_app_structlog_config_does_not_capture_our_events(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """An app's structlog setup that prints everything does not reroute our events."""
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    with unconfigured():
        get_event_logger().emit(logging.INFO, "node.started", node="n")
        structlog.get_logger().warning("app.event")
    out, err = capfd.readouterr()
    assert out.strip() == '{"event": "app.event"}'
    assert err == ""


def test_a_fresh_interpreter_prints_the_failure_once() -> None:
    """In a fresh process with no logging setup, a recorded failure prints one stderr line,
    without importing structlog (nothing formats the event)."""
    script = textwrap.dedent(
        """
        from langgraph.graph import END, START, StateGraph
        from langgraph_runner import GraphState, create_node

        def boom(state):
            raise ValueError("down")

        g = StateGraph(GraphState)
        g.add_node("boom", create_node(boom))
        g.add_edge(START, "boom")
        g.add_edge("boom", END)
        assert g.compile().invoke({})["routing_flags"] == {"blocked": True}
        import sys
        assert "structlog" not in sys.modules, "imported with nothing to format"
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout) == (0, "")
    [line] = done.stderr.splitlines()
    assert line.startswith("node.failed node=boom") and "ValueError" in line


# ---------------------------------------------------------------- the last-resort line


def _failed_line(log: EventLogger) -> None:
    fields: dict[str, Any] = {"node": "n", "attempt": 1, "message": "down"}
    log.emit_rendered(logging.ERROR, "node.failed", fields, "node=n attempt=1 message=down")


def _stderr_of(monkeypatch: pytest.MonkeyPatch, emit: Any) -> str:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    emit()
    monkeypatch.undo()
    return stream.getvalue()


class Records(logging.Filter):
    """A filter that lets every record through and keeps it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen.append(record)
        return True


@pytest.mark.parametrize("via", ["emit_rendered", "emit"])
def test_unconfigured_logging_prints_what_the_last_resort_handler_prints(
    monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """With logging unconfigured the line is written without a record, byte for byte as
    Python's last-resort handler writes the record (taken by adding a pass-through filter)."""
    import langgraph_runner._records.log_record as log_record
    import langgraph_runner._records.logs as logs

    log = EventLogger()
    made: list[Any] = []
    real = log_record.make_record

    def counted(*args: Any) -> logging.LogRecord:
        made.append(args)
        return real(*args)

    emit = (
        (lambda: _failed_line(log))
        if via == "emit_rendered"
        else (lambda: log.emit(logging.ERROR, "node.failed", node="n", attempt=1, message="down"))
    )
    with unconfigured():
        monkeypatch.setattr(logs, "make_record", counted)
        direct = _stderr_of(monkeypatch, emit)
        assert made == []  # no LogRecord for a line only the last-resort handler sees
        through = Records()
        logging.getLogger(LOGGER_NAME).addFilter(through)
        try:
            monkeypatch.setattr(logs, "make_record", real)
            by_the_stdlib = _stderr_of(monkeypatch, emit)
        finally:
            logging.getLogger(LOGGER_NAME).removeFilter(through)
    assert len(through.seen) == 1  # the stdlib path, to its last-resort handler
    assert direct == by_the_stdlib == "node.failed node=n attempt=1 message=down\n"


@pytest.mark.parametrize("configured", [False, True])
def test_emit_asks_who_would_see_an_event_once(
    monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    """``emit`` walks the logger hierarchy once per event, and the event still reaches
    whoever would see it: the last-resort line, or the handlers' record."""
    import langgraph_runner._records.logs as logs

    walks: list[int] = []
    real = logs._audience

    def counted(logger: logging.Logger, level: int) -> int:
        walks.append(level)
        return real(logger, level)

    log = EventLogger()
    emit = lambda: log.emit(logging.ERROR, "node.failed", node="n", message="down")  # noqa: E731
    monkeypatch.setattr(logs, "_audience", counted)
    if configured:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        logging.getLogger(LOGGER_NAME).addHandler(handler)
        try:
            emit()
        finally:
            logging.getLogger(LOGGER_NAME).removeHandler(handler)
        assert stream.getvalue() == "node.failed node=n message=down\n"
    else:
        with unconfigured():
            assert _stderr_of(monkeypatch, emit) == "node.failed node=n message=down\n"
    assert walks == [logging.ERROR]


class _Factory:
    def __init__(self) -> None:
        self.calls = 0
        self.base = logging.getLogRecordFactory()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        self.calls += 1
        return self.base(*args, **kwargs)


@pytest.mark.parametrize(
    "observer", ["root handler", "filter", "own last resort", "record factory", "logger class"]
)
def test_anything_that_could_see_a_record_gets_one(
    monkeypatch: pytest.MonkeyPatch, observer: str
) -> None:
    """The record is skipped only when nothing but the stock last-resort handler would see
    it: a handler, a filter, a replaced last-resort handler, a record factory or a logger
    class of the application's each get the record, as the stdlib gives it."""
    ours = logging.getLogger(LOGGER_NAME)
    seen: list[logging.LogRecord] = []
    with unconfigured():
        if observer == "root handler":
            keep = Keep()
            logging.getLogger().addHandler(keep)
            seen = keep.records
        elif observer == "filter":
            records = Records()
            monkeypatch.setattr(ours, "filters", [records])
            seen = records.seen
        elif observer == "own last resort":
            keep = Keep()
            monkeypatch.setattr(logging, "lastResort", keep)
            seen = keep.records
        elif observer == "record factory":
            factory = _Factory()
            logging.setLogRecordFactory(factory)
        else:

            class Mine(logging.Logger):
                def handle(self, record: logging.LogRecord) -> None:
                    seen.append(record)

            monkeypatch.setattr(ours, "__class__", Mine)
        try:
            assert EventLogger().audience(logging.ERROR) == HANDLERS  # the fields are built
            text = _stderr_of(monkeypatch, lambda: _failed_line(EventLogger()))
        finally:
            if observer == "record factory":
                logging.setLogRecordFactory(factory.base)
    if observer == "record factory":
        assert factory.calls == 1
        assert text == "node.failed node=n attempt=1 message=down\n"  # still printed, once
        return
    [record] = seen
    assert record.getMessage() == "node.failed node=n attempt=1 message=down"
    assert record.lgr_fields == {  # type: ignore[attr-defined]
        "event": "node.failed",
        "node": "n",
        "attempt": 1,
        "message": "down",
    }
    # a filter lets it through to the last-resort handler; the others keep it
    assert text == ("node.failed node=n attempt=1 message=down\n" if observer == "filter" else "")


def test_the_last_resort_handlers_level_and_a_missing_stderr_are_respected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A last-resort handler raised above ERROR prints nothing; with no ``sys.stderr``
    (pythonw) the line goes nowhere and the caller is not failed."""
    assert logging.lastResort is not None
    with unconfigured():
        assert EventLogger().audience(logging.ERROR) == LAST_RESORT
        assert EventLogger().audience(logging.INFO) == NOBODY  # below its level
        monkeypatch.setattr(logging.lastResort, "level", logging.CRITICAL)
        assert EventLogger().audience(logging.ERROR) == NOBODY
        assert _stderr_of(monkeypatch, lambda: _failed_line(EventLogger())) == ""
        monkeypatch.setattr(sys, "stderr", None)
        _failed_line(EventLogger())  # no error
        monkeypatch.undo()
    assert logging.lastResort.level == logging.WARNING


# ---------------------------------------------------------------- stdlib routing


@pytest.mark.parametrize("level", LEVELS)
def test_events_go_to_the_stdlib_logger(level: int, kept: Keep) -> None:
    """Every level goes to the 'langgraph_runner' logger with the event and its fields."""
    get_event_logger().emit(level, "node.retrying", node="fetch", attempt=2, thread_id=None)
    [record] = kept.records
    assert record.name == LOGGER_NAME
    assert record.levelno == level
    assert record.getMessage() == "node.retrying node=fetch attempt=2"
    assert record.lgr_fields == {  # type: ignore[attr-defined]
        "event": "node.retrying",
        "node": "fetch",
        "attempt": 2,
        "thread_id": None,
    }


def test_events_reach_caplog(caplog: pytest.LogCaptureFixture) -> None:
    """Events propagate like any library's logs, so the app's handlers (here caplog) get them."""
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        get_event_logger().emit(logging.INFO, "node.started", node="n")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (LOGGER_NAME, "node.started node=n")
    ]


def test_level_filtering_happens_before_any_work(kept: Keep) -> None:
    """Below the logger's level, enabled() is False and emit() sends nothing."""
    logging.getLogger(LOGGER_NAME).setLevel(logging.WARNING)
    log = get_event_logger()
    assert not log.enabled(logging.INFO)
    assert log.enabled(logging.WARNING)
    log.emit(logging.INFO, "node.started", node="n")
    log.emit(logging.WARNING, "node.retrying", node="n")
    assert [r.getMessage() for r in kept.records] == ["node.retrying node=n"]


def test_node_events_carry_their_fields(kept: Keep) -> None:
    """A real failing node emits started, retrying and failed with node, attempt and ids."""
    with no_wait():
        _failing_graph().invoke({}, {"configurable": {"thread_id": "t-logs", "trace_id": "tr"}})
    fields = [r.lgr_fields for r in kept.records]  # type: ignore[attr-defined]
    events = [f["event"] for f in fields]
    assert events == ["node.started", "node.retrying", "node.failed"]
    failed = fields[-1]
    assert failed["node"] == "boom"
    assert failed["attempt"] == 2
    assert failed["code"] == "RETRY_EXHAUSTED"
    assert failed["trace_id"] == "tr"
    assert failed["thread_id"] == "t-logs"
    assert [r.levelno for r in kept.records] == [logging.INFO, logging.WARNING, logging.ERROR]


@pytest.mark.parametrize("on_error", ["record", "raise"])
@pytest.mark.parametrize(
    "configurable",
    [{}, {"thread_id": "t-1", "trace_id": "tr"}, {"thread_id": "t\nforged", "run_id": "r\u202e"}],
)
@pytest.mark.parametrize(
    "message", ["bad input for token={}", "bad\ninput\x1b[2J for token={}\u2028"]
)
def test_the_failed_line_is_its_fields_rendered(
    on_error: str, configurable: dict[str, Any], message: str, kept: Keep
) -> None:
    """node.failed's text, kept per failing site with the run's ids added per call, is
    exactly what its fields render to (None left out, control characters escaped, in
    the error's message as in the run's ids)."""
    for _ in range(2):  # the second failure of the site takes the kept text
        kept.records.clear()
        with contextlib.suppress(ValueError):
            graph = _secret_graph("boom", on_error, message)
            graph.invoke({}, {"configurable": configurable})
        [record] = [r for r in kept.records if r.getMessage().startswith("node.failed")]
        fields = dict(record.lgr_fields)  # type: ignore[attr-defined]
        assert fields.pop("event") == "node.failed"
        assert record.getMessage() == f"node.failed {_line(fields)}"
        text = record.getMessage()
        assert "\n" not in text and "\u202e" not in text and "\x1b" not in text
        assert "\u2028" not in text


# ---------------------------------------------------------------- configure_logging


def test_configure_logging_console(kept: Keep) -> None:
    """Console rendering: timestamp, level, event and key=value fields (None left out)."""
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    get_event_logger().emit(logging.WARNING, "node.retrying", node="fetch", run_id=None)
    line = stream.getvalue().strip()
    assert "[warning]" in line
    assert "node.retrying" in line
    assert line.endswith("node=fetch")
    assert "run_id" not in line


def test_configure_logging_json() -> None:
    """JSON rendering: one object per line with timestamp, level, event and fields."""
    stream = io.StringIO()
    configure_logging(logging.INFO, json=True, stream=stream)
    log = get_event_logger()
    log.emit(logging.INFO, "node.started", node="a", attempt=1)
    log.emit(logging.ERROR, "node.failed", node="a", duration_ms=1.5, when=object())
    log.emit(logging.DEBUG, "hidden", node="a")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["level"], d["event"], d["node"]) for d in lines] == [
        ("info", "node.started", "a"),
        ("error", "node.failed", "a"),
    ]
    assert lines[0]["attempt"] == 1
    assert lines[1]["duration_ms"] == 1.5
    assert all("timestamp" in d for d in lines)


@pytest.mark.parametrize(
    ("level", "number"),
    [("debug", logging.DEBUG), ("WARNING", logging.WARNING), (logging.ERROR, logging.ERROR)],
)
def test_configure_logging_levels(level: Any, number: int) -> None:
    """Levels may be names (any case) or numbers."""
    assert configure_logging(level, stream=io.StringIO()).level == number


def test_configure_logging_rejects_unknown_level() -> None:
    """An unknown level name is a ValueError naming it."""
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging("LOUD")


def test_configure_logging_replaces_only_its_own_handler() -> None:
    """Calling it again replaces its handler; the app's handlers on the logger stay."""
    logger = logging.getLogger(LOGGER_NAME)
    app_handler = Keep()
    logger.addHandler(app_handler)
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    get_event_logger().emit(logging.INFO, "node.started", node="n")
    assert first.getvalue() == ""
    assert second.getvalue().count("node.started") == 1
    assert app_handler in logger.handlers
    assert len(app_handler.records) == 1


def test_configure_logging_leaves_structlog_and_root_alone() -> None:
    """structlog's global config and the root logger are unchanged; events are not duplicated."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    before = structlog.get_config()
    root = logging.getLogger()
    root_handler = Keep()
    root.addHandler(root_handler)
    root_before = (list(root.handlers), root.level)

    configure_logging("INFO", json=True, stream=io.StringIO())
    get_event_logger().emit(logging.INFO, "node.started", node="n")

    assert structlog.get_config() == before
    assert (list(root.handlers), root.level) == root_before
    assert root_handler.records == []  # not printed twice through the root logger
    assert structlog.get_logger().info("app") == "event='app' level='info'"


@pytest.mark.parametrize(
    ("as_json", "renderer"),
    [(True, structlog.processors.JSONRenderer), (False, structlog.dev.ConsoleRenderer)],
)
def test_configure_logging_renders_with_structlog(as_json: bool, renderer: type) -> None:
    """Its handler's formatter is structlog's ProcessorFormatter, ending in JSONRenderer or
    ConsoleRenderer, with add_event_fields in its foreign pre-chain."""
    configure_logging(json=as_json, stream=io.StringIO())
    [handler] = [h for h in logging.getLogger(LOGGER_NAME).handlers if h.formatter is not None]
    formatter = handler.formatter
    assert isinstance(formatter, structlog.stdlib.ProcessorFormatter)
    assert add_event_fields in (formatter.foreign_pre_chain or ())
    assert isinstance(formatter.processors[-1], renderer)


def test_configure_logging_json_keys_are_the_event_dict() -> None:
    """The JSON line is the event dict: timestamp, level, event, then the fields in order."""
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    get_event_logger().emit(logging.ERROR, "node.failed", node="n", attempt=2, thread_id=None)
    line = json.loads(stream.getvalue())
    assert list(line) == ["timestamp", "level", "event", "node", "attempt", "thread_id"]
    assert line["timestamp"].endswith("+00:00")
    assert (line["level"], line["event"], line["thread_id"]) == ("error", "node.failed", None)


def test_configure_logging_shows_other_records_of_the_package_without_tracebacks() -> None:
    """A plain record of a package logger renders its message; its traceback is left out,
    as before (exception text is not sanitized)."""
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    try:
        raise ValueError("password=hunter2")
    except ValueError:
        logging.getLogger(f"{LOGGER_NAME}.runs").exception("tick %s failed", 3)
    line = json.loads(stream.getvalue())
    assert (line["level"], line["event"]) == ("error", "tick 3 failed")
    assert "hunter2" not in stream.getvalue() and "exc_info" not in line


def _app_logging(stream: io.StringIO, renderer: Any) -> None:
    """structlog's stdlib recipe, as an application writes it: one ProcessorFormatter on
    the root handler for structlog's own events and for stdlib records alike."""
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), add_event_fields, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def test_an_apps_structlog_setup_renders_our_events_with_their_fields() -> None:
    """An app that set up structlog itself and runs our nodes gets one output: its events
    and ours, the same keys, our fields as event-dict keys."""
    stream = io.StringIO()
    _app_logging(stream, structlog.processors.JSONRenderer())
    with no_wait():
        structlog.get_logger("app").info("app.started", user="u1")
        _failing_graph().invoke({}, {"configurable": {"thread_id": "t-app"}})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(d["logger"], d["event"]) for d in lines] == [
        ("app", "app.started"),
        (LOGGER_NAME, "node.started"),
        (LOGGER_NAME, "node.retrying"),
        (LOGGER_NAME, "node.failed"),
    ]
    assert all({"timestamp", "level", "event", "logger"} <= set(d) for d in lines)
    failed = lines[-1]
    assert failed["level"] == "error" and "lgr_fields" not in failed
    assert (failed["node"], failed["attempt"], failed["code"]) == ("boom", 2, "RETRY_EXHAUSTED")
    assert failed["thread_id"] == "t-app" and failed["error_type"] == "ConnectionError"


def test_an_apps_console_renderer_shows_our_fields_as_key_values() -> None:
    """With the app's ConsoleRenderer, our fields show as its key=value pairs."""
    stream = io.StringIO()
    _app_logging(stream, structlog.dev.ConsoleRenderer(colors=False))
    get_event_logger().emit(logging.WARNING, "node.retrying", node="fetch", attempt=1)
    [line] = stream.getvalue().splitlines()
    assert "node.retrying" in line and "node=fetch" in line and "attempt=1" in line
    assert "node.retrying node=fetch" not in line  # the fields are not the event's text


def test_add_event_fields_leaves_other_records_alone() -> None:
    """A record the package did not log, or an event dict without a record, is unchanged."""
    record = logging.makeLogRecord({"msg": "plain", "levelno": logging.INFO})
    plain = {"event": "plain", "_record": record}
    assert add_event_fields(None, "info", dict(plain)) == plain
    assert add_event_fields(None, "info", {"event": "x"}) == {"event": "x"}


# ---------------------------------------------------------------- custom loggers


def test_custom_logger_receives_events(events: EventCapture) -> None:
    """A structlog-style logger gets each event at its level with the fields."""
    log = get_event_logger(events)
    assert log.enabled(logging.DEBUG)
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        log.emit(level, "node.retrying", node="n", attempt=level)
    assert [(e["level"], e["attempt"]) for e in events.events] == [
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("warning", logging.WARNING),
        ("error", logging.ERROR),
    ]
    assert {e["event"] for e in events.events} == {"node.retrying"}


def test_real_structlog_logger_receives_events() -> None:
    """A real structlog BoundLogger works as the custom logger."""
    capture = CapturingLogger()
    log = get_event_logger(structlog.wrap_logger(capture, processors=[]))
    log.emit(logging.ERROR, "node.failed", node="n", code="NON_RETRYABLE")
    [call] = capture.calls
    assert call.method_name == "error"
    assert call.kwargs == {"event": "node.failed", "node": "n", "code": "NON_RETRYABLE"}


def test_custom_logger_used_by_create_node(events: EventCapture) -> None:
    """create_node(logger=...) sends the node's events to that logger, not to stdlib."""

    def ok(state: S) -> S:
        return {"x": 1}

    builder = StateGraph(S)
    builder.add_node("ok", create_node(ok, logger=events))
    builder.add_edge(START, "ok")
    builder.add_edge("ok", END)
    builder.compile().invoke({})
    assert [e["event"] for e in events.events] == ["node.started", "node.succeeded"]


class Raising:
    """A logger whose every method raises."""

    def _raise(self, event: str, **kw: Any) -> None:
        raise RuntimeError("logger is broken")

    debug = info = warning = error = critical = _raise


class Partial:
    """A logger with only some methods."""

    def info(self, event: str, **kw: Any) -> None:
        pass


@pytest.mark.parametrize("logger", [Raising(), Partial(), object()], ids=type)
@pytest.mark.parametrize("level", LEVELS)
def test_broken_custom_logger_never_raises(logger: Any, level: int, kept: Keep) -> None:
    """A raising or incomplete logger never raises into the caller; the failure is a debug log."""
    get_event_logger(logger).emit(level, "node.failed", node="n")
    if not (isinstance(logger, Partial) and level == logging.INFO):
        assert any("logger raised" in r.getMessage() for r in kept.records)
        assert all(r.levelno == logging.DEBUG for r in kept.records)


def test_broken_custom_logger_does_not_fail_a_node() -> None:
    """A node with a raising logger still runs, retries and records its failure."""
    builder = StateGraph(S)

    def boom(state: S) -> S:
        raise ConnectionError("down")

    builder.add_node("boom", create_node(boom, retry=2, logger=Raising()))
    builder.add_edge(START, "boom")
    builder.add_edge("boom", END)
    with no_wait():
        out = builder.compile().invoke({})
    assert out["errors"][0]["attempts"] == 2


def test_default_logger_is_shared() -> None:
    """get_event_logger() is one shared instance; a custom logger gets its own."""
    assert get_event_logger() is get_event_logger()
    custom = get_event_logger(EventCapture())
    assert isinstance(custom, EventLogger)
    assert custom is not get_event_logger()


FORGED = "boom\n2026-01-01T00:00:00+00:00 [info   ] node.succeeded   node=pay\r\x1b[2K\u2028x"


@pytest.mark.parametrize("as_json", [False, True])
def test_newlines_in_values_cannot_forge_log_lines(kept: Keep, as_json: bool) -> None:
    """A message with newlines/control characters stays one line in console and JSON output."""
    stream = io.StringIO()
    configure_logging("DEBUG", json=as_json, stream=stream)
    get_event_logger().emit(logging.ERROR, "node.failed", node="fetch", message=FORGED)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "\x1b" not in lines[0] and "\r" not in lines[0]
    if as_json:
        assert json.loads(lines[0])["message"] == FORGED  # JSON keeps the value exactly
    else:
        assert "boom\\n2026" in lines[0]


def test_newlines_cannot_forge_plain_stdlib_lines(kept: Keep) -> None:
    """The stdlib message (what a plain %(message)s handler prints) is one line too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        get_event_logger().emit(logging.ERROR, "node.failed\nnode.forged", message=FORGED)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("node.failed\\nnode.forged message=boom\\n")


def test_no_record_is_built_when_only_null_handlers_would_see_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the default NullHandler only, an ERROR event builds no log record."""
    logger = logging.getLogger(LOGGER_NAME)
    monkeypatch.setattr(logger, "handlers", [logging.NullHandler()])
    monkeypatch.setattr(logger, "propagate", False)
    calls: list[str] = []
    make = logger.makeRecord

    def counted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        calls.append("x")
        return make(*args, **kwargs)

    monkeypatch.setattr(logger, "makeRecord", counted)
    log = EventLogger()
    log.emit(logging.ERROR, "node.failed", node="n")
    assert calls == []
    assert not log.emits(logging.ERROR)  # what a caller asks before building an event
    assert log.audience(logging.ERROR) == NOBODY
    stream = io.StringIO()
    monkeypatch.setattr(logger, "handlers", [logging.NullHandler(), logging.StreamHandler(stream)])
    log.emit(logging.ERROR, "node.failed", node="n")
    assert calls == ["x"]
    assert log.emits(logging.ERROR) and not log.emits(logging.DEBUG)
    assert (log.audience(logging.ERROR), log.audience(logging.DEBUG)) == (HANDLERS, NOBODY)


def test_a_custom_logger_always_emits() -> None:
    """A user's logger does its own filtering: every level is handed to it."""
    log = EventLogger(structlog.get_logger())
    assert log.emits(logging.DEBUG) and log.emits(logging.ERROR)
    assert log.audience(logging.DEBUG) == log.audience(logging.ERROR) == HANDLERS


def test_bidi_controls_are_escaped_in_console_lines(kept: Keep) -> None:
    """U+202E and other bidi controls cannot reorder a console log line; they show escaped."""
    stream = io.StringIO()
    configure_logging("DEBUG", json=False, stream=stream)
    get_event_logger().emit(logging.ERROR, "node.failed", node="txt.\u202eexe", message="a\u2066b")
    line = stream.getvalue()
    assert "\u202e" not in line and "\u2066" not in line
    assert "txt.\\u202eexe" in line
