"""Tests for _internal.extras: a missing optional package names the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

from langgraph_runner._internal.extras import EXTRAS, extra_hint, require_extra
from langgraph_runner._runs.checkpoint import open_async_checkpointer, open_checkpointer


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make importing these modules (and any submodule) fail as if they were not installed."""
    loaded = [m for m in sys.modules if any(m.startswith(f"{name}.") for name in modules)]
    for name in [*modules, *loaded]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("extra", ["postgres", "redis", "prometheus", "otel", "server"])
def test_hint_names_the_pip_command(extra: str) -> None:
    """Every extra's message carries the exact pip command, quoted for the shell."""
    assert f'pip install "langgraph-runner[{extra}]"' in extra_hint(extra)
    assert extra in EXTRAS


def test_unknown_extra_is_a_programming_error() -> None:
    """Asking for an extra the package does not define fails loudly."""
    with pytest.raises(ValueError, match="'gpu'"):
        extra_hint("gpu")


@pytest.mark.parametrize(("extra", "module"), [("redis", "redis"), ("server", "langgraph_sdk")])
def test_require_extra_imports_or_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, extra: str, module: str
) -> None:
    """An installed module is returned; a missing one raises ImportError naming the extra."""
    assert require_extra(extra, module) is importlib.import_module(module)
    _block(monkeypatch, module)
    with pytest.raises(ImportError, match=rf'pip install "langgraph-runner\[{extra}\]"'):
        require_extra(extra, module)


def test_postgres_url_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL checkpointer URL without the postgres extra names it (sync and async)."""
    _block(monkeypatch, "langgraph.checkpoint.postgres", "langgraph.checkpoint.postgres.aio")
    url = "postgresql://postgres@127.0.0.1:1/test"
    with pytest.raises(ImportError, match=r"langgraph-runner\[postgres\]"), open_checkpointer(url):
        pass


async def test_async_postgres_url_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """The async opener names the extra too."""
    _block(monkeypatch, "langgraph.checkpoint.postgres", "langgraph.checkpoint.postgres.aio")
    with pytest.raises(ImportError, match=r"langgraph-runner\[postgres\]"):
        async with open_async_checkpointer("postgresql://postgres@127.0.0.1:1/test"):
            pass


@pytest.mark.parametrize(
    ("module", "package", "extra"),
    [
        ("langgraph_runner.metrics.prometheus", "prometheus_client", "prometheus"),
        ("langgraph_runner.metrics.otel", "opentelemetry", "otel"),
    ],
)
def test_exporter_modules_without_their_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, package: str, extra: str
) -> None:
    """Importing an exporter without its package raises ImportError naming the extra."""
    monkeypatch.delitem(sys.modules, module, raising=False)
    _block(monkeypatch, package)
    with pytest.raises(ImportError, match=rf'pip install "langgraph-runner\[{extra}\]"') as info:
        importlib.import_module(module)
    assert (info.value.name or "").split(".")[0] == package
