"""Tests for langgraph_runner._cli.main: the `langgraph-runner report` command."""

from __future__ import annotations

import contextlib
import io
import json
import operator
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_runner._cli.main import main
from langgraph_runner._reports.report import RunStatus, run_report
from langgraph_runner._runs.checkpoint import open_checkpointer
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
    lines = out.splitlines()
    rows = {line.split()[0]: line.split()[1] for line in lines[3 : lines.index("", 3)]}
    assert rows == {"first": "succeeded", "second": "succeeded"}
    assert "summary: 2 succeeded" in lines


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


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """Both the top-level help and `report --help` end with runnable examples."""
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert "examples:\n  langgraph-runner report --checkpointer sqlite:///runs.db" in top
    assert main(["report", "--help"]) == 0
    sub = capsys.readouterr().out
    for flag in ("--status failed,interrupted --json", "--format html > run.html", "--follow"):
        assert flag in sub


def test_python_dash_m_is_the_cli(sqlite_run: tuple[str, str]) -> None:
    """`python -m langgraph_runner` behaves like the installed script."""
    url, thread = sqlite_run
    run = subprocess.run(
        [sys.executable, "-m", "langgraph_runner", "report", "--checkpointer", url,
         "--thread", thread, "--format", "mermaid"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "\tclass first succeeded" in run.stdout
    version = subprocess.run(
        [sys.executable, "-m", "langgraph_runner", "--version"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    from langgraph_runner import __version__

    assert version.stdout.strip() == f"langgraph-runner {__version__}"


def test_status_filter_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--status keeps some nodes (summary counts all); --format picks mermaid or HTML."""
    url = f"sqlite:///{tmp_path}/cp.db"
    _run_graph(url, "bad", fail=True)
    base = ["report", "--checkpointer", url, "--thread", "bad"]
    assert main([*base, "--status", "failed", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [n["name"] for n in data["nodes"]] == ["second"]
    assert (data["summary"]["succeeded"], data["summary"]["failed"]) == (1, 1)
    assert main([*base, "--status", "succeeded", "--status", "failed,pending"]) == 0
    assert {"first", "second"} <= set(capsys.readouterr().out.split())
    assert main([*base, "--format", "mermaid"]) == 0
    assert "\tclass second failed" in capsys.readouterr().out
    assert main([*base, "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-node="second" data-status="failed"' in page
    assert main([*base, "--html"]) == 0  # short for --format html
    assert capsys.readouterr().out == page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--status", "done"], "'done' is not a valid NodeStatus; choose from succeeded"),
        (["--json", "--format", "html"], "--json conflicts with --format html"),
        (["--html", "--format", "mermaid"], "--html conflicts with --format mermaid"),
        (["--html", "--json"], "--html conflicts with --json"),
        (["--follow", "--html"], "--follow shows a live table"),
        (["--follow", "--json"], "--follow shows a live table"),
        (["--follow", "--interval", "0"], "expected a positive number of seconds"),
    ],
)
def test_bad_report_options_exit_2(
    sqlite_run: tuple[str, str], extra: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Unknown statuses and conflicting options exit 2 with the reason."""
    url, thread = sqlite_run
    assert main(["report", "--checkpointer", url, "--thread", thread, *extra]) == 2
    assert message in capsys.readouterr().err


class _Watched(io.StringIO):
    """stdout that fires events when given text is written (to pace the graph by the view)."""

    def __init__(self, triggers: dict[str, threading.Event]) -> None:
        super().__init__()
        self.triggers = triggers

    def write(self, text: str) -> int:
        for needle, event in self.triggers.items():
            if needle in text:
                event.set()
        return super().write(text)


def test_follow_shows_a_thread_node_by_node_until_it_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--follow waits for the thread, prints each node as it changes and stops when it ends."""
    url = f"sqlite:///{tmp_path}/cp.db"
    with open_checkpointer(url):
        pass  # the file exists before anything runs
    started, second_shown = threading.Event(), threading.Event()

    def first(state: State) -> dict[str, Any]:
        return {"log": ["first"]}

    def second(state: State) -> dict[str, Any]:
        assert second_shown.wait(30), "the follower never showed 'second' running"
        return {"log": ["second"]}

    builder = StateGraph(State)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)

    def run() -> None:
        assert started.wait(30)
        with open_checkpointer(url) as saver:
            graph = builder.compile(checkpointer=saver)
            graph.invoke(State(log=[]), {"configurable": {"thread_id": "live"}})

    # second runs only once the view shows it running, so the follower sees it in progress.
    out = _Watched({"waiting for thread": started, "second: running": second_shown})
    monkeypatch.setattr(sys, "stdout", out)
    worker = threading.Thread(target=run)
    worker.start()
    try:
        code = main(["report", "--checkpointer", url, "--thread", "live", "--follow",
                     "--interval", "0.01", "--timeout", "60"])  # fmt: skip
    finally:
        started.set()
        second_shown.set()
        worker.join(30)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "waiting for thread live ..."
    order = [lines.index(x) for x in ("  first: succeeded", "  second: running")]
    assert order == sorted(order)
    assert lines.index("  second: running") < lines.index("  second: succeeded")
    assert lines[-1] == "thread live: completed at step 2"


def test_follow_gives_up_at_its_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A thread paused before a node stays running: --timeout ends the follow with exit 1."""
    url = f"sqlite:///{tmp_path}/cp.db"
    builder = StateGraph(State)
    builder.add_node("first", lambda s: {"log": ["first"]})
    builder.add_edge(START, "first")
    with open_checkpointer(url) as saver:
        graph = builder.compile(checkpointer=saver, interrupt_before=["first"])
        graph.invoke(State(log=[]), {"configurable": {"thread_id": "paused"}})
    args = ["report", "--checkpointer", url, "--thread", "paused", "--follow"]
    assert main([*args, "--interval", "0.01", "--timeout", "0.05"]) == 1
    captured = capsys.readouterr()
    assert "first: running" in captured.out
    assert "'paused' still running after 0.05 s" in captured.err


def test_live_view_updates_in_place(tmp_path: Path) -> None:
    """On a terminal the view is one table redrawn in place until the run ends."""
    from langgraph_runner._cli.follow import follow

    url = f"sqlite:///{tmp_path}/cp.db"
    _run_graph(url, "done")
    with open_checkpointer(url) as saver:
        final = run_report(saver, "done")
        history = [final.model_copy(update={"status": RunStatus.RUNNING}), final]
    out = io.StringIO()
    waits: list[float] = []
    got = follow(iter(history).__next__, "done", out=out, live=True, interval=0.2,
                 sleep=waits.append)  # fmt: skip
    assert got is final and waits == [0.2]
    text = out.getvalue()
    assert "\x1b[2K" in text or "\x1b[1A" in text  # cursor moves: redrawn, not appended
    assert text.count("thread done: running") == 1
    assert "thread done: completed at step 2" in text and "second" in text


def test_wrapper_script_runs_the_cli_from_any_directory(
    sqlite_run: tuple[str, str], tmp_path: Path
) -> None:
    """scripts/langgraph-runner works without an activated venv and keeps relative paths."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".venv" / "bin" / "langgraph-runner").exists():
        pytest.skip("no .venv in this checkout (scripts/test.sh creates it)")
    url, thread = sqlite_run
    db = Path(url.removeprefix("sqlite:///"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    run = subprocess.run(
        [str(root / "scripts" / "langgraph-runner"), "report", "--checkpointer",
         f"sqlite:///{db.name}", "--thread", thread, "--json"],
        capture_output=True, text=True, check=False, cwd=db.parent, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "completed"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:S3cret Pw9@127.0.0.1:1/x",
        "postgresql://app:S3cretPw9@127.0.0.1:notaport/x",
        "postgresql://app:S3cret/Pw9@127.0.0.1:1/x",
        "postgres://app:S3cretPw9@[db/x",
        "postgresql://app:S3cretPw9",
        "postgresql://app:S3cret#Pw9@127.0.0.1:1/x",
    ],
)
def test_malformed_postgres_url_never_echoes_the_password(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No piece of the password appears in the CLI's error, however the URL is broken."""
    pytest.importorskip("psycopg")
    code = main(["report", "--checkpointer", url, "--thread", "t"])
    out, err = capsys.readouterr()
    assert code in (1, 2)
    assert "error" in err
    for piece in ("S3cret", "Pw9"):
        assert piece not in out + err


@pytest.mark.parametrize("form", ["abbreviated", "abbreviated-equals", "repeated"])
def test_no_piece_of_a_password_reaches_stderr_whatever_the_option_form(
    form: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--checkp URL, --checkp=URL, a repeated --checkpointer: no piece of a password is shown."""
    url = "postgresql://app:Pw/Secr3tPiece@127.0.0.1:5432/test"

    def driver_quoting_a_piece(target: str) -> Any:
        raise RuntimeError("invalid integer value Secr3tPiece for connection option")

    monkeypatch.setattr("langgraph_runner._cli.main.open_checkpointer", driver_quoting_a_piece)
    argv = {
        "abbreviated": ["report", "--checkp", url, "--thread", "t"],
        "abbreviated-equals": ["report", f"--checkp={url}", "--thread", "t"],
        "repeated": [
            "report", "--checkpointer", "postgresql://app:0ther9Pw@h/db",
            "--checkpointer", url, "--thread", "t",
        ],
    }[form]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cannot read checkpoints" in err
    assert "Secr3tPiece" not in err


def test_node_names_are_printed_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A node name with a newline, ESC/OSC or U+202E cannot forge rows or drive a terminal."""
    url = f"sqlite:///{tmp_path}/cp.db"
    hostile = "fetch\nforged  succeeded\x1b[2J\x1b]8;;https\x07\u202etxt"

    def node(state: State) -> dict[str, Any]:
        raise ConnectionError("down")

    builder = StateGraph(State)
    builder.add_node(hostile, node)
    builder.add_edge(START, hostile)
    builder.add_edge(hostile, END)
    with open_checkpointer(url) as saver:
        graph = builder.compile(checkpointer=saver)
        with contextlib.suppress(ConnectionError):
            graph.invoke(State(log=[]), {"configurable": {"thread_id": "t"}})
    assert main(["report", "--checkpointer", url, "--thread", "t"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "fetch\\nforged  succeeded\\x1b[2J" in out
    assert not any(line.startswith("forged") for line in out.splitlines())
