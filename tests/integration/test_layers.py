"""The layering check (no import circles, a private engine, one-way imports inside it) and
the size limits (modules up to 600 lines, functions up to complexity 12).

The contracts live in pyproject.toml under ``[tool.importlinter]`` and are
checked by import-linter; these tests run it on the package as it is, and on
copies with one bad import planted, to show the check really catches each kind.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def lint_imports(src: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the project's contracts on the package under ``src``."""
    config = tmp_path / "contracts.toml"
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config.write_text(text[text.index("[tool.importlinter]") :], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(src)}
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def planted(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package with ``line`` appended to ``module`` (a path under the package)."""
    src = tmp_path / "src"
    shutil.copytree(
        SRC / "langgraph_runner",
        src / "langgraph_runner",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    target = src / "langgraph_runner" / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    return src


def test_the_package_keeps_every_contract(tmp_path: Path) -> None:
    """No circle, the engine private, its layers one-way: every contract is kept."""
    result = lint_imports(SRC, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        pytest.param(
            "_records/classify.py",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from langgraph_runner._node.factory import create_node",
            "No import circles",
            id="type-checking-circle",
        ),
        pytest.param(
            "_cache/node_cache.py",
            "from langgraph_runner._engine.spec import NodeSpec",
            "Only create_node (node) and the testing kit import the private engine",
            id="public-module-imports-engine",
        ),
        pytest.param(
            "_engine/call.py",
            "from langgraph_runner._engine.loop import make_entries",
            "Inside the engine, imports flow one way",
            id="engine-imports-upward",
        ),
        pytest.param(
            "_engine/records.py",
            "from langgraph_runner._node.factory import create_node",
            "The engine never imports the modules that use it",
            id="engine-imports-the-api",
        ),
    ],
)
def test_a_bad_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """Each kind of bad import is reported as a broken contract, by name."""
    result = lint_imports(planted(tmp_path, module, line), tmp_path)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert any(contract in ln for ln in broken), result.stdout


MAX_LINES = 600
MAX_COMPLEXITY = 12


def test_every_module_is_at_most_600_lines() -> None:
    """One concept per module, small enough to read: no source file over 600 lines."""
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((SRC / "langgraph_runner").rglob("*.py"))
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def _ruff_complexity(target: Path) -> subprocess.CompletedProcess[str]:
    """ruff's mccabe check (C901) with the project's configuration, on ``target``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--select",
            "C901",
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--output-format",
            "concise",
            str(target),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_the_complexity_limit_is_configured() -> None:
    """pyproject selects ruff's C90 rules with max-complexity 12."""
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["ruff"]["lint"]
    assert "C90" in lint["select"]
    assert lint["mccabe"]["max-complexity"] == MAX_COMPLEXITY


def test_no_function_is_above_the_complexity_limit() -> None:
    """No function of the package is above the limit without a noqa saying why."""
    result = _ruff_complexity(SRC / "langgraph_runner")
    assert result.returncode == 0, result.stdout
    for path in sorted((SRC / "langgraph_runner").rglob("*.py")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if "noqa: C901" in line:
                reason = line.split("noqa: C901", 1)[1].strip()
                assert reason, f"{path.relative_to(SRC)}:{number}: a C901 noqa without a reason"


def test_the_complexity_check_catches_a_tangled_function(tmp_path: Path) -> None:
    """A function with 13 branches is reported (the check can fail)."""
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(MAX_COMPLEXITY))
    tangled = tmp_path / "tangled.py"
    tangled.write_text(f"def tangled(x: int) -> int:\n{branches}    return -1\n", "utf-8")
    result = _ruff_complexity(tangled)
    assert result.returncode == 1
    assert "C901 `tangled` is too complex (13 > 12)" in result.stdout
