"""Artifacts a cached result references: a hit is served only if they still exist.

A result references artifacts through ``artifact_paths`` (a list, or GraphState's
``{name: path}`` dict; in a dict result, or in a ``Command``'s update) and through
what ``NodeCache(artifacts=)`` declares: names of result fields holding a path or a
list of paths, or a callable ``result -> paths``. Local paths and ``file://`` URIs
are checked on disk; other URIs are trusted unless ``NodeCache(artifact_exists=)``
checks them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

__all__ = ["ArtifactSpec", "check_artifact_spec", "local_exists", "missing_artifact"]

ArtifactSpec: TypeAlias = Sequence[str] | Callable[[Any], Iterable[str]] | None
"""Field names holding paths, or a callable returning the paths; None for none."""

ARTIFACT_FIELD = "artifact_paths"


def check_artifact_spec(artifacts: object, exists: object) -> None:
    """Validate ``NodeCache(artifacts=, artifact_exists=)``, naming the field."""
    if artifacts is not None and not callable(artifacts):
        if isinstance(artifacts, (str, bytes)) or not isinstance(artifacts, Sequence):
            raise TypeError(
                f"NodeCache: artifacts must be field names or a callable, got {artifacts!r}"
            )
        if not all(isinstance(name, str) and name for name in artifacts):
            raise TypeError(f"NodeCache: artifacts must be non-empty strings, got {artifacts!r}")
    if exists is not None and not callable(exists):
        raise TypeError(f"NodeCache: artifact_exists must be callable, got {exists!r}")


def local_exists(uri: str) -> bool:
    """Whether a local path or ``file://`` URI exists; other URIs are trusted (True)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return os.path.exists(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:  # "C:\\..." is a drive, not a scheme
        return True
    return os.path.exists(uri)


def _update_of(result: Any) -> Any:
    update = getattr(result, "update", None) if not isinstance(result, Mapping) else result
    return update if isinstance(update, Mapping) else None


def _paths_in(value: Any) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)] if isinstance(os.fspath(value), str) else []
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in _paths_in(item)]
    if isinstance(value, Mapping):  # GraphState's artifact_paths: {"report": path}
        return [p for item in value.values() if item is not None for p in _paths_in(item)]
    return []


def referenced(result: Any, artifacts: ArtifactSpec) -> list[str]:
    """Every artifact path ``result`` references."""
    update = _update_of(result)
    paths = _paths_in(update.get(ARTIFACT_FIELD)) if update is not None else []
    if callable(artifacts):
        paths.extend(_paths_in(list(artifacts(result))))
    elif artifacts is not None and update is not None:
        for name in artifacts:
            paths.extend(_paths_in(update.get(name)))
    return paths


def missing_artifact(
    result: Any, artifacts: ArtifactSpec, exists: Callable[[str], bool] | None
) -> str | None:
    """The first referenced artifact that no longer exists, or None."""
    check = exists if exists is not None else local_exists
    for path in referenced(result, artifacts):
        if not check(path):
            return path
    return None
