"""Classifying exceptions: category, retryability, control flow, HTTP status and Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import io
import urllib.error
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained, GraphInterrupt, ParentCommand, is_invalid_resume
from langgraph.errors import NodeTimeoutError as LGNodeTimeoutError
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

from langgraph_runner._records.classify import (
    PER_CLASS_MAX,
    classified_by_class,
    classify_error,
    classify_failure,
    http_status,
    is_control_flow,
    is_retryable_node_error,
    keep,
    retry_after_seconds,
)
from langgraph_runner._records.exceptions import (
    CircuitOpenError,
    NodeAbortedError,
    NodeTimeoutError,
)
from langgraph_runner._records.record import ErrorCategory

# ---------------------------------------------------------------- duck-typed fakes


class FakeResponse:
    """The response object httpx/requests errors carry: status_code and headers."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.headers = headers or {}


class APIStatusError(Exception):
    """Shaped like openai/anthropic: status_code on the error and a response."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"Error code: {status_code}")
        self.status_code = status_code
        self.response = FakeResponse(status_code, headers)


class RateLimitError(APIStatusError):
    """openai.RateLimitError: a 429."""


class APIConnectionError(Exception):
    """openai.APIConnectionError: no status, a connection problem."""


class APITimeoutError(APIConnectionError):
    """openai.APITimeoutError subclasses APIConnectionError: must count as a timeout."""


class ThrottledRateLimitError(Exception):
    """A RateLimit-named error without any status code."""


class ResponseOnlyError(Exception):
    """Shaped like httpx.HTTPStatusError: the status lives on .response only."""

    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__("status error")
        self.response = FakeResponse(status_code, headers)


class AiohttpLikeError(Exception):
    """Shaped like aiohttp.ClientResponseError: .status and .headers on the error."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__("client response error")
        self.status = status
        self.headers = headers or {}


