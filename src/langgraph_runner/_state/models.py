"""``GraphState``'s channels for pydantic and dataclass states.

LangGraph reads a state's channels from its type hints, whatever the schema
kind, so the same ``Annotated`` reducers give a pydantic model or a dataclass the
very channels ``GraphState`` declares:

* ``GraphStateModel``: a pydantic base model; subclass it and add fields.
* ``GraphStateFields``: a keyword-only dataclass mixin; subclass it with
  ``@dataclass`` and add fields (with or without defaults).

Every channel defaults to empty, so a graph can start from ``Model()``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from pydantic import BaseModel, Field

from langgraph_runner._state.bounded import DEFAULT_ERRORS_LIMIT, bounded_errors
from langgraph_runner._state.channels import append_unique, merge_dicts, merge_flags

__all__ = ["GraphStateFields", "GraphStateModel"]


class GraphStateModel(BaseModel):
    """Pydantic base state with ``GraphState``'s channels. Subclass it.

    Attributes:
        errors: Error records (``NodeError`` JSON dumps), appended; the last 100
            are kept. Override with ``Annotated[list[dict[str, Any]],
            bounded_errors(n)]`` for another bound.
        routing_flags: ``{"blocked": True, ...}``, merged; None removes a flag.
        artifact_paths: Artifact name -> path, merged.
        evidence_refs: References, appended without duplicates.
        gate_decisions: Gate name -> decision record, merged.
        step_marks: Node name -> what the package noted about its latest execution.
    """

    errors: Annotated[list[dict[str, Any]], bounded_errors(DEFAULT_ERRORS_LIMIT)] = Field(
        default_factory=list
    )
    routing_flags: Annotated[dict[str, bool], merge_flags] = Field(default_factory=dict)
    artifact_paths: Annotated[dict[str, str], merge_dicts] = Field(default_factory=dict)
    evidence_refs: Annotated[list[str], append_unique] = Field(default_factory=list)
    gate_decisions: Annotated[dict[str, dict[str, Any]], merge_dicts] = Field(default_factory=dict)
    step_marks: Annotated[dict[str, dict[str, Any]], merge_dicts] = Field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class GraphStateFields:
    """Dataclass mixin with ``GraphState``'s channels (keyword-only, all defaulted).

    Subclass it with ``@dataclass``; fields without defaults are fine after it,
    because its own fields are keyword-only.

    Attributes:
        errors: Error records, appended; the last 100 are kept.
        routing_flags: ``{"blocked": True, ...}``, merged; None removes a flag.
        artifact_paths: Artifact name -> path, merged.
        evidence_refs: References, appended without duplicates.
        gate_decisions: Gate name -> decision record, merged.
        step_marks: Node name -> what the package noted about its latest execution.
    """

    errors: Annotated[list[dict[str, Any]], bounded_errors(DEFAULT_ERRORS_LIMIT)] = (
        dataclasses.field(default_factory=list)
    )
    routing_flags: Annotated[dict[str, bool], merge_flags] = dataclasses.field(default_factory=dict)
    artifact_paths: Annotated[dict[str, str], merge_dicts] = dataclasses.field(default_factory=dict)
    evidence_refs: Annotated[list[str], append_unique] = dataclasses.field(default_factory=list)
    gate_decisions: Annotated[dict[str, dict[str, Any]], merge_dicts] = dataclasses.field(
        default_factory=dict
    )
    step_marks: Annotated[dict[str, dict[str, Any]], merge_dicts] = dataclasses.field(
        default_factory=dict
    )
