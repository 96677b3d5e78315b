"""Cache keys: canonical JSON of node inputs, code fingerprints, stability across processes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from langgraph_runner._cache.keys import KEY_NAMESPACE, CacheKey, cache_key, code_fingerprint

FP = "f" * 64

# Run in this process and in a subprocess with another hash seed: results must agree.
_CASES = """
import datetime, decimal, enum, json, pathlib, uuid
from langgraph_runner._cache.keys import cache_key, code_fingerprint
from langgraph_runner._records.sanitize import sanitize_message

class Color(enum.Enum):
    RED = "red"
Color.__module__ = "cases"  # the same name run in-process (exec) and as __main__

state = {
    "tags": {"b", "a", "c"}, "frozen": frozenset({"x", "y"}), "blob": b"\\x00\\xff",
    "when": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc),
    "amount": decimal.Decimal("1.10"), "id": uuid.UUID(int=7), "color": Color.RED,
    "path": pathlib.PurePosixPath("/a/b"), "pair": (1, "two"), "text": "h\\u00e9llo",
    "nested": {"z": 1, "a": [None, True, 1.5]}, "intkeys": {2: "b", 1: "a"},
}
check = lambda s: s in {"alpha", "beta", "gamma"}  # exec'd: no source, a frozenset constant
results = {
    "source_fp": code_fingerprint(sanitize_message),
    "code_fp": code_fingerprint(check),
    "key_all": cache_key("n", state, inputs=None, fingerprint="f").digest,
    "key_thread": cache_key(
        "n", state, inputs=["tags", "when"], fingerprint="f", thread_id="t-1"
    ).digest,
}
if __name__ == "__main__":
    print(json.dumps(results))
