"""The public API: __all__ of each public module, sorted, complete, one import path per name."""

from __future__ import annotations

import importlib
import types
from typing import Any

import pytest

PACKAGES = [
    "langgraph_runner",
    "langgraph_runner.agents",
    "langgraph_runner.metrics",
    "langgraph_runner.runs",
    "langgraph_runner.testing",
]
# Names a module's __getattr__ imports on first use (an optional extra): not in vars().
LAZY = {"langgraph_runner.agents": {"RunnerMiddleware", "RunnerMiddlewareConfig"}}
TOP_LEVEL_MAX = 75


def _ours(module: types.ModuleType, name: str, value: Any) -> bool:
    """A public attribute that belongs to the package's API.

    Submodules are not API members, and neither are helpers a module imported from
    elsewhere (``contextmanager``, ``Iterator``, the ``annotations`` future flag):
    an object is ours when its ``__module__`` is in langgraph_runner (constants
    without a ``__module__`` count as ours).
    """
    if name.startswith("_") or isinstance(value, types.ModuleType) or name == "TYPE_CHECKING":
        return False
    origin = getattr(value, "__module__", module.__name__)
    return not isinstance(origin, str) or origin.startswith("langgraph_runner")


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted(name: str) -> None:
    """__all__ is sorted, without duplicates."""
    exported = importlib.import_module(name).__all__
    assert list(exported) == sorted(exported)
    assert len(set(exported)) == len(exported)


@pytest.mark.parametrize("name", PACKAGES)
def test_everything_in_all_is_importable(name: str) -> None:
    """Every name in __all__ exists and can be imported with 'from ... import'."""
    module = importlib.import_module(name)
    namespace: dict[str, Any] = {}
    exec(f"from {name} import *", namespace)
    for member in module.__all__:
        assert hasattr(module, member), member
        assert namespace[member] is getattr(module, member)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_attribute_is_in_all(name: str) -> None:
    """Every public, non-submodule attribute that belongs to the package is listed in __all__."""
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items() if _ours(module, n, v)}
    assert sorted(public | LAZY.get(name, set())) == sorted(module.__all__)


def test_each_name_has_one_public_import_path() -> None:
    """No name is exported by two public modules (``run`` comes from runs, not also the top)."""
    homes: dict[str, list[str]] = {}
    for name in PACKAGES:
        for member in importlib.import_module(name).__all__:
            homes.setdefault(member, []).append(name)
    assert {m: h for m, h in homes.items() if len(h) > 1} == {}


def test_the_top_level_stays_small() -> None:
    """langgraph_runner exports the node author's names: at most 75 (run operations in runs)."""
    import langgraph_runner

    assert len(langgraph_runner.__all__) <= TOP_LEVEL_MAX
    assert "run" not in langgraph_runner.__all__ and "create_node" in langgraph_runner.__all__


def test_package_namespace_has_nothing_else_public() -> None:
    """The package only re-exports: apart from submodules, nothing public is outside __all__."""
    import langgraph_runner

    extra = {
        n
        for n, v in vars(langgraph_runner).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    } - set(langgraph_runner.__all__)
    assert extra == set()


def test_testing_exports_no_wait() -> None:
    """The testing module's API is no_wait, and it is the real helper."""
    from langgraph_runner import testing

    assert "no_wait" in testing.__all__
    assert callable(testing.no_wait)
