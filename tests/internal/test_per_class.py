"""_per_class: answers kept per class, bounded."""

from __future__ import annotations

from langgraph_runner._internal.per_class import PER_CLASS_MAX, keep


def test_keep_returns_the_value_and_keeps_it_until_full() -> None:
    """Below the bound an answer is kept; at the bound it is returned and not kept."""
    answers: dict[int, str] = {}
    assert keep(answers, 1, "one") == "one"
    assert answers == {1: "one"}
    answers.update((i, str(i)) for i in range(2, PER_CLASS_MAX + 1))
    assert len(answers) == PER_CLASS_MAX
    assert keep(answers, -1, "past the bound") == "past the bound"
    assert -1 not in answers and len(answers) == PER_CLASS_MAX


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