class HintError(Exception):
    """Carries a retry_after attribute, like openai/anthropic or our CircuitOpenError."""

    def __init__(self, retry_after: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__("slow down")
        self.retry_after = retry_after
        if headers is not None:
            self.response = FakeResponse(503, headers)


class ConnectTimeoutBoth(ConnectionError, TimeoutError):
    """Both a ConnectionError and a TimeoutError: timeout must win."""


class BrokenHeaders:
    """A headers object whose get() raises."""

    def get(self, key: str) -> Any:
        raise RuntimeError("cannot read headers")


def httpx_status_error(code: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    """A real httpx.HTTPStatusError with a real httpx.Response."""
    request = httpx.Request("GET", "https://api.example.com/v1")
    response = httpx.Response(code, request=request, headers=headers or {})
    return httpx.HTTPStatusError("status", request=request, response=response)


def requests_http_error(code: int, headers: dict[str, str] | None = None) -> requests.HTTPError:
    """A real requests.HTTPError with a real requests.Response."""
    response = requests.Response()
    response.status_code = code
    response.headers.update(headers or {})
    return requests.HTTPError("status", response=response)


def urllib_http_error(code: int, headers: dict[str, str] | None = None) -> urllib.error.HTTPError:
    """A real urllib HTTPError (status in .code, headers on the error)."""
    return urllib.error.HTTPError(
        "https://api.example.com", code, "status", headers or {}, io.BytesIO()
    )  # type: ignore[arg-type]


def validation_error() -> ValidationError:
    """An ordinary pydantic ValidationError (not an invalid resume)."""

    class Model(BaseModel):
        n: int

    with pytest.raises(ValidationError) as info:
        Model.model_validate({"n": "many"})
    return info.value


# ---------------------------------------------------------------- categories

CATEGORY_CASES: list[tuple[BaseException, ErrorCategory]] = [
    (TimeoutError("t"), ErrorCategory.TIMEOUT),
    (asyncio.TimeoutError(), ErrorCategory.TIMEOUT),
    (TimeoutError("t"), ErrorCategory.TIMEOUT),
    (LGNodeTimeoutError("n", 2.0, kind="run", run_timeout=1.0), ErrorCategory.TIMEOUT),
    (NodeTimeoutError("n", timeout=1.0, elapsed=2.0), ErrorCategory.TIMEOUT),
    (httpx.ReadTimeout("t"), ErrorCategory.TIMEOUT),
    (httpx.ConnectTimeout("t"), ErrorCategory.TIMEOUT),
    (requests.ReadTimeout("t"), ErrorCategory.TIMEOUT),
    (requests.ConnectTimeout("t"), ErrorCategory.TIMEOUT),
    (APITimeoutError("t"), ErrorCategory.TIMEOUT),
    (ConnectTimeoutBoth("t"), ErrorCategory.TIMEOUT),
    (APIStatusError(408), ErrorCategory.TIMEOUT),
    (httpx_status_error(504), ErrorCategory.TIMEOUT),
    (ConnectionResetError("reset"), ErrorCategory.NETWORK),
    (ConnectionRefusedError("refused"), ErrorCategory.NETWORK),
    (BrokenPipeError("pipe"), ErrorCategory.NETWORK),
    (httpx.ConnectError("c"), ErrorCategory.NETWORK),
    (httpx.RemoteProtocolError("c"), ErrorCategory.NETWORK),
    (requests.ConnectionError("c"), ErrorCategory.NETWORK),
    (APIConnectionError("c"), ErrorCategory.NETWORK),
    (APIStatusError(500), ErrorCategory.NETWORK),
    (httpx_status_error(502), ErrorCategory.NETWORK),
    (requests_http_error(503), ErrorCategory.NETWORK),
    (RateLimitError(429), ErrorCategory.RATE_LIMIT),
    (httpx_status_error(429), ErrorCategory.RATE_LIMIT),
    (urllib_http_error(429), ErrorCategory.RATE_LIMIT),
    (AiohttpLikeError(429), ErrorCategory.RATE_LIMIT),
    (ThrottledRateLimitError("slow"), ErrorCategory.RATE_LIMIT),
    (validation_error(), ErrorCategory.VALIDATION),
    (ValueError("v"), ErrorCategory.OTHER),
    (KeyError("k"), ErrorCategory.OTHER),
    (RuntimeError("r"), ErrorCategory.OTHER),
    (APIStatusError(404), ErrorCategory.OTHER),
    (httpx_status_error(400), ErrorCategory.OTHER),
]


@pytest.mark.parametrize(
    ("exc", "category"), CATEGORY_CASES, ids=[f"{type(e).__name__}" for e, _ in CATEGORY_CASES]
)
def test_classify_error(exc: BaseException, category: ErrorCategory) -> None:
    """Each exception lands in its spec category (timeout checked before network)."""
    assert classify_error(exc) is category


def test_timeout_is_checked_before_network() -> None:
    """An error that is both a ConnectionError and a timeout is a timeout."""
    exc = ConnectTimeoutBoth("both")
    assert isinstance(exc, ConnectionError)
    assert classify_error(exc) is ErrorCategory.TIMEOUT


# ---------------------------------------------------------------- retryability

RETRYABLE: list[BaseException] = [
    TimeoutError("t"),
    asyncio.TimeoutError(),
    TimeoutError("t"),
    LGNodeTimeoutError("n", 2.0, kind="run", run_timeout=1.0),
    NodeTimeoutError("n", timeout=1.0, elapsed=2.0),
    ConnectionResetError("reset"),
    httpx.ReadTimeout("t"),
    httpx.ConnectError("c"),
    requests.ConnectionError("c"),
    APIConnectionError("c"),
    APITimeoutError("t"),
    RateLimitError(429),
    APIStatusError(408),
    APIStatusError(425),
    APIStatusError(500),
    APIStatusError(503),
    ResponseOnlyError(429),
    ResponseOnlyError(502),
    httpx_status_error(429),
    httpx_status_error(503),
    requests_http_error(504),
    urllib_http_error(503),
    AiohttpLikeError(429),
    ValueError("other exceptions are retried"),
    RuntimeError("r"),
    OSError("disk hiccup"),
    Exception("plain"),
]

NOT_RETRYABLE: list[BaseException] = [
    validation_error(),
    TypeError("t"),
    AttributeError("a"),
    NameError("n"),
    ImportError("i"),
    ModuleNotFoundError("m"),
    LookupError("l"),
    KeyError("k"),
    IndexError("i"),
    AssertionError("a"),
    NotImplementedError("n"),
    APIStatusError(400),
    APIStatusError(401),
    APIStatusError(403),
    APIStatusError(404),
    APIStatusError(422),
    ResponseOnlyError(404),
    httpx_status_error(400),
    requests_http_error(401),
    urllib_http_error(404),
    AiohttpLikeError(409),
    CircuitOpenError("b", 1.0),
    NodeAbortedError("n"),
    GraphInterrupt(()),
    GraphDrained(),
    ParentCommand(Command(graph=Command.PARENT, goto="elsewhere")),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
    SystemExit(1),
    GeneratorExit(),
]


def _id(exc: BaseException) -> str:
    status = http_status(exc)
    return f"{type(exc).__name__}" + (f"-{status}" if status else "")


@pytest.mark.parametrize("exc", RETRYABLE, ids=_id)
def test_retryable(exc: BaseException) -> None:
    """Timeouts, network errors, 408/425/429/5xx and other exceptions are retryable."""
    assert is_retryable_node_error(exc) is True


@pytest.mark.parametrize("exc", NOT_RETRYABLE, ids=_id)
def test_not_retryable(exc: BaseException) -> None:
    """Validation, programming errors, other 4xx, our own errors and control flow are not."""
    assert is_retryable_node_error(exc) is False


# ---------------------------------------------------------------- control flow

CONTROL_FLOW: list[BaseException] = [
    GraphInterrupt(()),
    GraphDrained(),
    ParentCommand(Command(graph=Command.PARENT, goto="elsewhere")),
    asyncio.CancelledError(),
    KeyboardInterrupt(),
    SystemExit(0),
    GeneratorExit(),
]


@pytest.mark.parametrize("exc", CONTROL_FLOW, ids=_id)
def test_control_flow(exc: BaseException) -> None:
    """LangGraph bubble-ups and non-Exception base exceptions are control flow."""
    assert is_control_flow(exc) is True


@pytest.mark.parametrize(
    "exc",
    [validation_error(), ValueError("v"), TimeoutError("t"), CircuitOpenError("b", 1.0)],
    ids=_id,
)
def test_not_control_flow(exc: BaseException) -> None:
    """Ordinary failures (also an ordinary ValidationError) are not control flow."""
    assert is_control_flow(exc) is False


class Age(BaseModel):
    age: int


class AskState(TypedDict, total=False):
    age: int


def test_real_interrupt_and_invalid_resume_are_control_flow() -> None:
    """interrupt() raises control flow, and a bad resume value's ValidationError is one too."""
    seen: list[BaseException] = []

    def ask(state: AskState) -> AskState:
        try:
            answer = interrupt("age?", response_schema=Age)
        except BaseException as exc:
            seen.append(exc)
            raise
        return {"age": answer.age}

    builder = StateGraph(AskState)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "classify-resume"}}

    graph.invoke({}, config)
    assert isinstance(seen[-1], GraphInterrupt)
    assert is_control_flow(seen[-1])
    assert not is_retryable_node_error(seen[-1])

    with pytest.raises(ValidationError):
        graph.invoke(Command(resume={"age": "old"}), config)
    invalid = seen[-1]
    assert isinstance(invalid, ValidationError)
    assert is_invalid_resume(invalid)
    assert is_control_flow(invalid)
    assert not is_retryable_node_error(invalid)

    assert graph.invoke(Command(resume={"age": 41}), config)["age"] == 41


