"""The package as users get it: one version, a wheel and an sdist that carry everything."""

from __future__ import annotations

import email
import importlib
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

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
        "langgraph_runner/_runs/report_render.py",
        "langgraph_runner/metrics/prometheus.py",
    } <= names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    assert meta["Version"] == version
    assert "langgraph-runner = langgraph_runner._cli.main:main" in entry_points
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"postgres", "redis", "prometheus", "otel", "server"} <= extras
    with tarfile.open(sdist) as tf:
        members = set(tf.getnames())
    assert f"langgraph_runner-{version}/src/langgraph_runner/_version.py" in members
