"""Tests for langgraph_runner._internal.restore: models built from trusted values, unvalidated."""

from __future__ import annotations

import pickle

from pydantic import BaseModel, ConfigDict

from langgraph_runner._internal.restore import restore


class Point(BaseModel):
    model_config = ConfigDict(frozen=True)

    x: int
    label: str | None = None


def test_restored_model_equals_the_validated_one() -> None:
    """Same value, hash, dump, fields_set and pickle round trip as the validated model."""
    fields = {"x": 3, "label": "a"}
    built = restore(Point, fields, fields)
    validated = Point(x=3, label="a")
    assert built == validated and hash(built) == hash(validated)
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
    assert built.model_fields_set == validated.model_fields_set == {"x", "label"}
    assert pickle.loads(pickle.dumps(built)) == validated
    assert built.model_copy(update={"x": 4}) == Point(x=4, label="a")


def test_fields_become_the_instance_dict_without_validation() -> None:
    """No copy and no validation: the caller vouches for the values."""
    fields = {"x": "not an int", "label": None}
    built = restore(Point, fields, {"x"})
    assert built.__dict__ is fields
    assert built.x == "not an int"
    assert built.model_fields_set == {"x"}