# ---------------------------------------------------------------- http_status


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (APIStatusError(418), 418),
        (ResponseOnlyError(503), 503),
        (AiohttpLikeError(429), 429),
        (httpx_status_error(404), 404),
        (requests_http_error(500), 500),
        (urllib_http_error(429), 429),
        (ValueError("no status"), None),
        (httpx.ConnectError("no response"), None),
    ],
    ids=_id,
)
def test_http_status_duck_typing(exc: BaseException, status: int | None) -> None:
    """The status is found on the error, on its response, or in urllib's code."""
    assert http_status(exc) == status


@pytest.mark.parametrize("bogus", [True, "503", 42, 1000, 503.0, None])
def test_http_status_ignores_non_http_values(bogus: Any) -> None:
    """Booleans, strings, floats and numbers outside 100-599 are not statuses."""

    class Odd(Exception):
        status_code = bogus
        code = bogus

    assert http_status(Odd()) is None


# ---------------------------------------------------------------- retry_after_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3, 3.0),
        (2.5, 2.5),
        (0, 0.0),
        (timedelta(seconds=90), 90.0),
        (timedelta(milliseconds=250), 0.25),
        ("7", 7.0),
        (" 12 ", 12.0),
        (b"4", 4.0),
        (-5, 0.0),
        (timedelta(seconds=-3), 0.0),
        ("-1", 0.0),
    ],
)
def test_retry_after_attribute(value: Any, seconds: float) -> None:
    """A numeric, timedelta or text retry_after attribute is read; negatives become 0."""
    assert retry_after_seconds(HintError(value)) == seconds


