"""Old import paths, kept importable for one release with a DeprecationWarning.

Until 0.2 every concept had its own public module (``langgraph_runner.retry``,
``langgraph_runner.cache`` ...). They now live in private subpackages and the API is
``langgraph_runner`` itself (plus ``runs``, ``metrics``, ``testing`` and ``agents``). An
import of an old path still works: a meta path finder makes an alias module whose
attributes are looked up in the new module, and every lookup warns, naming where to
import the name from. Type checkers do not see the old paths; the warning says what to
write instead.

The names that moved from the top level to a public module (``run`` and the other run
operations to ``langgraph_runner.runs``; the names ``metrics`` and ``agents`` already
exported) still resolve on ``langgraph_runner`` (``MOVED_NAMES``), warning the same way.
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

__all__ = [
    "ALSO_IN",
    "MOVED",
    "MOVED_NAMES",
    "alias_getattr",
    "install",
    "old_module",
    "package_getattr",
]

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
    "langgraph_runner.errors": "langgraph_runner._records.exceptions",
    "langgraph_runner.harden": "langgraph_runner._node.harden",
    "langgraph_runner.logs": "langgraph_runner._records.logs",
    "langgraph_runner.metrics.callbacks": "langgraph_runner.metrics._callbacks",
    "langgraph_runner.metrics.collector": "langgraph_runner.metrics._collector",
    "langgraph_runner.metrics.config": "langgraph_runner.metrics._config",
    "langgraph_runner.metrics.model": "langgraph_runner.metrics._model",
    "langgraph_runner.metrics.node_state": "langgraph_runner.metrics._node_state",
    "langgraph_runner.node": "langgraph_runner._node.factory",
    "langgraph_runner.progress": "langgraph_runner._policies.progress",
    "langgraph_runner.rebuild": "langgraph_runner._rebuild.partial",
    "langgraph_runner.report": "langgraph_runner._reports.report",
    "langgraph_runner.report_render": "langgraph_runner._reports.render",
    "langgraph_runner.rerun": "langgraph_runner._rebuild.rerun",
    "langgraph_runner.retry": "langgraph_runner._policies.retry",
    "langgraph_runner.sanitize": "langgraph_runner._records.sanitize",
    "langgraph_runner.state": "langgraph_runner._state.channels",
    "langgraph_runner.state_models": "langgraph_runner._state.models",
    "langgraph_runner.thread_lock": "langgraph_runner._runs.thread_lock",
    "langgraph_runner.timeouts": "langgraph_runner._policies.timeouts",
}

#: Old modules whose names were split: where else to look after ``MOVED[old]``.
ALSO_IN: dict[str, tuple[str, ...]] = {
    "langgraph_runner.context": ("langgraph_runner._policies.run_scope",),
    "langgraph_runner.errors": ("langgraph_runner._records.record",),
}

# ``langgraph_runner.runs`` was the run-lifecycle module; it is now the public ``runs``
# package, which answers its other old names itself (``alias_getattr``).

_RUNS = "langgraph_runner.runs"
_METRICS = "langgraph_runner.metrics"

#: Name once exported by ``langgraph_runner`` -> the one public module exporting it now.
MOVED_NAMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "Change",
            "EffectLedger",
            "FailedItem",
            "NodeReport",
            "NodeStatus",
            "Plan",
            "RUN_DEADLINE_KEY",
            "RebuildResult",
            "RunRecord",
            "RunReport",
            "RunResult",
            "RunStatus",
            "ThreadLock",
            "ablocked_nodes",
            "afailed_items",
            "arebuild",
            "arerun_blocked",
            "arun",
            "blocked_nodes",
            "cancel_run",
            "failed_items",
            "list_runs",
            "open_async_checkpointer",
            "open_checkpointer",
            "plan",
            "rebuild",
            "rerun_blocked",
            "run",
            "run_report",
            "thread_lock",
        ),
        _RUNS,
    ),
    **dict.fromkeys(("METRICS_COLLECTOR_KEY", "NodeMetrics", "NodeMetricsCollector"), _METRICS),
    "tool_error_messages": "langgraph_runner.agents",
}

_REMOVED_IN = "0.3"
_HOMES = (
    "langgraph_runner",
    _RUNS,
    _METRICS,
    "langgraph_runner.agents",
    "langgraph_runner.testing",
)


def _public_home(name: str, value: object) -> str | None:
    """The public module that exports ``value`` as ``name``, if any."""
    for home in _HOMES:
        module = sys.modules.get(home) or importlib.import_module(home)
        if name in getattr(module, "__all__", ()) and getattr(module, name, None) is value:
            return home
    return None


def _message(old: str, new: str, name: str, value: object) -> str:
    home = _public_home(name, value)
    # An old module either goes away, or (``runs``) stays public and loses the name.
    going = f"the module {old}" if old in MOVED else f"the name {old}.{name}"
    if home is not None:
        return (
            f"{old}.{name} is deprecated and {going} goes away in {_REMOVED_IN}: "
            f"import {name} from {home}"
        )
    return (
        f"{old}.{name} is not public API: it moved to the private module {new} "
        f"and {going} goes away in {_REMOVED_IN}"
    )


def _homes(old: str, new: str) -> list[types.ModuleType]:
    return [importlib.import_module(m) for m in (new, *ALSO_IN.get(old, ()))]


def alias_getattr(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the old module ``old``: names of ``new``, each warning."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            if name == "__all__":
                return sorted({n for m in _homes(old, new) for n in getattr(m, "__all__", [])})
            raise AttributeError(name)
        for target in _homes(old, new):
            if hasattr(target, name):
                value = getattr(target, name)
                warnings.warn(
                    _message(old, target.__name__, name, value), DeprecationWarning, stacklevel=2
                )
                return value
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

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
        module.__getattr__ = alias_getattr(old, new)  # type: ignore[method-assign]
        module.__dir__ = lambda: sorted({n for m in _homes(old, new) for n in dir(m)})  # type: ignore[method-assign]


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
            and (
                name in MOVED_NAMES  # the package's __getattr__ answers the moved function
                or not isinstance(self.__dict__.get(name, value), types.ModuleType)
            )
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


def package_getattr(name: str) -> Any:
    """``langgraph_runner.<name>`` for a moved name (warning) or an old module (the package's
    ``__getattr__``); a moved name wins over an old module of the same name (``rebuild``).
    """
    home = MOVED_NAMES.get(name)
    if home is None:
        return old_module(name)
    warnings.warn(
        f"langgraph_runner.{name} is deprecated and goes away in {_REMOVED_IN}: "
        f"import {name} from {home}",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(home), name)
