"""LangChain's own agent tests, bare and with every agent wrapped by langgraph-runner.

Downloads the sdist of the installed ``langchain`` release, extracts its
``tests/unit_tests/agents`` and runs them with pytest several ways:

- ``bare``: as LangChain runs them;
- ``raise-mw``: ``RunnerMiddleware(on_error="raise")`` appended to every agent's middleware;
- ``raise-harden``: every agent passed through ``harden(..., on_error="raise")``;
- ``record-mw`` / ``record-harden``: the same with the default options (failures recorded).

Then it prints, per mode, how many tests pass and the ids of those that pass bare
but not wrapped. Not part of the default test command (it downloads and takes minutes)::

    .venv/bin/python scripts/langchain_agent_tests.py                  # every mode
    .venv/bin/python scripts/langchain_agent_tests.py raise-mw -k pii  # one mode, some tests

The test-only pytest plugins LangChain's suite needs (syrupy, pytest-mock) are
installed into the temporary directory, never into the environment. Tests that
import packages that are not installed (langchain_tests, langchain_openai) fail to
import the same way in every mode.

This file is also the pytest plugin that does the wrapping (``-p langchain_agent_tests``,
mode in ``$LANGGRAPH_RUNNER_LC_MODE``): it replaces ``langchain.agents.create_agent``
before LangChain's test modules import it.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

MODE_ENV = "LANGGRAPH_RUNNER_LC_MODE"
MODES = ("bare", "raise-mw", "raise-harden", "record-mw", "record-harden")
PLUGINS = {"syrupy": "syrupy>=5,<6", "pytest_mock": "pytest-mock"}
RUN_TIMEOUT = 1800


# ---------------------------------------------------------------------------- the plugin


def pytest_configure(config: Any) -> None:
    """Replace ``create_agent`` by one that wraps every agent (the mode in the environment)."""
    mode = os.environ.get(MODE_ENV, "bare")
    if mode == "bare":
        return
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {', '.join(MODES)}")
    import langchain.agents
    import langchain.agents.factory

    from langgraph_runner import harden
    from langgraph_runner.agents import RunnerMiddleware
    from langgraph_runner.testing import no_wait

    policy, way = mode.split("-")
    options: dict[str, Any] = {"on_error": "raise"} if policy == "raise" else {}
    original = langchain.agents.factory.create_agent

    @functools.wraps(original)
    def create_agent(*args: Any, **kwargs: Any) -> Any:
        if way == "mw":
            kwargs["middleware"] = [*kwargs.get("middleware", ()), RunnerMiddleware(**options)]
            return original(*args, **kwargs)
        return harden(original(*args, **kwargs), **options)

    langchain.agents.factory.create_agent = create_agent
    langchain.agents.create_agent = create_agent
    # Retry waits are skipped for the whole session: a retried call runs again at once.
    config._langgraph_runner_no_wait = no_wait()
    config._langgraph_runner_no_wait.__enter__()


# ---------------------------------------------------------------------------- the runner


def _download(version: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
         ":all:", f"langchain=={version}", "-d", str(into)],
        check=True, timeout=600,
    )  # fmt: skip
    sdist = next(into.glob("langchain-*.tar.gz"))
    root = into / "src"
    with tarfile.open(sdist) as tar:
        prefix = f"{sdist.name[: -len('.tar.gz')]}/"
        members = []
        for member in tar.getmembers():
            rel = member.name[len(prefix) :]
            wanted = rel == "pyproject.toml" or rel in (
                "tests/__init__.py",
                "tests/unit_tests/__init__.py",
                "tests/unit_tests/conftest.py",
            )
            if wanted or rel.startswith("tests/unit_tests/agents/"):
                member.name = rel
                members.append(member)
        tar.extractall(root, members=members)  # PyPI's own sdist of the installed release
    conftest = root / "tests/unit_tests/conftest.py"
    if importlib.util.find_spec("langchain_tests") is None:
        # Only its VCR fixtures (unused by the agent tests) need langchain_tests and vcrpy.
        text = conftest.read_text()
        text = text.replace(
            "from langchain_tests.conftest import CustomPersister, CustomSerializer, "
            "base_vcr_config\nfrom vcr import VCR\n",
            "CustomPersister = CustomSerializer = base_vcr_config = VCR = None  # type: ignore\n",
        )
        text = text.replace("def pytest_recording_configure", "def _pytest_recording_configure")
        conftest.write_text(text)
    return root


def _plugins(into: Path) -> Path:
    target = into / "plugins"
    missing = [
        spec
        for module, spec in PLUGINS.items()
        if importlib.util.find_spec(module) is None and not (target / module).exists()
    ]
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
             str(target), *missing],
            check=True, timeout=600,
        )  # fmt: skip
    return target


def _outcomes(report: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    if not report.exists():
        return outcomes
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            outcome = "failed"
        elif "skipped" in kinds:
            outcome = "skipped"
        else:
            outcome = "passed"
        if outcomes.get(test_id) != "failed":  # a teardown error fails a passed test
            outcomes[test_id] = outcome
    return outcomes


def _run(mode: str, root: Path, plugins: Path, extra: list[str]) -> dict[str, str]:
    report = root / f"{mode}.xml"
    env = {
        **os.environ,
        MODE_ENV: mode,
        "PYTHONPATH": os.pathsep.join([str(plugins), str(Path(__file__).parent), str(root)]),
        "LANGGRAPH_TEST_FAST": "true",
    }
    cmd = [
        sys.executable, "-m", "pytest", "tests/unit_tests/agents", "-p", "langchain_agent_tests",
        "-p", "no:cacheprovider", "-o", "addopts=", "--snapshot-warn-unused",
        "--continue-on-collection-errors", "-q", "--no-header", "-rN", "--tb=no",
        f"--junitxml={report}", *extra,
    ]  # fmt: skip
    print(f"== {mode}: running ...", flush=True)
    done = subprocess.run(
        cmd, cwd=root, env=env, timeout=RUN_TIMEOUT, capture_output=True, text=True
    )
    tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"== {mode}: {tail[0]}", flush=True)
    outcomes = _outcomes(report)
    if not outcomes:  # pytest itself failed (the plugin, an import): show why
        print("\n".join((done.stdout + done.stderr).strip().splitlines()[-25:]))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 when a test passes bare and fails wrapped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modes", nargs="*", help=f"some of {', '.join(MODES[1:])} (default: all)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    parser.add_argument("--keep", type=Path, help="download and run in this directory")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modes) - set(MODES[1:]))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; expected {', '.join(MODES[1:])}")
    args.modes = args.modes or list(MODES[1:])
    version = importlib.metadata.version("langchain")
    work = args.keep or Path(tempfile.mkdtemp(prefix="langchain-agent-tests-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "src"
    if not (root / "tests/unit_tests/agents").exists():
        root = _download(version, work)
    plugins = _plugins(work)
    extra = ["-k", args.keyword] if args.keyword else []
    print(f"langchain {version}: tests/unit_tests/agents of its sdist, in {work}")
    bare = _run("bare", root, plugins, extra)
    passed = {t for t, o in bare.items() if o == "passed"}
    print(f"bare: {len(passed)} passed of {len(bare)}")
    worse = 0
    summary = []
    for mode in args.modes:
        result = _run(mode, root, plugins, extra)
        broken = sorted(t for t in passed if result.get(t) != "passed")
        worse += len(broken)
        ok = sum(1 for o in result.values() if o == "passed")
        summary.append(
            f"{mode}: {ok} passed of {len(result)}; pass-bare/fail-wrapped {len(broken)}"
        )
        print(summary[-1])
        for test_id in broken:
            print(f"    {test_id}")
    print(f"\nlangchain {version}, bare: {len(passed)} passed of {len(bare)}")
    print("\n".join(summary))
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
