"""The public module paths of 0.1 keep working for one release, each lookup warning where to go."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import langgraph_runner
from langgraph_runner._internal.moved import MOVED, MOVED_NAMES


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_path_imports_and_names_its_new_home(old: str) -> None:
    """Each old module imports; a name it held resolves to the same object, with a warning."""
    module = importlib.import_module(old)
    target = importlib.import_module(MOVED[old])
    names = [n for n in getattr(target, "__all__", dir(target)) if not n.startswith("_")]
    assert names, old
    with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
        value = getattr(module, names[0])
    assert value is getattr(target, names[0])


def test_a_public_name_points_at_the_package() -> None:
    """A name the package exports is sent to 'from langgraph_runner import ...'."""
    from langgraph_runner import RetryConfig

    with pytest.warns(DeprecationWarning, match="import RetryConfig from langgraph_runner$"):
        from langgraph_runner.retry import RetryConfig as old
    assert old is RetryConfig


def test_a_private_name_says_it_is_not_api() -> None:
    """A helper that was public by accident says so, naming its private module."""
    with pytest.warns(DeprecationWarning, match=r"not public API.*_policies\.timeouts"):
        from langgraph_runner.timeouts import run_sync_attempt  # noqa: F401


def test_attribute_access_on_the_package_still_finds_old_modules() -> None:
    """``langgraph_runner.retry`` (without importing it first) is the alias module."""
    assert langgraph_runner.retry.__name__ == "langgraph_runner.retry"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        langgraph_runner.nothing_here  # type: ignore[attr-defined]  # noqa: B018


def test_a_missing_name_is_an_attribute_error_naming_the_old_module() -> None:
    """A name neither path has fails like a plain module would."""
    module = importlib.import_module("langgraph_runner.retry")
    with pytest.raises(AttributeError, match=r"'langgraph_runner\.retry' has no attribute 'Nope'"):
        module.Nope  # noqa: B018


def test_star_import_of_an_old_path_works() -> None:
    """``from langgraph_runner.state import *`` gives the old names (warning for each)."""
    namespace: dict[str, object] = {}
    with pytest.warns(DeprecationWarning, match="import GraphState from langgraph_runner"):
        exec("from langgraph_runner.state import *", namespace)
    assert namespace["GraphState"] is langgraph_runner.GraphState


def test_the_package_itself_never_uses_an_old_path() -> None:
    """Importing every module of the package under -W error raises no DeprecationWarning."""
    code = (
        "import pkgutil, importlib, langgraph_runner\n"
        "for m in pkgutil.walk_packages(langgraph_runner.__path__, 'langgraph_runner.'):\n"
        "    if m.name.endswith(('.otel', '.prometheus', '__main__')):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["harden", "rebuild", "thread_lock"])
def test_an_old_module_never_shadows_the_function_of_its_name(name: str) -> None:
    """Importing ``langgraph_runner.harden`` leaves ``langgraph_runner.harden`` the function."""
    with warnings.catch_warnings():  # rebuild and thread_lock moved to runs (warns)
        warnings.simplefilter("ignore", DeprecationWarning)
        function = getattr(langgraph_runner, name)
        module = importlib.import_module(f"langgraph_runner.{name}")
        assert getattr(langgraph_runner, name) is function
    assert callable(function)
    assert module is sys.modules[f"langgraph_runner.{name}"]


@pytest.mark.parametrize("name", sorted(MOVED_NAMES))
def test_a_name_moved_off_the_top_level_still_resolves_with_a_warning(name: str) -> None:
    """``from langgraph_runner import run`` keeps working, pointing at ``langgraph_runner.runs``."""
    home = importlib.import_module(MOVED_NAMES[name])
    assert name in home.__all__
    assert name not in langgraph_runner.__all__
    message = rf"^langgraph_runner\.{name} is deprecated .* import {name} from {home.__name__}$"
    namespace: dict[str, object] = {}
    with pytest.warns(DeprecationWarning, match=message):
        exec(f"from langgraph_runner import {name}", namespace)
    assert namespace[name] is getattr(home, name)


def test_the_moved_warning_points_at_the_callers_line() -> None:
    """The warning names the user's file, so ``-W error`` and filters work where they write."""
    with pytest.warns(DeprecationWarning, match="import run_report from") as caught:
        langgraph_runner.run_report  # type: ignore[attr-defined]  # noqa: B018
    assert caught[0].filename == __file__


def test_the_runs_path_of_01_is_the_public_runs_module() -> None:
    """``langgraph_runner.runs`` is a real module now: its public names import without a warning."""
    code = "from langgraph_runner.runs import RUN_DEADLINE_KEY, RunResult, arun, run\n"
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "langgraph_runner.runs" not in MOVED


def test_the_other_01_names_of_runs_warn() -> None:
    """Names the 0.1 ``runs`` module held and the new one does not export still resolve."""
    from langgraph_runner import StepFailedError
    from langgraph_runner._runs.tracker import NodeRunStatus

    with pytest.warns(DeprecationWarning, match="import StepFailedError from langgraph_runner$"):
        from langgraph_runner.runs import StepFailedError as old  # type: ignore[attr-defined]
    assert old is StepFailedError
    with pytest.warns(DeprecationWarning, match=r"not public API.*_runs\.lifecycle"):
        from langgraph_runner.runs import NodeRunStatus as status  # type: ignore[attr-defined]
    assert status is NodeRunStatus
    with pytest.raises(ImportError):
        from langgraph_runner.runs import nothing_here  # type: ignore[attr-defined]  # noqa: F401


@pytest.mark.parametrize(
    "name", ["NodeError", "ErrorCode", "NodeTimeoutError", "error_from_fields"]
)
def test_the_errors_path_of_01_finds_records_and_exceptions(name: str) -> None:
    """``langgraph_runner.errors`` held the record and the exceptions: both still resolve."""
    from langgraph_runner._records import exceptions, record

    module = importlib.import_module("langgraph_runner.errors")
    with pytest.warns(DeprecationWarning, match=r"langgraph_runner\.errors\."):
        value = getattr(module, name)
    assert value is getattr(record, name, None) or value is getattr(exceptions, name)
    assert name in module.__all__
