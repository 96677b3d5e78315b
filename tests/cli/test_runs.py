"""``langgraph-runner runs`` and ``cancel``: list a checkpointer's runs, stop one by id."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from langgraph.graph import START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._cli.main import main
from langgraph_runner.runs import open_checkpointer, run


def _db(tmp_path: Path) -> str:
    """Three threads: two recorded runs (tenants acme, globex) and a plain invoke."""
    db = tmp_path / "runs.db"
    g = StateGraph(GraphState)
    g.add_node("a", create_node(lambda s: {}, name="a"))
    g.add_edge(START, "a")
    with open_checkpointer(f"sqlite:///{db}") as saver:
        graph = g.compile(checkpointer=saver)
        run(graph, {}, {"configurable": {"thread_id": "t-acme"}}, tenant="acme")
        run(graph, {}, {"configurable": {"thread_id": "t-globex", "tenant_id": "globex"}})
        graph.invoke({}, {"configurable": {"thread_id": "plain"}})
    return f"sqlite:///{db}"


def test_runs_lists_runs_and_threads_newest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`runs` prints a table: status, tenant, thread and time, newest first."""
    url = _db(tmp_path)
    assert main(["runs", "--checkpointer", url]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "t-" in line or "plain" in line]
    assert [("plain" in x, "t-globex" in x, "t-acme" in x) for x in lines] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert "STATUS" in out and "TENANT" in out and "STARTED (UTC)" in out
    assert "completed" in lines[1] and "globex" in lines[1]


def test_runs_filters_on_tenant_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`runs --tenant acme --json` lists only that tenant's runs."""
    url = _db(tmp_path)
    assert main(["runs", "--checkpointer", url, "--tenant", "acme", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["thread_id"], r["tenant"], r["status"]) for r in rows] == [
        ("t-acme", "acme", "completed")
    ]


def test_report_of_another_tenant_is_not_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --tenant` reads another tenant's thread like a missing one (exit 2)."""
    url = _db(tmp_path)
    assert main(["report", "--checkpointer", url, "--thread", "t-acme", "--tenant", "acme"]) == 0
    capsys.readouterr()
    code = main(["report", "--checkpointer", url, "--thread", "t-acme", "--tenant", "globex"])
    assert code == 2
    assert "no checkpoints for thread 't-acme'" in capsys.readouterr().err


def test_cancel_an_unknown_or_ended_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cancel` of an unknown run exits 2; of an ended run says there is nothing to cancel."""
    url = _db(tmp_path)
    assert main(["cancel", "--checkpointer", url, "--run", str(uuid.uuid4())]) == 2
    assert "no run" in capsys.readouterr().err
    main(["runs", "--checkpointer", url, "--thread", "t-acme", "--json"])
    run_id = json.loads(capsys.readouterr().out)[0]["run_id"]
    assert main(["cancel", "--checkpointer", url, "--run", run_id]) == 0
    assert "already ended completed" in capsys.readouterr().out


_HOSTILE_THREAD = "t-\x1b]0;owned\x07\x1b[2J[bold]x[/bold]\u202e"


def _raw_controls(text: str) -> list[str]:
    """Control, format and line-separator characters in ``text`` (newlines apart)."""
    return [c for c in text if c != "\n" and not c.isprintable()]


def test_runs_and_report_print_hostile_data_escaped_and_never_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tenant named `[/]` and a thread id of ESC/OSC/markup: `runs` and `report` exit 0."""
    db = tmp_path / "hostile.db"
    g = StateGraph(GraphState)
    g.add_node("a", create_node(lambda s: {}, name="a"))
    g.add_edge(START, "a")
    with open_checkpointer(f"sqlite:///{db}") as saver:
        run(
            g.compile(checkpointer=saver),
            {},
            {"configurable": {"thread_id": _HOSTILE_THREAD}},
            tenant="[/]",
        )
    url = f"sqlite:///{db}"
    assert main(["runs", "--checkpointer", url]) == 0
    table = capsys.readouterr().out
    assert _raw_controls(table) == []
    assert "[/]" in table and "[bold]x[/bold]" in table and "\\x1b]0;owned\\x07" in table
    assert main(["report", "--checkpointer", url, "--thread", _HOSTILE_THREAD]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert _raw_controls(header) == [] and header.startswith("thread t-\\x1b]0;owned\\x07")


def test_render_runs_escapes_every_cell() -> None:
    """Rows read from a database (a reason, a tenant written before validation) are data."""
    from langgraph_runner._cli.runs import render_runs

    row = {
        "started_at": 0.0,
        "status": "cancelled",
        "tenant": "[red]acme\x1b[31m",
        "thread_id": "[/]",
        "run_id": "r\x00n",
        "duration_s": 1.0,
        "reason": "stop\x1b]8;;https://evil.example\x07click\x1b]8;;\x07[/link]",
    }
    text = render_runs([row])
    assert _raw_controls(text) == []
    assert "[red]acme\\x1b[31m" in text and "[/]" in text and "r\\x00n" in text


def test_tenant_options_are_validated(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--tenant with a control character or empty: exit 2 naming the option, before any read."""
    url = _db(tmp_path)
    for bad in ("", "acme\x1b[2J", "x" * 257):
        for command in (
            ["runs"],
            ["cancel", "--run", str(uuid.uuid4())],
            ["report", "--thread", "t-acme"],
        ):
            assert main([*command, "--checkpointer", url, "--tenant", bad]) == 2
            assert "argument --tenant: tenant must" in capsys.readouterr().err
