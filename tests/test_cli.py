"""Tests for langgraph_runner.cli: the `langgraph-runner report` command."""

from __future__ import annotations

import contextlib
import json
import operator
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner.checkpoint import open_checkpointer
from langgraph_runner.cli import main
from langgraph_runner.report import run_report
from tests import services

PG_URL = services.POSTGRES_URL


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    errors: Annotated[list[dict[str, Any]], operator.add]


def _run_graph(url: str, thread_id: str, *, fail: bool = False) -> None:
    def first(state: State) -> dict[str, Any]:
        return {"log": ["first"]}

    def second(state: State) -> dict[str, Any]:
        if fail:
            raise ConnectionError("upstream down")
        return {"log": ["second"]}

    builder = StateGraph(State)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    with open_checkpointer(url) as saver:
        graph = builder.compile(checkpointer=saver)
        with contextlib.suppress(ConnectionError):
            graph.invoke(State(log=[]), {"configurable": {"thread_id": thread_id}})


@pytest.fixture
def sqlite_run(tmp_path: Path) -> tuple[str, str]:
    """A SQLite file holding one completed thread."""
    url = f"sqlite:///{tmp_path}/runs/cp.db"
    _run_graph(url, "done")
    return url, "done"


def test_report_prints_table(
    sqlite_run: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`report` prints the run table and exits 0."""
    url, thread = sqlite_run
    assert main(["report", "--checkpointer", url, "--thread", thread]) == 0
    out = capsys.readouterr().out
    assert out.startswith("thread done: completed")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[3:] if line}
    assert rows == {"first": "succeeded", "second": "succeeded"}


def test_report_json_matches_run_report(
    sqlite_run: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json` prints exactly the RunReport's JSON form."""
    url, thread = sqlite_run
    assert main(["report", "--checkpointer", url, "--thread", thread, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    with open_checkpointer(url) as saver:
        assert data == run_report(saver, thread).model_dump(mode="json")


def test_failed_run_is_reported_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed run is a successful report (exit 0) that says 'failed'."""
    url = f"sqlite:///{tmp_path}/cp.db"
    _run_graph(url, "bad", fail=True)
    assert main(["report", "--checkpointer", url, "--thread", "bad", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "failed"
    assert data["nodes"][-1]["name"] == "second"
    assert "ConnectionError" in data["nodes"][-1]["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--thread", "x"], "--checkpointer"),
        (["report", "--checkpointer", "sqlite:///:memory:"], "--thread"),
        ([], "COMMAND"),
        (["explode"], "invalid choice"),
        (["report", "--checkpointer", "mysql://u:pw@h/db", "--thread", "x"], "'mysql'"),
        (["report", "--checkpointer", "", "--thread", "x"], "no scheme"),
        (
            ["report", "--checkpointer", "sqlite://runs/cp.db", "--thread", "x"],
            "did you mean 'sqlite:///runs/cp.db'?",
        ),
        (["report", "--checkpointer", "sqlite:///:memory:", "--thread", "x"], "no checkpoints"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad arguments, bad URLs and unknown threads exit 2 with a one-line reason."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("langgraph-runner: error:")
    assert message in err
    assert "Traceback" not in err


def test_unknown_thread_in_file_exits_2(
    sqlite_run: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown thread in an existing database exits 2 and names the thread."""
    url, _ = sqlite_run
    assert main(["report", "--checkpointer", url, "--thread", "ghost"]) == 2
    assert "'ghost'" in capsys.readouterr().err


def test_missing_sqlite_file_exits_2_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reporting on a missing SQLite file does not create it."""
    url = f"sqlite:///{tmp_path}/nothing/here.db"
    assert main(["report", "--checkpointer", url, "--thread", "x"]) == 2
    assert "no SQLite database" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """`report --help` prints usage and exits 0."""
    assert main(["report", "--help"]) == 0
    assert "--checkpointer URL" in capsys.readouterr().out


def test_unreachable_database_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A database that cannot be reached exits 1 with a message, not a traceback."""
    url = "postgresql://postgres:s3cret@127.0.0.1:1/test?connect_timeout=2"
    assert main(["report", "--checkpointer", url, "--thread", "x"]) == 1
    err = capsys.readouterr().err
    assert "cannot read checkpoints" in err
    assert "Traceback" not in err and "s3cret" not in err


@pytest.fixture
def pg_thread() -> Iterator[str]:
    """A completed thread in the real PostgreSQL, deleted afterwards."""
    services.postgres_url()
    thread_id = f"cli-{uuid.uuid4().hex}"
    _run_graph(PG_URL, thread_id)
    yield thread_id
    with open_checkpointer(PG_URL) as saver:
        saver.delete_thread(thread_id)


def test_report_from_postgres(pg_thread: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`report` reads a PostgreSQL checkpointer."""
    assert main(["report", "--checkpointer", PG_URL, "--thread", pg_thread, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["thread_id"], data["status"]) == (pg_thread, "completed")
    assert [n["name"] for n in data["nodes"]] == ["first", "second"]


def test_installed_console_script(sqlite_run: tuple[str, str]) -> None:
    """The installed `langgraph-runner` script runs and uses the documented exit codes."""
    url, thread = sqlite_run
    script = Path(sys.executable).with_name("langgraph-runner")
    ok = subprocess.run(
        [str(script), "report", "--checkpointer", url, "--thread", thread, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "completed"
    bad = subprocess.run(
        [str(script), "report", "--checkpointer", url, "--thread", "ghost"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
