"""A TypedDict metaclass that lets one state inherit from ``typing`` and ``typing_extensions`` ones.

``typing.TypedDict`` and ``typing_extensions.TypedDict`` are different classes with
different metaclasses on every Python this package supports, so
``class State(MessagesState, MyTypingDict)`` fails with "metaclass conflict".
LangGraph's own states (``MessagesState``, the prebuilt ``AgentState``) are
``typing_extensions`` ones, and pydantic (hence ``get_input_jsonschema()``) refuses
``typing.TypedDict`` before Python 3.12.

``composable(cls)`` gives a ``typing_extensions`` TypedDict a metaclass that
derives from both, so any subclass may also list TypedDicts of either kind. Each
base of the other kind is handed to ``typing_extensions`` as a copy of its keys
(annotations, required/optional/read-only keys): the class that comes out is an
ordinary ``typing_extensions`` TypedDict (``is_typeddict`` true for both modules,
``get_type_hints`` as usual), only its metaclass is ours.
"""

from __future__ import annotations

import typing
from typing import Any, TypeVar, cast

import typing_extensions

__all__ = ["composable"]

_T = TypeVar("_T", bound=type)

# The metaclasses, read from instances rather than private names.
_EXT_META: type = type(typing_extensions.TypedDict("_Ext", {}))  # type: ignore[operator]
_TYPING_META: type = type(typing.TypedDict("_Typing", {}))  # type: ignore[operator]

_KEY_ATTRS = (
    "__annotations__",
    "__required_keys__",
    "__optional_keys__",
    "__readonly_keys__",
    "__mutable_keys__",
    "__total__",
)


def _as_ext_base(base: Any) -> Any:
    """``base`` as a class ``typing_extensions``' TypedDict machinery accepts as a base."""
    if type(base) is _EXT_META or not isinstance(base, (_EXT_META, _TYPING_META)):
        return base
    base = cast(type, base)
    ns: dict[str, Any] = {k: base.__dict__[k] for k in _KEY_ATTRS if k in base.__dict__}
    if "__mutable_keys__" not in ns:  # typing before 3.13 has no read-only keys
        ns["__readonly_keys__"] = frozenset()
        ns["__mutable_keys__"] = frozenset(ns.get("__annotations__", {}))
    ns["__module__"] = base.__module__
    ns["__qualname__"] = base.__qualname__
    # pydantic walks __orig_bases__ of TypedDicts to collect decorators.
    ns["__orig_bases__"] = base.__dict__.get("__orig_bases__", base.__bases__)
    return type.__new__(_EXT_META, base.__name__, (dict,), ns)


if _EXT_META is _TYPING_META:  # a typing_extensions that re-exports typing's TypedDict

    def composable(cls: _T) -> _T:
        """Return ``cls`` unchanged: both TypedDicts are one class here."""
        return cls

else:

    class _ComposableMeta(_EXT_META, _TYPING_META):  # type: ignore[misc]
        def __new__(
            mcls, name: str, bases: tuple[Any, ...], ns: dict[str, Any], **kwargs: Any
        ) -> Any:
            ext_bases = tuple(_as_ext_base(b) for b in bases)
            cls = _EXT_META.__new__(mcls, name, ext_bases, ns, **kwargs)
            cls.__class__ = mcls  # so that subclasses compose again
            return cls

    def composable(cls: _T) -> _T:
        """Give the ``typing_extensions`` TypedDict ``cls`` the composable metaclass.

        Args:
            cls: A TypedDict defined with ``typing_extensions.TypedDict``.

        Returns:
            ``cls`` itself, now accepting ``typing`` TypedDicts beside it as bases.
        """
        if type(cls) is not _EXT_META:
            raise TypeError(f"{cls.__name__} must be a typing_extensions.TypedDict")
        cls.__class__ = _ComposableMeta
        return cls
