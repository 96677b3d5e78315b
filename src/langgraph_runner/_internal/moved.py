"""The public module paths of 0.1, kept importable for one release with a DeprecationWarning.

Until 0.2 every concept had its own public module (``langgraph_runner.retry``,
``langgraph_runner.cache`` ...). They now live in private subpackages and the API is
``langgraph_runner`` itself (plus ``metrics``, ``testing`` and ``agents``). An import of an
old path still works: a meta path finder makes an alias module whose attributes are
looked up in the new module, and every lookup warns, naming where to import the name from.
Type checkers do not see the old paths; the warning says what to write instead.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MOVED", "install", "old_module"]

#: Old public module -> the private module that holds its code now.
MOVED: dict[str, str] = {
    "langgraph_runner.abort": "langgraph_runner._policies.abort",
    "langgraph_runner.bounded": "langgraph_runner._state.bounded",
    "langgraph_runner.cache": "langgraph_runner._cache.node_cache",
    "langgraph_runner.cache_backends": "langgraph_runner._cache.backends",
    "langgraph_runner.checkpoint": "langgraph_runner._runs.checkpoint",
    "langgraph_runner.circuit": "langgraph_runner._policies.circuit",
    "langgraph_runner.circuit_redis": "langgraph_runner._policies.circuit_redis",
    "langgraph_runner.classify": "langgraph_runner._records.classify",
    "langgraph_runner.cli": "langgraph_runner._cli.main",
    "langgraph_runner.context": "langgraph_runner._policies.context",
    "langgraph_runner.effects": "langgraph_runner._runs.effects",
    "langgraph_runner.errors": "langgraph_runner._records.errors",
    "langgraph_runner.harden": "langgraph_runner._node.harden",
    "langgraph_runner.logs": "langgraph_runner._records.logs",
    "langgraph_runner.metrics.callbacks": "langgraph_runner.metrics._callbacks",
    "langgraph_runner.metrics.collector": "langgraph_runner.metrics._collector",
    "langgraph_runner.metrics.config": "langgraph_runner.metrics._config",
    "langgraph_runner.metrics.model": "langgraph_runner.metrics._model",
    "langgraph_runner.metrics.node_state": "langgraph_runner.metrics._node_state",
    "langgraph_runner.node": "langgraph_runner._node.factory",
    "langgraph_runner.progress": "langgraph_runner._policies.progress",
    "langgraph_runner.rebuild": "langgraph_runner._runs.rebuild",
    "langgraph_runner.report": "langgraph_runner._runs.report",
    "langgraph_runner.report_render": "langgraph_runner._runs.report_render",
    "langgraph_runner.rerun": "langgraph_runner._runs.rerun",
    "langgraph_runner.retry": "langgraph_runner._policies.retry",
    "langgraph_runner.runs": "langgraph_runner._runs.lifecycle",
    "langgraph_runner.sanitize": "langgraph_runner._records.sanitize",
    "langgraph_runner.state": "langgraph_runner._state.channels",
    "langgraph_runner.state_models": "langgraph_runner._state.models",
    "langgraph_runner.thread_lock": "langgraph_runner._runs.thread_lock",
    "langgraph_runner.timeouts": "langgraph_runner._policies.timeouts",
}

_REMOVED_IN = "0.3"


def _public_home(name: str, value: object) -> str | None:
    """The public module that exports ``value`` as ``name``, if any."""
    for home in ("langgraph_runner", "langgraph_runner.metrics", "langgraph_runner.testing"):
        module = sys.modules.get(home) or importlib.import_module(home)
        if name in getattr(module, "__all__", ()) and getattr(module, name, None) is value:
            return home
    return None


def _message(old: str, new: str, name: str, value: object) -> str:
    home = _public_home(name, value)
    if home is not None:
        return (
            f"{old}.{name} is deprecated and the module {old} goes away in {_REMOVED_IN}: "
            f"import {name} from {home}"
        )
    return (
        f"{old}.{name} is not public API: it moved to the private module {new} "
        f"and the module {old} goes away in {_REMOVED_IN}"
    )


def _alias_getattr(old: str, new: str) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            if name == "__all__":
                target = importlib.import_module(new)
                return list(getattr(target, "__all__", []))
            raise AttributeError(name)
        target = importlib.import_module(new)
        try:
            value = getattr(target, name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(_message(old, new, name, value), DeprecationWarning, stacklevel=2)
        return value

    return __getattr__


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old public modules and loads each as an alias of its new home."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        old = module.__name__
        new = MOVED[old]
        module.__doc__ = f"Deprecated alias of {new}; removed in {_REMOVED_IN}."
        module.__getattr__ = _alias_getattr(old, new)  # type: ignore[method-assign]
        module.__dir__ = lambda: dir(importlib.import_module(new))  # type: ignore[method-assign]


_FINDER = _MovedFinder()


class _Package(types.ModuleType):
    """The package module, which keeps its API when an old module of the same name is imported.

    ``harden``, ``rebuild`` and ``thread_lock`` were both a module and the function it
    defined. Importing an old module sets it as an attribute of its parent; here that
    must not replace the function the package exports.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if (
            isinstance(value, types.ModuleType)
            and value.__name__ in MOVED
            and not isinstance(self.__dict__.get(name, value), types.ModuleType)
        ):
            return
        super().__setattr__(name, value)


def install(package: types.ModuleType) -> None:
    """Put the finder at the end of ``sys.meta_path`` (once): real modules always win."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
    for module in (package, sys.modules.get(f"{package.__name__}.metrics")):
        if module is not None and type(module) is types.ModuleType:
            module.__class__ = _Package


def old_module(name: str) -> types.ModuleType:
    """``langgraph_runner.<name>`` for an old top-level module name (used by ``__getattr__``)."""
    full = f"langgraph_runner.{name}"
    if full not in MOVED:
        raise AttributeError(f"module 'langgraph_runner' has no attribute {name!r}")
    return importlib.import_module(full)
