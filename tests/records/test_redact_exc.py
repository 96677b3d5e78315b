"""redact_exc.py: every exception of a tree is redacted in place, however big, at a bounded cost."""

from __future__ import annotations

import asyncio
import builtins
import sys
import traceback
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_runner._records.redact_exc import DROPPED, MAX_EXCEPTIONS, redact_tree

SECRET = "Hunter2-" + uuid.uuid4().hex[:12]
# Exception groups, asyncio.TaskGroup and add_note() are Python 3.11+.
HAS_GROUPS = sys.version_info >= (3, 11)
needs_groups = pytest.mark.skipif(not HAS_GROUPS, reason="exception groups are Python 3.11+")


def _shown(exc: BaseException) -> str:
    """What a traceback, repr and str show of ``exc``."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


@needs_groups
def test_every_member_of_a_taskgroup_over_many_calls_is_redacted() -> None:
    """A TaskGroup over 100 failing calls: the members a traceback prints first are redacted too."""

    async def fail(i: int) -> None:
        raise ConnectionError(f"call {i}: password={SECRET}")

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            for i in range(100):
                tg.create_task(fail(i))

    with pytest.raises(builtins.BaseExceptionGroup) as info:
        asyncio.run(main())
    group = info.value
    assert len(group.exceptions) == 100
    redact_tree(group)
    assert SECRET not in _shown(group)
    assert all(SECRET not in str(e) for e in group.exceptions)


def test_a_cause_chain_longer_than_64_is_redacted_to_its_innermost() -> None:
    """A __cause__ chain of 200: the innermost exception is redacted, not left raw."""
    exc: BaseException = ValueError(f"token={SECRET}")
    for i in range(200):
        outer = RuntimeError(f"step {i}")
        outer.__cause__ = exc
        exc = outer
    redact_tree(exc)
    assert SECRET not in _shown(exc)


@needs_groups
def test_past_the_cap_exceptions_are_blanked_never_left_raw() -> None:
    """A group bigger than MAX_EXCEPTIONS: the last members show the DROPPED marker, no secret."""
    members = [KeyError(f"password={SECRET}") for _ in range(MAX_EXCEPTIONS + 5)]
    group = builtins.ExceptionGroup("many", members)
    redact_tree(group)
    assert SECRET not in _shown(group)
    assert all(SECRET not in repr(e) for e in members)
    assert DROPPED in repr(members[-1])
    assert "[REDACTED]" in repr(members[0])


def test_a_chain_past_the_cap_is_cut() -> None:
    """A context chain longer than the cap ends at a blanked exception; nothing past it stays."""
    exc: BaseException = ValueError(f"innermost password={SECRET}")
    for _ in range(MAX_EXCEPTIONS + 10):
        outer = RuntimeError("wrapped")
        outer.__context__ = exc
        exc = outer
    redact_tree(exc)
    depth, walk = 0, exc
    while walk.__context__ is not None:
        walk, depth = walk.__context__, depth + 1
    assert depth == MAX_EXCEPTIONS
    assert str(walk) == DROPPED


def test_import_error_text_is_redacted() -> None:
    """ImportError's str reads .msg, not args: it is redacted too."""
    exc = ImportError(f"cannot load plugin from password={SECRET}", name="plugin")
    redact_tree(exc)
    assert SECRET not in _shown(exc)


def test_header_tuples_bytes_keys_and_deep_dicts_in_args_and_attributes() -> None:
    """Header tuples, bytes-keyed dicts and dicts nested deeper than 6 lose their secrets."""
    deep: dict[str, object] = {"password": SECRET}
    for i in range(10):
        deep = {f"level{i}": deep}
    exc = ConnectionError([("Authorization", SECRET)], {b"apiKey": SECRET.encode()}, deep)
    exc.details = deep  # type: ignore[attr-defined]
    redact_tree(exc)
    assert SECRET not in _shown(exc)
    assert SECRET not in repr(vars(exc))


def test_http_request_headers_on_the_exception_are_redacted() -> None:
    """httpx and requests errors: exc.request.headers keep no Authorization or cookie value."""
    httpx = pytest.importorskip("httpx")
    requests = pytest.importorskip("requests")

    request = httpx.Request(
        "GET", "https://api.example.com", headers={"Authorization": f"Bearer {SECRET}"}
    )
    response = httpx.Response(401, request=request, headers={"Set-Cookie": f"sid={SECRET}"})
    hx = httpx.HTTPStatusError("401", request=request, response=response)
    prepared = requests.Request(
        "GET", "https://api.example.com", headers={"X-Api-Key": SECRET}
    ).prepare()
    rq = requests.HTTPError("401", request=prepared)
    redact_tree(hx)
    redact_tree(rq)
    assert SECRET not in str(dict(hx.request.headers)) + str(dict(hx.response.headers))
    assert SECRET not in str(dict(rq.request.headers))
    assert hx.request.headers["Authorization"] == "[REDACTED]"


