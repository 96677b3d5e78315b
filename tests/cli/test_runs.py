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
