"""Answers kept per exception class.

Classifying and redacting ask the same questions of every exception of a class;
the answers that depend on the class alone are kept in a plain dict per
question. Each dict is bounded, so classes made on the fly (a class statement
in a loop, a mock) cannot grow it forever: past the bound, answers are worked
out again each time instead of kept.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["PER_CLASS_MAX", "keep"]

PER_CLASS_MAX = 1024
"""Answers one question keeps at most."""

K = TypeVar("K")
V = TypeVar("V")


def keep(answers: dict[K, V], key: K, value: V) -> V:
    """``value``, kept in ``answers`` under ``key`` unless they are full."""
    if len(answers) < PER_CLASS_MAX:
        answers[key] = value
    return value
