"""Every ```python block in README.md and docs/ runs as shown and prints what the page shows.

Conventions (documented in docs/contributing.md):

- each ```python block runs stand-alone, in a fresh module, in an empty working directory;
- a ```text block that follows it (blank lines between are allowed) is its expected stdout,
  compared like a doctest with ELLIPSIS: ``...`` stands for any text (timestamps, ids);
- a block that prints something must be followed by such a ```text block;
- ``<!-- requires: postgres -->`` or ``<!-- requires: redis -->`` on the line above a block
  skips it where that service is absent (it fails under CI=true, as every service test does);
  its default local URL in the block is replaced by the test service's URL;
- retry waits are skipped (``no_wait()``), so retries cost nothing here.

Blocks are found by pytest-examples (``find_examples``: path, line and fence of each block).
They are run here rather than with its ``EvalExample.run``, whose traceback rewriting (frames
rebuilt through ctypes) crashes pytest 9 with an INTERNALERROR on any failing block. Each block
is compiled with the Markdown file as its file name and its real line numbers, so a failure's
traceback shows the lines of the page itself.
"""

from __future__ import annotations

import doctest
import logging
import re
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from pytest_examples import CodeExample, find_examples

from langgraph_runner._policies.circuit import reset_circuit_breakers
from langgraph_runner.testing import no_wait
from tests import services

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

REQUIRES = re.compile(r"^<!--\s*requires:\s*(\w+)\s*-->$")
DEFAULT_URLS = {
    "postgres": ("postgresql://postgres@127.0.0.1:5432/test", services.POSTGRES_URL),
    "redis": ("redis://127.0.0.1:6379/0", services.REDIS_URL),
}


@dataclass(frozen=True)
class DocBlock:
    """One ```python block with what the page says around it."""

    example: CodeExample
    requires: str | None
    expected: str | None

    @property
    def id(self) -> str:
        return f"{self.example.path.relative_to(ROOT)}:{self.example.start_line}"


def _blocks() -> Iterator[DocBlock]:
    for page in PAGES:
        lines = page.read_text("utf-8").splitlines()
        for example in find_examples(page):
            if not example.prefix.startswith("python"):
                continue  # ```pycon and friends are not ours
            fence = example.start_line - 1  # 0-based index of the opening fence
            above = lines[fence - 1].strip() if fence > 0 else ""
            match = REQUIRES.match(above)
            yield DocBlock(example, match.group(1) if match else None, _output_after(lines, fence))


def _output_after(lines: list[str], fence: int) -> str | None:
    """The ```text block right after the code block that opens at ``fence``, if any."""
    close = next(i for i in range(fence + 1, len(lines)) if lines[i].strip() == "```")
    i = close + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != "```text":
        return None
    end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
    return textwrap.dedent("\n".join(lines[i + 1 : end])) + "\n"  # a block in a list item


BLOCKS = list(_blocks())


def test_the_pages_have_blocks() -> None:
    """The collector finds the README's and the guides' blocks (a broken finder skips all)."""
    readme = [b for b in BLOCKS if b.example.path.name == "README.md"]
    assert readme, "no python block found in README.md"
    assert len(BLOCKS) > 30


def test_requires_markers_name_known_services() -> None:
    """A misspelt requires marker would run a service block unguarded or never run it."""
    for page in PAGES:
        for line in page.read_text("utf-8").splitlines():
            if line.strip().startswith("<!-- requires"):
                match = REQUIRES.match(line.strip())
                assert match and match.group(1) in DEFAULT_URLS, f"{page.name}: {line}"


def test_readme_links_into_the_docs_resolve() -> None:
    """The README is not part of the site build, so its links into docs/ are checked here."""
    readme = (ROOT / "README.md").read_text("utf-8")
    targets = re.findall(r"\]\((docs/[^)#\s]+)", readme)
    assert targets
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert not missing, f"README links to missing pages: {missing}"


DEV_LOG = re.compile(r"MISSED|this session|/work/|/home/|/root/|/Users/|[A-Z]:\\\\Users")


def test_pages_hold_no_development_log_or_machine_paths() -> None:
    """What users read has no development diary and no path from a developer's machine."""
    for page in [*PAGES, ROOT / "CHANGELOG.md"]:
        for number, line in enumerate(page.read_text("utf-8").splitlines(), 1):
            assert not DEV_LOG.search(line), f"{page.relative_to(ROOT)}:{number}: {line}"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty working directory, fresh shared breakers and logging (the package logger,
    the root logger and structlog's configuration) and tracing left as they were."""
    monkeypatch.chdir(tmp_path)
    reset_circuit_breakers()
    _keep_tracer_provider(monkeypatch)
    logger, root = logging.getLogger("langgraph_runner"), logging.getLogger()
    saved = (list(logger.handlers), logger.level, logger.propagate)
    root_saved, structlog_saved = (list(root.handlers), root.level), structlog.get_config()
    yield
    logger.handlers[:], logger.propagate = saved[0], saved[2]
    root.handlers[:] = root_saved[0]
    logger.setLevel(saved[1])  # setLevel, not the attribute: it clears the level caches
    root.setLevel(root_saved[1])
    structlog.configure(**structlog_saved)
    reset_circuit_breakers()


def _keep_tracer_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a block set OpenTelemetry's global tracer provider (once a process) for itself only.

    A provider left set would make every later run in this process a span, and its trace id
    the span's rather than the run id.
    """
    try:
        from opentelemetry import trace
        from opentelemetry.util._once import Once
    except ImportError:  # no OpenTelemetry: nothing a block could set
        return

    monkeypatch.setattr(trace, "_TRACER_PROVIDER", trace._TRACER_PROVIDER)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())


def _run(example: CodeExample, source: str) -> None:
    """Run ``source`` as a fresh module whose code lines are the page's own lines."""
    name = f"docs_block_{example.path.stem.replace('-', '_')}_{example.start_line}"
    module = types.ModuleType(name)
    module.__file__ = str(example.path)
    code = compile("\n" * example.start_line + source, str(example.path), "exec")
    sys.modules[name] = module  # pydantic and dataclasses look their module up
    try:
        exec(code, module.__dict__)
    finally:
        del sys.modules[name]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_block_runs_and_prints_what_the_page_shows(
    block: DocBlock, capsys: pytest.CaptureFixture[str], isolated: None
) -> None:
    """The block runs as shown; its stdout matches the ```text block after it."""
    source = block.example.source
    if block.requires is not None:
        getter = {"postgres": services.postgres_url, "redis": services.redis_url}
        getter[block.requires]()
        default, actual = DEFAULT_URLS[block.requires]
        source = source.replace(default, actual)
    with no_wait():
        _run(block.example, source)
    out = capsys.readouterr().out
    if block.expected is None:
        assert out == "", f"{block.id} prints but the page shows no ```text block after it"
        return
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS
    if not checker.check_output(block.expected, out, flags):
        diff = checker.output_difference(doctest.Example("", block.expected), out, flags)
        pytest.fail(f"{block.id}: output differs from the page\n{diff}", pytrace=False)