@pytest.mark.parametrize(
    "garbage",
    [None, True, "soon", "", "nan", "inf", float("nan"), float("inf"), [1], {"s": 1}, b"\xff\xfe"],
)
def test_retry_after_garbage_is_no_hint(garbage: Any) -> None:
    """Unusable retry_after values give None rather than raising."""
    assert retry_after_seconds(HintError(garbage)) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda h: ResponseOnlyError(429, h),
        lambda h: APIStatusError(429, h),
        lambda h: httpx_status_error(429, h),
        lambda h: requests_http_error(503, h),
        lambda h: urllib_http_error(429, h),
        lambda h: AiohttpLikeError(429, h),
    ],
    ids=["response", "openai-like", "httpx", "requests", "urllib", "aiohttp-like"],
)
@pytest.mark.parametrize("header", ["Retry-After", "retry-after"])
def test_retry_after_header_seconds(make: Any, header: str) -> None:
    """A Retry-After header in seconds is read wherever the library keeps headers."""
    assert retry_after_seconds(make({header: "17"})) == 17.0


@pytest.mark.parametrize("ahead", [120, 3600])
def test_retry_after_header_http_date(ahead: int) -> None:
    """A Retry-After HTTP date becomes the seconds from now until then."""
    when = datetime.now(timezone.utc) + timedelta(seconds=ahead)
    exc = httpx_status_error(503, {"Retry-After": email.utils.format_datetime(when, usegmt=True)})
    seconds = retry_after_seconds(exc)
    assert seconds is not None
    # HTTP dates have whole seconds; allow for that and for a slow machine.
    assert ahead - 10 <= seconds <= ahead


