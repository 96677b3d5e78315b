"""``GraphState``: the reducer channels wrapped nodes write to, and helpers to update them.

Reducers are pure, accept None on either side, and never mutate their inputs.
Clearing uses LangGraph's own ``Overwrite`` (``{"errors": Overwrite([])}``), which
bypasses the reducer; in the dict channels a key whose new value is ``None`` is
removed (``{"routing_flags": {"blocked": None}}``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, cast

from langgraph.types import Overwrite
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs it before 3.12; MessagesState uses it

from langgraph_runner._records.record import NodeError
from langgraph_runner._state.bounded import DEFAULT_ERRORS_LIMIT, bounded_errors
from langgraph_runner._state.typeddict import composable

__all__ = [
    "STATE_CHANNELS",
    "GraphState",
    "append_errors",
    "append_unique",
    "merge_dicts",
    "merge_flags",
    "route_on_blocked",
    "update_state",
]

T = TypeVar("T")
_V = TypeVar("_V")


def append_errors(
    left: Sequence[dict[str, Any]] | None, right: Sequence[dict[str, Any]] | dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Reducer for ``errors``: append records (one record or a list) to the existing ones."""
    out = list(left or ())
    if right is None:
        return out
    if isinstance(right, Mapping):
        out.append(dict(right))
    else:
        out.extend(right)
    return out


def append_unique(left: Sequence[T] | None, right: Sequence[T] | T | None) -> list[T]:
    """Reducer for ``evidence_refs``: append, keeping first occurrences, dropping duplicates."""
    out: list[T] = list(left or ())
    if right is None:
        return out
    # One item (a string, or anything not iterable) or a sequence of items.
    single = isinstance(right, (str, bytes)) or not isinstance(right, Iterable)
    items: Iterable[Any] = [right] if single else cast("Iterable[Any]", right)
    seen: set[Hashable] = {x for x in out if isinstance(x, Hashable)}
    for item in items:
        if isinstance(item, Hashable):
            if item in seen:
                continue
            seen.add(item)
        elif item in out:
            continue
        out.append(item)
    return out


def merge_dicts(
    left: Mapping[str, _V] | None, right: Mapping[str, _V | None] | None
) -> dict[str, _V]:
    """Reducer for dict channels: shallow merge; a key set to None is removed."""
    out: dict[str, _V] = dict(left or {})
    for key, value in (right or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def merge_flags(
    left: Mapping[str, bool] | None, right: Mapping[str, bool | None] | None
) -> dict[str, bool]:
    """Reducer for ``routing_flags``: like ``merge_dicts``, for boolean flags."""
    return merge_dicts(left, right)


@composable
class GraphState(TypedDict, total=False):
    """Base state for graphs of wrapped nodes. Subclass it and add your own keys.

    It combines with LangGraph's ``MessagesState`` and prebuilt ``AgentState`` and
    with any TypedDict, from ``typing`` or ``typing_extensions``, by inheritance:
    ``class State(MessagesState, GraphState): ...``.

    Channels:
        errors: Error records (``NodeError`` JSON dumps), appended; the last 100
            are kept (see ``bounded_errors``).
        routing_flags: ``{"blocked": True, ...}``, merged; None removes a flag.
        artifact_paths: Artifact name -> path, merged.
        evidence_refs: References, appended without duplicates.
        gate_decisions: Gate name -> decision record, merged.
        step_marks: Node name -> what the package noted about its latest execution
            (``{"cache": "hit"}`` or ``"reused"``, ``{"attempts": 3}``), merged;
            written by ``create_node`` nodes so run reports read them from the
            checkpoints alone.
    """

    errors: Annotated[list[dict[str, Any]], bounded_errors(DEFAULT_ERRORS_LIMIT)]
    routing_flags: Annotated[dict[str, bool], merge_flags]
    artifact_paths: Annotated[dict[str, str], merge_dicts]
    evidence_refs: Annotated[list[str], append_unique]
    gate_decisions: Annotated[dict[str, dict[str, Any]], merge_dicts]
    step_marks: Annotated[dict[str, dict[str, Any]], merge_dicts]


STATE_CHANNELS: tuple[str, ...] = (
    "errors",
    "routing_flags",
    "artifact_paths",
    "evidence_refs",
    "gate_decisions",
    "step_marks",
)


def _fspath(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


# An artifact path may be given as a pathlib.Path; state keeps plain strings.
_Path = Annotated[str, BeforeValidator(_fspath)]


class _Updates(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)

    errors: list[NodeError] | None = None
    routing_flags: dict[str, bool | None] | None = None
    artifact_paths: dict[str, _Path | None] | None = None
    evidence_refs: list[str] | None = None
    gate_decisions: dict[str, dict[str, Any] | None] | None = None
    step_marks: dict[str, dict[str, Any] | None] | None = None


# Validated as one mapping so that a ValidationError's location names the channel.
class _Overwrites(TypedDict, total=False):
    errors: list[NodeError]
    routing_flags: dict[str, bool]
    artifact_paths: dict[str, _Path]
    evidence_refs: list[str]
    gate_decisions: dict[str, dict[str, Any]]
    step_marks: dict[str, dict[str, Any]]


_OVERWRITES: TypeAdapter[_Overwrites] = TypeAdapter(_Overwrites)


def _as_record(value: Any) -> dict[str, Any]:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)


def _state_get(state: Any, key: str) -> Any:
    if state is None:
        return None
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)