def test_a_huge_container_argument_costs_a_bounded_walk() -> None:
    """A list of a million items is replaced, not walked item by item."""
    exc = ValueError(list(range(1_000_000)), f"token={SECRET}")
    redact_tree(exc)
    assert exc.args[0] == "[REDACTED]"
    assert SECRET not in str(exc)


def test_classes_made_per_call_do_not_grow_memory_without_bound() -> None:
    """Redacting exceptions of 3000 classes made on the fly keeps at most PER_CLASS_MAX swaps."""
    from langgraph_runner._records import redact_exc
    from langgraph_runner._records.classify import PER_CLASS_MAX

    for i in range(3000):
        cls = type(f"Made{i}", (Exception,), {"__str__": lambda self: f"token={SECRET}"})
        exc = cls()
        redact_tree(exc)
        assert SECRET not in str(exc)
    assert len(redact_exc._SAFE_CLASSES) <= PER_CLASS_MAX


# ---------------------------------------------------------------- property: any exception graph

_PLANTED = "Zq8" + uuid.uuid4().hex[:13]


class _Conn:
    """An object whose repr shows a credential (a client an exception holds in its args)."""

    def __repr__(self) -> str:
        return f"<Conn password={_PLANTED}>"


class _Built(Exception):
    """An error whose text is built from an attribute."""

    def __init__(self, payload: object) -> None:
        super().__init__("built")
        self.payload = payload

    def __str__(self) -> str:
        return f"built from {self.payload!r}"


def _carriers() -> st.SearchStrategy[object]:
    """Values that carry the planted secret in a shape redaction recognises."""
    shapes = st.sampled_from(
        [
            f"password={_PLANTED}",
            f"postgresql://app:{_PLANTED}@db/prod",
            {"apiKey": _PLANTED},
            {b"clientSecret": _PLANTED.encode()},
            ("Authorization", _PLANTED),
            [("X-Api-Key", _PLANTED)],
            f"accessToken: {_PLANTED}".encode(),
            {"nested": [{"secretAccessKey": _PLANTED}]},
            _Conn(),
        ]
    )
    plain = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(allow_nan=False))
    return st.one_of(shapes, plain, st.lists(st.one_of(shapes, plain), max_size=3))


_KINDS = ["value", "key", "os", "import", "built"] + (["group"] if HAS_GROUPS else [])


@st.composite
def _exception_graphs(draw: st.DrawFn) -> BaseException:
    """Up to 25 exceptions: any args, notes, attributes, causes, contexts, groups, cycles."""
    made: list[BaseException] = []
    for _ in range(draw(st.integers(min_value=1, max_value=25))):
        kind = draw(st.sampled_from(_KINDS))
        args = draw(st.lists(_carriers(), max_size=3))
        if kind == "group" and made:
            members = draw(st.lists(st.sampled_from(made), min_size=1, max_size=4))
            exc: BaseException = builtins.ExceptionGroup(f"batch password={_PLANTED}", members)
        elif kind == "key":
            exc = KeyError(*args)
        elif kind == "os":
            exc = OSError(*args)
        elif kind == "import":
            exc = ImportError(f"no module; token={_PLANTED}", *args[:0])
        elif kind == "built":
            exc = _Built(draw(_carriers()))
        else:
            exc = ValueError(*args)
        if HAS_GROUPS and draw(st.booleans()):
            exc.add_note(f"while calling with api_key={_PLANTED}")
        if draw(st.booleans()):
            exc.detail = draw(_carriers())  # type: ignore[attr-defined]
        made.append(exc)
    for exc in made:  # links in any direction: cycles included
        if draw(st.booleans()):
            exc.__cause__ = draw(st.sampled_from(made))
        if draw(st.booleans()):
            exc.__context__ = draw(st.sampled_from(made))
    return made[-1]


@settings(derandomize=True, max_examples=150, deadline=None)
@given(exc=_exception_graphs())
def test_no_planted_secret_survives_in_any_exception_graph(exc: BaseException) -> None:
    """For any exception graph, no traceback, repr, str or record of it shows the secret."""
    import json

    from langgraph_runner._engine.records import record_state, redact_exception
    from langgraph_runner._records.record import ErrorCategory, ErrorCode

    state = record_state(
        exc, ErrorCode.NON_RETRYABLE, ErrorCategory.OTHER, "n", 1, 1.0, "t", "g", 0.0
    )
    assert _PLANTED not in json.dumps(state)
    safe = redact_exception(exc)
    shown = "".join(traceback.format_exception(safe)) + repr(safe) + str(safe)
    assert _PLANTED not in shown