def test_retry_after_header_date_in_the_past_is_zero() -> None:
    """An HTTP date already past means retry now (0), not a negative wait."""
    exc = ResponseOnlyError(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(exc) == 0.0


@pytest.mark.parametrize("garbage", ["soon", "Mon, 99 Foo 2020", "", "nan"])
def test_retry_after_header_garbage_is_no_hint(garbage: str) -> None:
    """A Retry-After header that is neither seconds nor an HTTP date is no hint."""
    assert retry_after_seconds(ResponseOnlyError(429, {"Retry-After": garbage})) is None


def test_retry_after_attribute_wins_over_header() -> None:
    """The retry_after attribute is preferred to the header."""
    assert retry_after_seconds(HintError(2, headers={"Retry-After": "30"})) == 2.0


def test_retry_after_bad_attribute_falls_back_to_header() -> None:
    """An unusable retry_after attribute does not hide a usable header."""
    assert retry_after_seconds(HintError("soon", headers={"Retry-After": "30"})) == 30.0


def test_retry_after_broken_headers_object_is_no_hint() -> None:
    """A headers object that raises is treated as no hint."""
    exc = ResponseOnlyError(429)
    exc.response.headers = BrokenHeaders()  # type: ignore[assignment]
    assert retry_after_seconds(exc) is None


@pytest.mark.parametrize(
    "exc", [ValueError("v"), ResponseOnlyError(429), httpx.ConnectError("c")], ids=_id
)
def test_no_hint(exc: BaseException) -> None:
    """Without an attribute or header, there is no hint."""
    assert retry_after_seconds(exc) is None


def test_circuit_open_error_carries_its_hint() -> None:
    """A CircuitOpenError's retry_after is read as a hint."""
    assert retry_after_seconds(CircuitOpenError("b", 4.5)) == 4.5


# ---------------------------------------------------------------- hostile exceptions


class _HostileAttrs(ConnectionError):
    """An exception whose ``response``, ``retry_after`` and unknown attributes all raise."""

    @property
    def response(self) -> Any:
        raise RuntimeError("response is broken")

    @property
    def retry_after(self) -> Any:
        raise ValueError("retry_after is broken")

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


class _HostileHint(Exception):
    retry_after = float("nan")

    class response:
        class headers:
            @staticmethod
            def get(name: str) -> Any:
                raise KeyError(name)


def test_hostile_attributes_do_not_replace_the_error() -> None:
    """Raising properties and __getattr__ count as absent: classification still answers."""
    exc = _HostileAttrs("upstream reset")
    assert http_status(exc) is None
    assert retry_after_seconds(exc) is None
    assert classify_error(exc) is ErrorCategory.NETWORK
    assert is_retryable_node_error(exc) is True
    assert retry_after_seconds(_HostileHint()) is None


def test_hostile_attributes_do_not_end_retries_early() -> None:
    """A node raising an exception with hostile attributes is retried, and its error kept."""
    from langgraph_runner import GraphState, RetryConfig, create_node
    from langgraph_runner.testing import no_wait

    calls: list[int] = []

    class St(GraphState, total=False):
        x: int

    def flaky(state: St) -> St:
        calls.append(1)
        raise _HostileAttrs("upstream reset")

    builder = StateGraph(St)
    builder.add_node("flaky", create_node(flaky, retry=RetryConfig(max_attempts=3)))
    builder.add_edge(START, "flaky")
    builder.add_edge("flaky", END)
    with no_wait():
        result = builder.compile().invoke({"x": 1})
    assert len(calls) == 3
    record = result["errors"][0]
    assert record["error_type"] == "_HostileAttrs"
    assert record["code"] == "RETRY_EXHAUSTED"


# ---------------------------------------------------------------- classify_failure


class _StatusProperty(Exception):
    """A status computed by a property (not in the instance dict)."""

    @property
    def status_code(self) -> int:
        return 503


class _StatusSlot(Exception):
    """A status kept in a slot."""

    __slots__ = ("status",)

    def __init__(self, status: int) -> None:
        super().__init__("slotted")
        self.status = status


class _StatusByGetattr(Exception):
    """A status that only __getattr__ knows."""

    def __getattr__(self, name: str) -> Any:
        if name == "status_code":
            return 429
        raise AttributeError(name)


def _with_status(status: int) -> BaseException:
    """A plain exception class whose instance was given a status afterwards."""
    exc = RuntimeError("late status")
    exc.status_code = status  # type: ignore[attr-defined]
    return exc


SHAPES: list[BaseException] = [
    *(exc for exc, _ in CATEGORY_CASES),
    *RETRYABLE,
    *NOT_RETRYABLE,
    _StatusProperty("p"),
    _StatusSlot(404),
    _StatusByGetattr("g"),
    _with_status(404),
    _with_status(502),
    _HostileAttrs("hostile"),
]


@pytest.mark.parametrize("exc", SHAPES, ids=_id)
def test_classify_failure_is_both_answers_in_one(exc: BaseException) -> None:
    """classify_failure(exc) == (classify_error(exc), is_retryable_node_error(exc)), asked twice."""
    expected = (classify_error(exc), is_retryable_node_error(exc))
    assert classify_failure(exc) == expected
    assert classify_failure(exc) == expected  # the second answer may come from the class


def test_a_status_set_on_one_instance_is_not_taken_for_its_class() -> None:
    """Answers kept per class hold only for instances that carry nothing of their own."""
    assert classify_failure(RuntimeError("plain")) == (ErrorCategory.OTHER, True)
    assert classify_failure(_with_status(404)) == (ErrorCategory.OTHER, False)
    assert classify_failure(_with_status(503)) == (ErrorCategory.NETWORK, True)
    assert classify_failure(RuntimeError("plain again")) == (ErrorCategory.OTHER, True)


@pytest.mark.parametrize(
    ("exc", "status"),
    [(_StatusProperty("p"), 503), (_StatusSlot(404), 404), (_StatusByGetattr("g"), 429)],
    ids=["property", "slot", "getattr"],
)
def test_http_status_reads_class_level_attributes(exc: BaseException, status: int) -> None:
    """A status from a property, a slot or __getattr__ is found (no instance-dict shortcut)."""
    assert http_status(exc) == status


def test_classified_by_class_only_for_instances_that_carry_nothing() -> None:
    """True only when no instance attribute nor class-level status could change an answer."""
    assert classified_by_class(ConnectionError("down"))
    assert classified_by_class(ValueError())
    assert not classified_by_class(_with_status(404))  # an instance attribute
    assert not classified_by_class(_StatusProperty("p"))  # a property
    assert not classified_by_class(_StatusSlot(404))  # a slot
    assert not classified_by_class(_StatusByGetattr("g"))  # __getattr__
    noted = ConnectionError("down")
    noted.__notes__ = ["retried"]  # type: ignore[attr-defined]  # what add_note() keeps
    assert not classified_by_class(noted)


def test_keep_returns_the_value_and_starts_afresh_when_full() -> None:
    """Below the bound an answer is kept; at the bound the old ones go and the new one stays."""
    answers: dict[int, str] = {}
    assert keep(answers, 1, "one") == "one"
    assert answers == {1: "one"}
    answers.update((i, str(i)) for i in range(2, PER_CLASS_MAX + 1))
    assert len(answers) == PER_CLASS_MAX
    assert keep(answers, -1, "past the bound") == "past the bound"
    assert answers == {-1: "past the bound"}


def test_classes_made_on_the_fly_do_not_grow_the_classifier() -> None:
    """Classifying a new exception class again and again keeps at most the bound."""
    from langgraph_runner._engine import records
    from langgraph_runner._records import classify

    for i in range(PER_CLASS_MAX + 50):
        cls = type(f"Made{i}", (ConnectionError,), {})
        assert classify.classify_failure(cls("down"))[1] is True
        records.code_and_category(cls("down"), None)
    assert len(classify._FACTS) <= PER_CLASS_MAX
    assert len(classify._TRAITS) <= PER_CLASS_MAX
    assert len(records._CODES) <= PER_CLASS_MAX
    # A class seen after the flood is kept again: the common classes do not go cold.
    classify.classify_failure(ConnectionError("down"))
    assert ConnectionError in classify._FACTS
