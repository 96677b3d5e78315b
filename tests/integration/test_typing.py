"""The documented create_node / node_factory / harden calls pass ``mypy --strict``.

One mypy run (the venv's, as a subprocess) checks three kinds of file:

- ``tests/typing_cases.py``: the calls the guides show, written as a strict user would; it
  must be clean as a whole;
- every ```python block of README.md and docs/ that calls one of them, as a module of its
  own: no error may fall on one of those calls (the rest of a page's example is prose code,
  not annotated for --strict; an error about another callee on the same line, such as
  LangGraph's ``add_node`` overloads, is not ours; a call inside ``try:`` is a page showing a
  refused call);
- a file with one deliberately wrong call, which mypy must report (so this test can fail).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_examples import find_examples

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
CASES = ROOT / "tests" / "typing_cases.py"
API = ("create_node", "node_factory", "harden")
CALLS = re.compile(r"\b(create_node|node_factory|harden)\(")
ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: (?P<message>.*)$")
CALLEE = re.compile(r'(?:to|of) "(\w+)"')
OURS = {*API, "__call__", "NodeFactory", "NodeOptions"}

WRONG = """\
from typing import Any

from langgraph_runner import create_node


def fetch(state: dict[str, Any]) -> dict[str, Any]:
    return state


create_node(fetch, timeout="30s")
"""

pytestmark = pytest.mark.slow  # seconds per test: skipped by -m 'not slow'


def _doc_blocks() -> list[tuple[str, str]]:
    """(module name, source) of every python block in the docs that calls the API."""
    blocks = []
    for page in PAGES:
        for example in find_examples(page):
            if example.prefix.startswith("python") and CALLS.search(example.source):
                stem = re.sub(r"\W", "_", page.stem)
                blocks.append((f"doc_{stem}_{example.start_line}", example.source))
    return blocks


def _api_call_lines(source: str) -> set[int]:
    """Lines of the API calls in ``source`` (also calls of a factory ``node_factory`` made).

    Calls inside a ``try:`` body are left out: there a page shows a call being refused.
    """
    tree = ast.parse(source)
    names = set(API)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _callee(node.value) == "node_factory"
        ):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    refused: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for stmt in node.body:
                refused |= set(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) in names and node.lineno not in refused:
            lines |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _about_our_call(message: str) -> bool:
    """Whether an error is about our call, not about another function called on that line."""
    callee = CALLEE.search(message)
    return callee is None or callee.group(1) in OURS


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _mypy(files: list[Path]) -> list[tuple[str, int, str]]:
    """Run the venv's mypy --strict over ``files``; its errors as (file name, line, message)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--no-pretty",
            # The project's cache: scripts/test.sh's ``mypy --strict`` has just checked the
            # package and its dependencies, so only the cases and the docs' blocks are new.
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    errors = []
    for line in result.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            errors.append((Path(match["file"]).name, int(match["line"]), match["message"]))
    return errors


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    """One mypy run over the cases, the docs' blocks and the wrong call: errors per file name."""
    folder = tmp_path_factory.mktemp("typing")
    files = [CASES]
    for module, source in _doc_blocks():
        path = folder / f"{module}.py"
        path.write_text(source, "utf-8")
        files.append(path)
    wrong = folder / "typing_wrong.py"
    wrong.write_text(WRONG, "utf-8")
    files.append(wrong)
    errors: dict[str, list[tuple[int, str]]] = {path.name: [] for path in files}
    for name, line, message in _mypy(files):
        errors.setdefault(name, []).append((line, message))
    return errors


def test_the_docs_have_blocks_that_call_the_api() -> None:
    """The collector finds the guides' create_node / node_factory / harden examples."""
    modules = [module for module, _ in _doc_blocks()]
    assert len(modules) > 30
    assert any(m.startswith("doc_timeouts_") for m in modules)
    assert any(m.startswith("doc_agents_") for m in modules)  # harden's page


def test_documented_calls_are_clean_under_strict(
    checked: dict[str, list[tuple[int, str]]],
) -> None:
    """typing_cases.py, every documented call written out, has no mypy --strict error."""
    assert checked[CASES.name] == []


def test_doc_examples_calls_type_check(checked: dict[str, list[tuple[int, str]]]) -> None:
    """No mypy --strict error falls on a create_node / node_factory / harden call of a doc page."""
    found = []
    for module, source in _doc_blocks():
        lines = _api_call_lines(source)
        found += [
            f"{module}:{line}: {message}"
            for line, message in checked[f"{module}.py"]
            if line in lines and _about_our_call(message)
        ]
    assert found == []


def test_a_wrong_call_is_reported(checked: dict[str, list[tuple[int, str]]]) -> None:
    """A timeout given as a string is a type error: the check can fail."""
    errors = checked["typing_wrong.py"]
    assert [line for line, _ in errors] == [
        WRONG.splitlines().index('create_node(fetch, timeout="30s")') + 1
    ]
    assert "create_node" in errors[0][1]
