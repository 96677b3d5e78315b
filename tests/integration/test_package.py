"""The package as users get it: one version, a wheel and an sdist that carry everything."""

from __future__ import annotations

import ast
import email
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import langgraph_runner
from langgraph_runner import _version

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_written_once() -> None:
    """pyproject reads the version from the package; nothing else spells it."""
    # tomllib is 3.11+; on 3.10 its original, tomli, is there (pytest depends on it).
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "langgraph_runner._version.__version__"
    assert langgraph_runner.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+)?(\.dev\d+)?", _version.__version__)


def test_build_makes_a_wheel_and_an_sdist(tmp_path: Path) -> None:
    """`python -m build` makes both; the wheel carries the CLI, py.typed and the version."""
    pytest.importorskip("build", reason="the dev extra installs build")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    version = langgraph_runner.__version__
    wheel = tmp_path / f"langgraph_runner-{version}-py3-none-any.whl"
    sdist = tmp_path / f"langgraph_runner-{version}.tar.gz"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"langgraph_runner-{version}.dist-info"
        meta = email.message_from_bytes(zf.read(f"{info}/METADATA"))
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert {
        "langgraph_runner/py.typed",
        "langgraph_runner/__main__.py",
        "langgraph_runner/_reports/render.py",
        "langgraph_runner/metrics/prometheus.py",
    } <= names
    assert f"{info}/licenses/LICENSE" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    assert meta["Version"] == version
    assert "langgraph-runner = langgraph_runner._cli.main:main" in entry_points
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"postgres", "redis", "prometheus", "otel", "server", "agents"} <= extras
    with tarfile.open(sdist) as tf:
        members = set(tf.getnames())
    assert f"langgraph_runner-{version}/src/langgraph_runner/_version.py" in members


def _project() -> dict[str, Any]:
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def test_the_license_file_is_the_license_pyproject_and_the_readme_name() -> None:
    """LICENSE is the MIT text for the package's developers; pyproject and the README say MIT."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "the langgraph_runner developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert _project()["license"] == "MIT"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## License\n\nMIT" in readme


def test_every_user_extra_is_in_all_and_in_both_extras_tables() -> None:
    """Each optional integration is in `all`, and the README and docs/install.md tables list it."""
    extras = _project()["optional-dependencies"]
    users = sorted(set(extras) - {"all", "dev", "server"})
    all_spec = extras["all"][0]
    in_all = set(all_spec[all_spec.index("[") + 1 : all_spec.index("]")].split(","))
    assert in_all == set(users)
    for doc in ("README.md", "docs/install.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        for extra in [*users, "server", "all"]:
            assert f"| `{extra}` |" in text, (doc, extra)


def _modules_of(distribution: str) -> set[str]:
    """The importable module names an installed distribution provides, from its files
    (``langchain-core`` gives ``langchain_core``, ``langchain_core.messages``, ...;
    ``langgraph-checkpoint-sqlite`` gives ``langgraph.checkpoint.sqlite``, ...)."""
    files = importlib.metadata.distribution(distribution).files or []
    modules = set()
    for file in files:
        parts = file.parts
        if not parts or ".." in parts or parts[0].endswith((".dist-info", ".data")):
            continue
        if file.suffix not in (".py", ".so", ".pyd"):
            continue
        names = [*parts[:-1], parts[-1].split(".")[0]]
        if names[-1] == "__init__":
            names.pop()
        if names:
            modules.add(".".join(names))
    return modules


def _imported_by_src() -> set[str]:
    """Every absolute module name an import statement anywhere in src names (a
    ``from a.b import c`` names ``a.b`` and, in case it is a module, ``a.b.c``)."""
    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _never_imported(requirements: list[str], imported: set[str]) -> list[str]:
    """The distributions of ``requirements`` none of whose modules ``imported`` names."""
    unused = []
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        if not _modules_of(match.group()) & imported:
            unused.append(match.group())
    return unused


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    """Each distribution in [project.dependencies] is imported somewhere in src (mapped
    to its import names through its installed files): no dependency is declared unused."""
    imported = _imported_by_src()
    assert _never_imported(_project()["dependencies"], imported) == []
    # the check sees an unused one: src imports neither of these
    assert _never_imported(["requests>=2", "pytest"], imported) == ["requests", "pytest"]
