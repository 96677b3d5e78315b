"""Code fingerprints see the closure values, defaults and partial arguments a node reads."""

from __future__ import annotations

import dataclasses
import functools
import threading
import warnings
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from langgraph_runner._cache.fingerprint import code_fingerprint


@dataclasses.dataclass(frozen=True)
class Prompt:
    text: str
    temperature: float


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str


def _factory(value: Any) -> Any:
    def node(state: Any) -> Any:
        return value

    return node


def _quiet(fn: Any) -> str:
    with warnings.catch_warnings():
        # Constant closures must not warn. Only UserWarning (what code_fingerprint emits) is
        # an error here: a garbage collection inside this block may emit an unrelated warning.
        warnings.simplefilter("error", UserWarning)
        return code_fingerprint(fn)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("EN", "FR"),
        (1, 2),
        (1, 1.0),
        ((1, "a"), (1, "b")),
        (Prompt("hi", 0.1), Prompt("hi", 0.2)),
        (FrozenModel(name="a"), FrozenModel(name="b")),
        (frozenset({"x"}), frozenset({"y"})),
    ],
)
def test_constant_closure_values_are_part_of_the_fingerprint(a: Any, b: Any) -> None:
    """Equal constant closures give equal fingerprints; different ones differ, silently."""
    assert _quiet(_factory(a)) == _quiet(_factory(a)) != _quiet(_factory(b))


def test_closure_functions_are_fingerprinted_recursively() -> None:
    """A closure holding a helper changes with the helper's own closure."""
    assert _quiet(_factory(_factory("EN"))) != _quiet(_factory(_factory("FR")))
    assert _quiet(_factory(len)) != _quiet(_factory(repr))


def test_recursive_closures_terminate() -> None:
    """A function whose closure reaches itself is fingerprinted once."""

    def outer() -> Any:
        def again(n: int) -> int:
            return n if n < 1 else again(n - 1)

        return again

    assert _quiet(outer()) == _quiet(outer())


@pytest.mark.parametrize(
    ("value", "kind"), [([1], "list"), ({"a": 1}, "dict"), (threading.Lock(), "lock")]
)
def test_mutable_or_opaque_closure_warns_naming_function_and_variable(
    value: Any, kind: str
) -> None:
    """A list, dict or client in the closure warns that version= is needed."""
    node = _factory(value)
    with pytest.warns(UserWarning, match=r"_factory\.<locals>\.node reads 'value'.*version="):
        code_fingerprint(node)


def test_defaults_and_partial_arguments_count() -> None:
    """Default values and functools.partial arguments are part of what runs."""

    def with_default(state: Any, lang: str = "EN") -> Any:
        return lang

    def with_other_default(state: Any, lang: str = "FR") -> Any:
        return lang

    assert _quiet(with_default) != _quiet(with_other_default)
    assert _quiet(functools.partial(with_default, lang="EN")) != _quiet(
        functools.partial(with_default, lang="FR")
    )


def test_two_lambdas_on_one_line_differ() -> None:
    """Issue 13: lambdas sharing a source line no longer share a fingerprint."""
    first, second = (lambda s: {"v": 1}), (lambda s: {"v": 2})
    assert _quiet(first) != _quiet(second)
    assert _quiet(first) == _quiet(first)
