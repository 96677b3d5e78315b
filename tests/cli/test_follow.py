"""``report --follow`` (langgraph_runner._cli.follow): node by node, x of N, until the run ends."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, create_node
from langgraph_runner._cli.follow import follow
from langgraph_runner.runs import open_checkpointer, run, run_report


def test_follow_says_running_only_for_scheduled_steps_and_ends_with_x_of_n(tmp_path: Path) -> None:
    """Steps not reached yet are not 'running'; the last line says how many of N steps ran."""

    out = io.StringIO()

    def step(name: str) -> Any:
        def body(state: GraphState) -> dict[str, Any]:
            # Runs until the follower has shown it running (the live writer and a poll saw
            # it), however slow a loaded machine makes them: a fixed sleep (0.15 s, then
            # 0.6 s) could end first. The cap only bounds a failing run.
            deadline = time.monotonic() + 10
            while f"  {name}: running\n" not in out.getvalue():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            return {}

        body.__name__ = name
        return create_node(body)

    g = StateGraph(GraphState)
    for name in ("a", "b", "c"):
        g.add_node(name, step(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_checkpointer(url) as saver, open_checkpointer(url) as reader:
        graph = g.compile(checkpointer=saver)
        worker = threading.Thread(
            target=run, args=(graph, {}, {"configurable": {"thread_id": "f"}}), daemon=True
        )
        worker.start()
        follow(lambda: run_report(reader, "f"), "f", out=out, interval=0.02, timeout=30, live=False)
        worker.join()
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert lines[-1] == "thread f: completed at step 3, 3 of 3 steps done"
    events = [line for line in lines if ": " in line and not line.startswith("thread")]
    for name in ("b", "c"):  # a step is running only once the one before it succeeded
        before = events.index(f"{chr(ord(name) - 1)}: succeeded")
        assert events.index(f"{name}: running") > before, events
    assert "c: pending" not in events or events.index("c: pending") < events.index("a: succeeded")


def test_wait_for_file_waits_until_the_database_appears(tmp_path: Path) -> None:
    """Polls until the file exists; says so once; returns what is left of the timeout."""
    from langgraph_runner._cli.follow import wait_for_file

    path = tmp_path / "later.db"
    now = [0.0]
    looks: list[float] = []

    def sleep(seconds: float) -> None:
        looks.append(seconds)
        now[0] += seconds
        if len(looks) == 3:
            path.write_bytes(b"")

    out = io.StringIO()
    left = wait_for_file(
        path, out=out, interval=2.0, timeout=10.0, sleep=sleep, clock=lambda: now[0]
    )
    assert looks == [2.0, 2.0, 2.0]
    assert left == 4.0
    assert out.getvalue() == f"waiting for database {path} ...\n"
    # No timeout: as long as it takes; an existing file: at once.
    assert wait_for_file(path, out=out, sleep=sleep) is None
    assert len(looks) == 3


def test_wait_for_file_gives_up_at_the_timeout(tmp_path: Path) -> None:
    """A database that never appears: FollowTimeoutError naming it, after the timeout."""
    import pytest

    from langgraph_runner._cli.follow import FollowTimeoutError, wait_for_file

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    path = tmp_path / "never.db"
    with pytest.raises(FollowTimeoutError, match=r"no SQLite database at .*never\.db after 3\.0 s"):
        wait_for_file(
            path, out=io.StringIO(), interval=1.0, timeout=3.0, sleep=sleep, clock=lambda: now[0]
        )
    assert now[0] == 3.0
    assert not path.exists()


def test_report_follow_waits_for_a_database_a_run_creates(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """The CLI: --follow on a file not made yet waits, then follows the run to its end."""
    from langgraph_runner._cli.main import main

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    g = StateGraph(GraphState)
    g.add_node("only", create_node(lambda state: {}, name="only"))
    g.add_edge(START, "only")
    g.add_edge("only", END)

    real_sleep, follower = time.sleep, threading.get_ident()

    def start_the_run(seconds: float) -> None:  # the CLI's wait: meanwhile a run starts
        if threading.get_ident() != follower:  # time.sleep is patched for every thread
            real_sleep(seconds)
            return
        with open_checkpointer(url) as saver:
            run(g.compile(checkpointer=saver), {}, {"configurable": {"thread_id": "late"}})

    monkeypatch.setattr("langgraph_runner._cli.follow.time.sleep", start_the_run)
    code = main(
        ["report", "--checkpointer", url, "--thread", "late", "--follow", "--timeout", "30"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("waiting for database ")
    assert "thread late: completed" in out


def test_report_follow_times_out_on_a_database_never_made(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """--timeout on a missing file: exit 1 once it passes, no file made; without --follow: 2."""
    from langgraph_runner._cli.main import main

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr("langgraph_runner._cli.follow.time.sleep", sleep)
    monkeypatch.setattr("langgraph_runner._cli.follow.time.monotonic", lambda: now[0])
    path = tmp_path / "none.db"
    url = f"sqlite:///{path}"
    follow = ["--follow", "--timeout", "5", "--interval", "1"]
    assert main(["report", "--checkpointer", url, "--thread", "t", *follow]) == 1
    monkeypatch.undo()
    assert "no SQLite database" in capsys.readouterr().err
    assert now[0] == 5.0
    assert main(["report", "--checkpointer", url, "--thread", "t"]) == 2
    assert not path.exists()