def update_state(state: Any, updates: Mapping[str, Any]) -> dict[str, Any]:
    """Build a validated, reducer-compatible partial update.

    The ``GraphState`` channels are validated (records must be valid
    ``NodeError`` data; flags booleans; paths strings or ``os.PathLike``) and
    converted to plain JSON data. ``evidence_refs`` already in ``state`` are not
    repeated. A channel value wrapped in ``langgraph.types.Overwrite`` replaces the
    channel (validated the same way) — the way to clear errors or flags. Other
    keys pass through unchanged.

    Args:
        state: The node's current state (a mapping or an object with attributes).
        updates: The changes, keyed by channel name.

    Returns:
        A dict to return from a node.

    Raises:
        pydantic.ValidationError: If a channel value has the wrong shape.
    """
    plain: dict[str, Any] = {}
    overwrites: dict[str, Any] = {}
    for key, value in updates.items():
        if key in STATE_CHANNELS and isinstance(value, Overwrite):
            overwrites[key] = value.value
        else:
            plain[key] = value
    out = _validated(state, _as_lists(plain))
    out.update(_validated_overwrites(overwrites))
    return out


def _as_lists(plain: dict[str, Any]) -> dict[str, Any]:
    """One record or one ref accepted like a list of one, as the reducers do."""
    if isinstance(plain.get("errors"), (Mapping, BaseModel)):
        plain["errors"] = [plain["errors"]]
    if isinstance(plain.get("evidence_refs"), str):
        plain["evidence_refs"] = [plain["evidence_refs"]]
    if isinstance(plain.get("errors"), (list, tuple)):
        plain["errors"] = [
            e.model_dump() if isinstance(e, BaseModel) and not isinstance(e, NodeError) else e
            for e in plain["errors"]
        ]
    return plain


def _validated(state: Any, plain: dict[str, Any]) -> dict[str, Any]:
    """The channel updates validated and made plain JSON data; other keys as they are."""
    model = _Updates.model_validate(plain)
    out: dict[str, Any] = dict(model.model_extra or {})
    fields_set = model.model_fields_set
    if "errors" in fields_set and model.errors is not None:
        out["errors"] = [e.to_state() for e in model.errors]
    for key in ("routing_flags", "artifact_paths", "gate_decisions", "step_marks"):
        if key in fields_set and getattr(model, key) is not None:
            out[key] = dict(getattr(model, key))
    if "evidence_refs" in fields_set and model.evidence_refs is not None:
        existing = _state_get(state, "evidence_refs") or []
        refs: list[str] = append_unique([], model.evidence_refs)
        out["evidence_refs"] = [r for r in refs if r not in existing]
    return out


def _validated_overwrites(overwrites: dict[str, Any]) -> dict[str, Any]:
    """``Overwrite`` values validated like updates, wrapped again in ``Overwrite``."""
    checked: dict[str, Any] = dict(_OVERWRITES.validate_python(overwrites)) if overwrites else {}
    out: dict[str, Any] = {}
    for key, validated in checked.items():
        if key == "errors":
            validated = [_as_record(e) for e in validated]
        elif key == "evidence_refs":
            validated = append_unique([], validated)  # the channel never holds duplicates
        out[key] = Overwrite(validated)
    return out


def route_on_blocked(ok: str, blocked: str, *, flag: str = "blocked") -> Callable[[Any], str]:
    """A routing function for ``add_conditional_edges``: ``blocked`` if the flag is set.

    Args:
        ok: Destination when the flag is not set.
        blocked: Destination when ``routing_flags[flag]`` is true.
        flag: The flag to test.

    Returns:
        ``state -> destination``; its ``__name__`` reads well in graph drawings, and
        its return type (``Literal[ok, blocked]``) gives LangGraph the path map, so
        ``get_graph()``, mermaid drawings and Studio show both branches.
    """

    def route(state: Any) -> str:
        flags = _state_get(state, "routing_flags") or {}
        return blocked if flags.get(flag) else ok

    route.__name__ = f"route_on_{flag}"
    # A Literal return type is LangGraph's path map: drawings (get_graph, mermaid,
    # Studio) show both branches instead of an edge to every node.
    route.__annotations__ = {"state": Any, "return": Literal[ok, blocked]}
    return route
