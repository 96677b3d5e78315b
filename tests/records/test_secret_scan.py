"""Tests for langgraph_runner._records.secret_scan: the scanner every message passes through."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from langgraph_runner._records.secret_scan import ENTROPY_MIN_LENGTH, REDACTED, looks_random, scan

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
RANDOM = "aZ3kP9xQ2mL7vN4bR8tY1wE6uI0oS5dF9gH2jK4l"


def test_a_rule_shaped_secret_is_replaced_and_its_context_kept() -> None:
    """A key the rules know is replaced by the marker; the words around it stay."""
    out = scan(f"login failed for key {AWS_KEY} at the gateway")
    assert AWS_KEY not in out
    assert REDACTED in out
    assert out.startswith("login failed for key ") and out.endswith(" at the gateway")


def test_a_long_random_token_is_replaced_by_the_entropy_check() -> None:
    """A token no rule names but that looks random (and is long enough) is replaced."""
    assert len(RANDOM) >= ENTROPY_MIN_LENGTH and looks_random(RANDOM)
    assert RANDOM not in scan(f"unexpected value {RANDOM} in config")


def test_plain_words_and_ids_are_left_alone() -> None:
    """Ordinary text, and hex ids such as UUIDs, are not secrets."""
    text = "node fetch failed: 123e4567-e89b-12d3-a456-426614174000 not found"
    assert not looks_random("123e4567-e89b-12d3-a456-426614174000")
    assert scan(text) == text


@given(st.text(max_size=300))
def test_scanning_twice_changes_nothing_more(text: str) -> None:
    """What the scanner returns holds no secret it would find again, for any text."""
    once = scan(text)
    assert scan(once) == once