"""


def _run_cases() -> dict[str, Any]:
    scope: dict[str, Any] = {}
    exec(_CASES, scope)
    return dict(scope["results"])


def _key(state: Any, *, inputs: list[str] | None = None, **kw: Any) -> CacheKey:
    return cache_key("n", state, inputs=inputs, **{"fingerprint": FP, **kw})


def test_keys_and_fingerprints_are_stable_across_processes() -> None:
    """Processes with other hash seeds compute the same keys and fingerprints."""

    def in_a_process(seed: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", _CASES],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    # Both run the cases the same way (Python 3.13 keeps -c source for inspect, exec does not).
    first, second = in_a_process("12345"), in_a_process("54321")
    assert first == second
    here = _run_cases()
    assert {k: v for k, v in first.items() if k != "code_fp"} == {
        k: v for k, v in here.items() if k != "code_fp"
    }


def test_key_is_sha256_under_the_node_namespace() -> None:
    """A key is a 64-hex-digit SHA-256 under the namespace (KEY_NAMESPACE, node)."""
    key = cache_key("fetch", {"url": "a"}, inputs=["url"], fingerprint=FP)
    assert key.namespace == (KEY_NAMESPACE, "fetch") == ("langgraph_runner", "fetch")
    assert key.node == "fetch"
    assert len(key.digest) == 64
    assert int(key.digest, 16) >= 0


def test_declared_inputs_drive_the_key() -> None:
    """A declared input changes the key; an undeclared field does not; nor does the order."""
    base = _key({"url": "a", "log": [1]}, inputs=["url"])
    assert _key({"url": "a", "log": [1, 2]}, inputs=["url"]) == base
    assert _key({"url": "b", "log": [1]}, inputs=["url"]) != base
    assert cache_key("other", {"url": "a"}, inputs=["url"], fingerprint=FP) != base
    both = _key({"a": 1, "b": 2}, inputs=["a", "b"])
    assert _key({"a": 1, "b": 2}, inputs=["b", "a"]) == both


def test_whole_input_is_hashed_when_inputs_is_none() -> None:
    """With inputs=None every field counts, in any insertion order."""
    key = _key({"a": 1, "b": 2})
    assert _key({"b": 2, "a": 1}) == key
    assert _key({"a": 1, "b": 3}) != key


def test_missing_input_differs_from_none() -> None:
    """A declared field absent from the input is not the same as the field set to None."""
    absent = _key({"url": "a"}, inputs=["url", "lang"])
    assert _key({"url": "a", "lang": None}, inputs=["url", "lang"]) != absent


def test_version_overrides_the_fingerprint() -> None:
    """With a version the fingerprint is ignored; a new version or fingerprint changes the key."""
    v1 = _key({"a": 1}, version="1", fingerprint="x" * 64)
    assert _key({"a": 1}, version="1", fingerprint="y" * 64) == v1
    assert _key({"a": 1}, version="2", fingerprint="x" * 64) != v1
    plain = _key({"a": 1}, fingerprint="x" * 64)
    assert _key({"a": 1}, fingerprint="y" * 64) != plain != v1


def test_thread_id_separates_keys() -> None:
    """A thread id (thread scope) gives each thread its own key; None is the global key."""
    t1 = _key({"a": 1}, thread_id="t1")
    assert _key({"a": 1}, thread_id="t2") != t1
    assert _key({"a": 1}) not in (t1, _key({"a": 1}, thread_id="t2"))


class _Mood(enum.Enum):
    HAPPY = "happy"


class _Doc(BaseModel):
    url: str
    when: dt.date


@dataclasses.dataclass
class _Point:
    x: int
    y: int


def _k(value: Any) -> str:
    return _key({"v": value}, inputs=["v"]).digest


def test_awkward_types_have_deterministic_distinct_forms() -> None:
    """Sets, bytes, datetimes, models and friends hash by content, without collisions."""
    assert _k({3, 1, 2}) == _k({2, 3, 1}) != _k([1, 2, 3])
    assert _k(frozenset({"a"})) == _k({"a"})
    assert _k((1, 2)) == _k([1, 2])  # a tuple is a JSON list
    assert _k(_Mood.HAPPY) != _k("happy")  # an Enum is tagged with its class
    assert _k(b"\x00") != _k("AA==")
    assert _k(dt.datetime(2024, 1, 1)) != _k("2024-01-01T00:00:00")
    assert _k(dt.datetime(2024, 1, 1)) != _k(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    assert _k(dt.timedelta(seconds=1)) != _k(dt.timedelta(seconds=2))
    assert _k({1: "x"}) != _k({"1": "x"})
    assert _k({2: "b", 1: "a"}) == _k({1: "a", 2: "b"})
    assert _k(decimal.Decimal("1.10")) != _k(decimal.Decimal("1.1"))
    assert _k(uuid.UUID(int=1)) != _k(uuid.UUID(int=2))
    assert _k(PurePosixPath("/a")) != _k(PurePosixPath("/b"))
    assert _k(_Doc(url="u", when=dt.date(2024, 1, 1))) != _k(
        _Doc(url="u", when=dt.date(2024, 1, 2))
    )
    assert _k(_Point(1, 2)) != _k({"x": 1, "y": 2})  # a dataclass is tagged with its class
    assert _k(_Point(1, 2)) == _k(_Point(1, 2))
    assert _k(1) != _k(1.0) != _k(True)


def test_models_dataclasses_and_enums_of_other_classes_differ() -> None:
    """Query(text="x") and Complaint(text="x") never share a key (nor dataclasses, enums)."""

    class Query(BaseModel):
        text: str

    class Complaint(BaseModel):
        text: str

    @dataclasses.dataclass
    class A:
        v: int

    @dataclasses.dataclass
    class B:
        v: int

    class E1(enum.Enum):
        X = 1

    class E2(enum.Enum):
        X = 1

    assert _k(Query(text="x")) != _k(Complaint(text="x"))
    assert _k(Query(text="x")) == _k(Query(text="x"))
    assert _k([Query(text="x")]) != _k([Complaint(text="x")])  # nested too
    assert _k(A(1)) != _k(B(1))
    assert _k(E1.X) != _k(E2.X)
    assert _key(Query(text="x"), inputs=None) != _key(Complaint(text="x"), inputs=None)


def test_typed_inputs_select_the_same_fields_as_dicts() -> None:
    """A pydantic model, a dataclass and a dict with the same declared values share a key."""
    as_dict = _key({"x": 1, "y": 5}, inputs=["x"])
    assert _key(_Point(1, 9), inputs=["x"]) == as_dict

    class State(BaseModel):
        x: int
        y: int = 0

    assert _key(State(x=1), inputs=["x"]) == as_dict


def test_unserialisable_input_names_node_and_field() -> None:
    """A value with no canonical form raises TypeError naming the node and the field path."""
    with pytest.raises(TypeError, match=r"node 'fetch'.*'docs\[1\]\.client'.*object"):
        cache_key("fetch", {"docs": [{}, {"client": object()}]}, inputs=["docs"], fingerprint=FP)
    with pytest.raises(TypeError, match=r"'fetch'.*'conn'"):
        cache_key("fetch", {"conn": object()}, inputs=None, fingerprint=FP)


def test_cyclic_input_is_a_clear_error() -> None:
    """A self-referencing input raises TypeError instead of RecursionError."""
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="cyclic"):
        _key({"loop": loop})


def test_bad_field_selection_is_a_clear_error() -> None:
    """A misspelt field of a typed input, or fields of a non-record input, are refused."""
    with pytest.raises(ValueError, match="'ulr'"):
        _key(_Point(1, 2), inputs=["ulr"])
    with pytest.raises(TypeError, match="inputs=None"):
        _key("payload", inputs=["x"])
    assert _key("payload") != _key("other")


# --- fingerprints ---------------------------------------------------------------


def _load(tmp_path: Path, name: str, source: str) -> Any:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_editing_the_source_changes_the_fingerprint(tmp_path: Path) -> None:
    """Same source text, same fingerprint; an edited body, a different one."""
    body = "def node(state):\n    return {'y': state['x'] + %d}\n"
    a = _load(tmp_path, f"fp_a_{uuid.uuid4().hex}", body % 1)
    same = _load(tmp_path, f"fp_b_{uuid.uuid4().hex}", body % 1)
    edited = _load(tmp_path, f"fp_c_{uuid.uuid4().hex}", body % 2)
    assert code_fingerprint(a.node) == code_fingerprint(same.node)
    assert code_fingerprint(a.node) != code_fingerprint(edited.node)
    assert len(code_fingerprint(a.node)) == 64


def test_code_object_fallback_tracks_edits() -> None:
    """Without source, the fingerprint follows the bytecode and constants."""
    make = "f = lambda s: {'y': s['x'] + %d}"
    first: dict[str, Any] = {}
    again: dict[str, Any] = {}
    edited: dict[str, Any] = {}
    exec(make % 1, first)
    exec(make % 1, again)
    exec(make % 2, edited)
    assert code_fingerprint(first["f"]) == code_fingerprint(again["f"])
    assert code_fingerprint(first["f"]) != code_fingerprint(edited["f"])


def _inner(state: dict[str, Any], extra: int = 0) -> dict[str, Any]:
    return {"y": state["x"] + extra}


class _Callable:
    def __call__(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"y": 1}

    def method(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"y": 2}


def test_fingerprint_sees_through_wrappers() -> None:
    """Decorators and bound methods fingerprint the real code; partial arguments count too."""

    @functools.wraps(_inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _inner(*args, **kwargs)

    inner = code_fingerprint(_inner)
    assert code_fingerprint(wrapper) == inner
    bound = code_fingerprint(functools.partial(_inner, extra=2))
    assert bound == code_fingerprint(functools.partial(_inner, extra=2))
    assert inner != bound != code_fingerprint(functools.partial(_inner, extra=3))
    assert code_fingerprint(_Callable().method) == code_fingerprint(_Callable.method)
    assert code_fingerprint(_Callable()) == code_fingerprint(_Callable()) != inner
    assert code_fingerprint(len) == code_fingerprint(len) != code_fingerprint(repr)


def test_plain_dict_shaped_like_a_tagged_form_is_not_that_type() -> None:
    """Issue 13: a dict spelling the set (or bytes) encoding does not collide with a set."""

    def key(value: Any) -> str:
        return cache_key("n", {"v": value}, inputs=None, fingerprint="f").digest

    assert key({"$lgr": "set", "v": ["a"]}) != key({"a"})
    assert key({"$lgr": "bytes", "v": "YQ=="}) != key(b"a")
    assert key({"$lgr": "dict", "v": {"$lgr": "set", "v": []}}) != key({"$lgr": "set", "v": []})


# Reference model of key equality: two inputs share a key iff their tagged trees are equal.
def _tree(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, (int, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, (list, tuple)):  # a tuple is stored as a list by every checkpointer
        return ("list", tuple(_tree(v) for v in value))
    if isinstance(value, frozenset):
        return ("set", frozenset(_tree(v) for v in value))
    return ("dict", frozenset((k, _tree(v)) for k, v in value.items()))


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=4)
    | st.binary(max_size=3)
)
_keys = st.sampled_from(["$lgr", "v", "a", "set", "bytes", "dict"]) | st.text(max_size=3)
_values = st.recursive(
    _scalars | st.frozensets(st.text(max_size=3), max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(_keys, inner, max_size=3)
    ),
    max_leaves=8,
)


def _digest(value: Any) -> str:
    return cache_key("n", {"v": value}, inputs=["v"], fingerprint="f").digest


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_values, _values)
def test_keys_are_equal_exactly_when_inputs_are_equal(a: Any, b: Any) -> None:
    """Equal inputs give equal keys; distinct inputs (by the reference model) distinct keys."""
    assert (_digest(a) == _digest(b)) == (_tree(a) == _tree(b))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(_values)
def test_a_value_and_its_rebuilt_copy_share_a_key(value: Any) -> None:
    """A structurally equal copy (new objects, reordered dict) gives the same key."""

    def rebuild(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: rebuild(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [rebuild(i) for i in v]
        if isinstance(v, tuple):
            return tuple(rebuild(i) for i in v)
        return v

    assert _digest(value) == _digest(rebuild(value))
