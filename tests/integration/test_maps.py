"""The maps tell the truth: every subpackage's ``__init__`` docstring lists exactly the
modules beside it (a ``Modules::`` block, one ``name  what it holds`` line each), and
ARCHITECTURE.md names no module that does not exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "langgraph_runner"
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
HEADING = "Modules::"


def modules_beside(package: Path) -> set[str]:
    """The modules and subpackages in ``package`` (its ``__init__`` excluded)."""
    modules = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    return modules | {p.parent.name for p in package.glob("*/__init__.py")}


def module_map(docstring: str) -> dict[str, str]:
    """The ``Modules::`` block of a docstring: module name -> what it holds."""
    lines = docstring.splitlines()
    assert HEADING in (line.strip() for line in lines), f"no {HEADING!r} block"
    start = [line.strip() for line in lines].index(HEADING) + 1
    entries: dict[str, str] = {}
    for line in lines[start:]:
        if not line.strip():
            if entries:
                break
            continue
        if not line.startswith("    "):
            break
        name, _, what = line.strip().partition(" ")
        assert re.fullmatch(r"_?_?[a-z][a-z0-9_]*", name), f"not a module name: {line!r}"
        assert name not in entries, f"listed twice: {name}"
        entries[name] = what.strip()
    return entries


def test_every_subpackage_is_checked() -> None:
    """The check sees the private concept subpackages and the public ones."""
    assert {"_engine", "_runs", "_records", "_internal", "metrics", "agents", "runs"} <= set(
        SUBPACKAGES
    )


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_the_map_lists_exactly_the_modules_beside_it(name: str) -> None:
    """The ``Modules::`` block names every module of the subpackage, and nothing else."""
    package = PACKAGE / name
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"{name}/__init__.py has no docstring"
    entries = module_map(doc)
    listed = set(entries) - {"__init__"}
    assert sorted(listed) == sorted(modules_beside(package)), name
    assert all(entries.values()), f"{name}: every entry says what the module holds"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("Summary.\n\nModules::\n\n    a  one\n    b  two\n", ""),
        ("Summary.\n\n    a  one\n", "no 'Modules::' block"),
        ("Summary.\n\nModules::\n\n    a  one\n    a  two\n", "listed twice"),
        ("Summary.\n\nModules::\n\n    A-b  one\n", "not a module name"),
    ],
)
def test_the_map_parser(doc: str, message: str) -> None:
    """The parser reads a well-formed block and refuses a missing or malformed one."""
    if not message:
        assert module_map(doc) == {"a": "one", "b": "two"}
        return
    with pytest.raises(AssertionError, match=message):
        module_map(doc)


def test_architecture_names_only_modules_that_exist() -> None:
    """Every ``_subpackage/module`` path ARCHITECTURE.md mentions is a real module."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"`(_?[a-z]+(?:_[a-z]+)*/[a-z_]+)(?:\.py)?[`.]", text))
    assert paths, "the scan found no module path"
    bases = (PACKAGE, PACKAGE.parent)  # _runs/lifecycle, langgraph_runner/__init__
    missing = sorted(
        p
        for p in paths
        if not any((b / f"{p}.py").exists() or (b / p / "__init__.py").exists() for b in bases)
    )
    assert missing == []


def test_architecture_lists_every_subpackage_in_its_table() -> None:
    """The subpackage table of ARCHITECTURE.md has one row per subpackage."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    assert set(SUBPACKAGES) <= rows


# ------------------------------------------------------------------ the house's size


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_over_500_lines() -> None:
    """A module holds one concept: past 500 lines it is two, and is split."""
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}


def test_no_private_package_has_over_20_modules() -> None:
    """A room of more than 20 modules holds more than one concept."""
    big = {
        name: n
        for name in SUBPACKAGES
        if name.startswith("_") and (n := len(list((PACKAGE / name).glob("*.py")))) > 20
    }
    assert big == {}


def test_no_module_name_is_used_twice() -> None:
    """Every module's own name says which it is, without its package (``__init__`` aside)."""
    seen: dict[str, list[str]] = {}
    for p in _modules():
        if p.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(p.stem, []).append(str(p.relative_to(PACKAGE)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_architecture_is_at_most_200_lines() -> None:
    """ARCHITECTURE.md stays a map one reads at once (issue 47: at most 200 lines)."""
    lines = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"ARCHITECTURE.md has {len(lines)} lines"
