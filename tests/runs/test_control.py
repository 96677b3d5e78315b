"""list_runs and cancel_run: runs across processes, cancelled by id between steps."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from langgraph_runner._cli.main import main
from langgraph_runner._records.exceptions import ThreadNotFoundError
from langgraph_runner.runs import cancel_run, list_runs, open_checkpointer, run_report
from tests.services import postgres_url

# A worker process: a 40-step chain, each step 0.1 s, run with run() and a given run id.
WORKER = """
import sys, time, json
from langgraph.graph import START, StateGraph
from langgraph_runner import GraphState, create_node
from langgraph_runner.runs import open_checkpointer, run

class S(GraphState, total=False):
    n: int

def step(i):
    def body(state):
        time.sleep(0.1)
        return {"n": i}
    body.__name__ = f"s{i:02d}"
    return create_node(body)

url, thread, run_id = sys.argv[1:4]
g = StateGraph(S)
prev = START
for i in range(40):
    g.add_node(f"s{i:02d}", step(i))
    g.add_edge(prev, f"s{i:02d}")
    prev = f"s{i:02d}"
with open_checkpointer(url) as saver:
    graph = g.compile(checkpointer=saver)
    config = {"run_id": run_id, "configurable": {"thread_id": thread, "tenant_id": "acme"}}
    result = run(graph, {"n": -1}, config, raise_on_error=False)
    print(json.dumps({"status": str(result.status), "reason": result.reason,
                      "ran": len(result.nodes), "nodes": dict(result.nodes)}))
"""


def _url(kind: str, tmp_path: Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return postgres_url()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_cancel_by_run_id_from_another_process(kind: str, tmp_path: Any) -> None:
    """A run in a worker process stops between steps when cancelled here (API or CLI); persisted."""
    url = _url(kind, tmp_path)
    thread, run_id = f"cancel-{uuid.uuid4().hex}", str(uuid.uuid4())
    if kind == "sqlite":  # the file must exist before two processes open it
        with open_checkpointer(url):
            pass
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, url, thread, run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with open_checkpointer(url) as saver:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                runs = list_runs(saver, thread_id=thread)
                if runs and runs[0].status == "running" and _steps(saver, thread) >= 3:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the worker's run never showed up as running")
            with pytest.raises(ThreadNotFoundError):
                cancel_run(saver, run_id, "wrong tenant", tenant="globex")
            if kind == "sqlite":  # from the command line
                command = ["cancel", "--checkpointer", url, "--run", run_id]
                assert main([*command, "--reason", "operator pressed stop"]) == 0
            else:
                record = cancel_run(saver, run_id, "operator pressed stop", tenant="acme")
                assert (record.run_id, record.thread_id, record.tenant) == (run_id, thread, "acme")
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            result = json.loads(out.strip().splitlines()[-1])
            assert result["status"] == "cancelled" and result["reason"] == "operator pressed stop"
            assert result["ran"] < 40  # stopped between steps, long before the end
            [row] = list_runs(saver, thread_id=thread)
            assert (row.status, row.reason) == ("cancelled", "operator pressed stop")
            report = run_report(saver, thread)
            assert report.status == "cancelled" and report.reason == "operator pressed stop"
            # The step under way is aborted (it ends cancelled); the ones before it completed.
            done = [n for n, status in result["nodes"].items() if status == "succeeded"]
            assert set(result["nodes"].values()) <= {"succeeded", "cancelled"}
            assert report.steps_total == 40 and report.steps_done == len(done)
            with pytest.raises(ThreadNotFoundError):
                cancel_run(saver, str(uuid.uuid4()))
            saver.delete_thread(thread)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _steps(saver: Any, thread: str) -> int:
    return sum(1 for _ in saver.list({"configurable": {"thread_id": thread}}))


def test_list_runs_is_newest_first_and_filters_on_tenant() -> None:
    """list_runs lists runs newest first, one tenant's when asked; a bad limit is refused."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, StateGraph

    from langgraph_runner import GraphState
    from langgraph_runner.runs import run

    g = StateGraph(GraphState)
    g.add_node("a", lambda s: {})
    g.add_edge(START, "a")
    saver = InMemorySaver()
    graph = g.compile(checkpointer=saver)
    for i, tenant in enumerate(["acme", "globex", "acme"]):
        run(graph, {}, {"configurable": {"thread_id": f"t{i}"}}, tenant=tenant)
    assert [r.thread_id for r in list_runs(saver)] == ["t2", "t1", "t0"]
    assert [r.thread_id for r in list_runs(graph, tenant="acme")] == ["t2", "t0"]
    assert [r.status for r in list_runs(saver, limit=1)] == ["completed"]
    with pytest.raises(ValueError, match="limit"):
        list_runs(saver, limit=0)
    with pytest.raises(TypeError, match="checkpoint saver"):
        list_runs(object())


@pytest.mark.parametrize("mode", ["run", "arun"])
def test_cancel_aborts_the_step_under_way_without_a_time_limit(mode: str) -> None:
    """A run with no time limit still gives its nodes a signal: cancel_run ends the wait at once."""
    import asyncio
    import threading

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, StateGraph

    from langgraph_runner import GraphState, create_node, get_node_context
    from langgraph_runner.runs import arun, run

    started = threading.Event()
    waited: list[bool] = []

    def hold(state: Any) -> dict[str, Any]:
        ctx = get_node_context()
        assert ctx is not None and ctx.abort_signal is not None
        started.set()
        waited.append(ctx.abort_signal.wait_sync(30))  # True: aborted, not timed out
        ctx.abort_signal.throw_if_aborted()
        return {}

    after: list[str] = []
    g = StateGraph(GraphState)
    g.add_node("hold", create_node(hold, name="hold"))
    g.add_node("next", lambda s: after.append("next") or {})
    g.add_edge(START, "hold")
    g.add_edge("hold", "next")
    saver = InMemorySaver()
    graph = g.compile(checkpointer=saver)
    run_id = str(uuid.uuid4())
    config = {"run_id": run_id, "configurable": {"thread_id": f"hold-{run_id}"}}

    def cancel_when_started() -> None:
        assert started.wait(30)
        cancel_run(saver, run_id, "operator pressed stop")

    canceller = threading.Thread(target=cancel_when_started)
    canceller.start()
    if mode == "run":
        result = run(graph, {}, config, raise_on_error=False)
    else:
        result = asyncio.run(arun(graph, {}, config, raise_on_error=False))
    canceller.join(30)
    assert (result.status, result.reason) == ("cancelled", "operator pressed stop")
    for _ in range(1000):  # under arun the sync node's thread may end just after the run
        if waited:
            break
        time.sleep(0.01)
    assert waited == [True] and after == []
