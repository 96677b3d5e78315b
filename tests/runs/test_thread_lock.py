"""thread_lock and run/arun: one writer per thread, across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
import json
import operator
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import LangGraphRunnerError, ThreadBusyError
from langgraph_runner._runs.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner.runs import RUN_DEADLINE_KEY, RunResult, arun, run, thread_lock
from tests import services

BACKENDS = ["sqlite", "postgres"]
ROOT = Path(__file__).resolve().parents[2]


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _until(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(path.name)
        time.sleep(0.01)


def ledger_graph(saver: Any, work: Path, who: str) -> Any:
    """a -> gate -> b; each node appends its side effect to a ledger file, and gate
    blocks until the test creates ``release``."""

    def effect(name: str) -> None:
        with open(work / "ledger", "a", encoding="utf-8") as ledger:
            ledger.write(f"{who} {name}\n")

    def a(state: S) -> S:
        effect("a")
        return {"log": ["a"]}

    def gate(state: S) -> S:
        effect("gate")
        (work / "holding").touch()
        _until(work / "release")
        return {"log": ["gate"]}

    def b(state: S) -> S:
        effect("b")
        return {"log": ["b"]}

    builder = StateGraph(S)
    for node in (a, gate, b):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "a")
    builder.add_edge("a", "gate")
    builder.add_edge("gate", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver)


def second_writer(url: str, thread_id: str, work: str) -> None:
    """The other process: arrives while the test process runs the thread, is refused,
    waits for it, then holds the lock until it is killed."""

    def say(**fields: Any) -> None:
        print(json.dumps(fields), flush=True)

    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with open_checkpointer(url) as saver:
        graph = ledger_graph(saver, Path(work), "second")
        _until(Path(work) / "holding")
        try:
            run(graph, None, config)
            say(busy=False)
        except ThreadBusyError as exc:
            say(busy=True, thread_id=exc.thread_id, message=str(exc))
        say(waiting=True)
        result = run(graph, None, config, lock_wait=30)
        say(status=result.status, log=result.output["log"], ran=sorted(result.nodes))
        with thread_lock(saver, config):
            say(held=True)
            time.sleep(60)


def _url(backend: str, work: Path) -> str:
    if backend == "postgres":
        return services.postgres_url()
    return f"sqlite:///{work / 'checkpoints.db'}"


class _Lines:
    """A process's stdout, one JSON line at a time, with a time limit (never hangs the suite).

    The limit only guards a hang: a process that imports LangGraph on a loaded machine can
    take more than 10 s to say its first line.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                self.lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def next(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.lines.get(timeout=60)))
        except queue.Empty:
            raise AssertionError("the other process said nothing for 60 s") from None


@dataclass
class Scenario:
    busy: dict[str, Any]
    first: RunResult
    resumed: dict[str, Any]
    ledger: list[str]
    thread_id: str
    busy_while_held: bool
    taken_after_kill: bool


def _play(url: str, work: Path, thread_id: str, other: subprocess.Popen[str]) -> Scenario:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    out = _Lines(other)
    with open_checkpointer(url) as saver:
        graph = ledger_graph(saver, work, "first")
        results: list[RunResult] = []
        first = threading.Thread(target=lambda: results.append(run(graph, {"log": []}, config)))
        first.start()
        try:  # the other process arrives while this one is inside gate
            busy = out.next()
            assert out.next() == {"waiting": True}
        finally:
            (work / "release").touch()
            first.join(timeout=30)
        resumed = out.next()
        assert out.next() == {"held": True}
        try:  # the other process holds the thread now
            with thread_lock(saver, config):
                busy_while_held = False
        except ThreadBusyError:
            busy_while_held = True
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=30)
        with thread_lock(saver, config, wait=10):
            taken_after_kill = True
    return Scenario(
        busy=busy,
        first=results[0],
        resumed=resumed,
        ledger=(work / "ledger").read_text(encoding="utf-8").splitlines(),
        thread_id=thread_id,
        busy_while_held=busy_while_held,
        taken_after_kill=taken_after_kill,
    )


@pytest.fixture(scope="module", params=BACKENDS)
def two_writers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    """Two processes on one thread: this one runs it, the other arrives meanwhile."""
    work = tmp_path_factory.mktemp(request.param)
    url = _url(request.param, work)
    thread_id = f"two-writers-{uuid.uuid4().hex}"
    code = (
        "import sys; from tests.runs.test_thread_lock import second_writer; "
        "second_writer(*sys.argv[1:])"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", code, url, thread_id, str(work)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        yield _play(url, work, thread_id, other)
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        with open_checkpointer(url) as saver:
            saver.delete_thread(thread_id)


def test_a_second_process_gets_thread_busy_error(two_writers: Scenario) -> None:
    """Resuming a thread another process is running raises ThreadBusyError naming the thread."""
    assert two_writers.busy["busy"] is True
    assert two_writers.busy["thread_id"] == two_writers.thread_id
    assert two_writers.thread_id in two_writers.busy["message"]
    assert "another process" in two_writers.busy["message"]


def test_a_waiting_process_resumes_after_the_first_without_running_nodes_again(
    two_writers: Scenario,
) -> None:
    """With lock_wait the second run waits, then finds the thread finished: it runs no node."""
    assert two_writers.first.status == "completed"
    assert two_writers.first.output == {"log": ["a", "gate", "b"]}
    assert two_writers.resumed == {"status": "completed", "log": ["a", "gate", "b"], "ran": []}


def test_the_ledger_shows_every_side_effect_exactly_once(two_writers: Scenario) -> None:
    """Every node's side effect happened once, all in the process that ran the thread first."""
    assert two_writers.ledger == ["first a", "first gate", "first b"]


def test_a_sigkilled_holder_frees_the_lock(two_writers: Scenario) -> None:
    """The lock a process holds is freed when it is SIGKILLed: another process takes it."""
    assert two_writers.busy_while_held
    assert two_writers.taken_after_kill


def _async_graph(
    saver: Any, ledger: list[str], holding: asyncio.Event, release: asyncio.Event
) -> Any:
    async def a(state: S) -> S:
        ledger.append("a")
        return {"log": ["a"]}

    async def gate(state: S) -> S:
        ledger.append("gate")
        holding.set()
        await release.wait()
        return {"log": ["gate"]}

    builder = StateGraph(S)
    builder.add_node("a", a)
    builder.add_node("gate", gate)
    builder.add_edge(START, "a")
    builder.add_edge("a", "gate")
    builder.add_edge("gate", END)
    return builder.compile(checkpointer=saver)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_arun_holds_the_thread_on_the_async_savers(backend: str, tmp_path: Path) -> None:
    """arun on AsyncSqliteSaver/AsyncPostgresSaver: a second run is refused, or waits, once."""
    url = _url(backend, tmp_path)
    thread_id = f"async-{uuid.uuid4().hex}"
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    ledger: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()
    async with open_async_checkpointer(url) as saver:
        graph = _async_graph(saver, ledger, holding, release)
        try:
            first = asyncio.create_task(arun(graph, {"log": []}, config))
            await asyncio.wait_for(holding.wait(), 10)
            with pytest.raises(ThreadBusyError):  # (a second writer would block in gate)
                await asyncio.wait_for(arun(graph, None, config), 5)
            second = asyncio.create_task(arun(graph, None, config, lock_wait=10))
            await asyncio.sleep(0.05)  # the second run is polling for the lock
            assert not second.done()
            release.set()
            done, resumed = await asyncio.wait_for(asyncio.gather(first, second), 10)
        finally:
            release.set()
            await saver.adelete_thread(thread_id)
    assert done.output == resumed.output == {"log": ["a", "gate"]}
    assert dict(resumed.nodes) == {}
    assert ledger == ["a", "gate"]


def _memory_graph(saver: Any, ledger: list[str]) -> Any:
    def a(state: S) -> S:
        ledger.append("a")
        return {"log": ["a"]}

    builder = StateGraph(S)
    builder.add_node("a", a)
    builder.add_edge(START, "a")
    builder.add_edge("a", END)
    return builder.compile(checkpointer=saver)


def test_in_memory_saver_gets_a_process_local_lock() -> None:
    """InMemorySaver: another run in this process is refused; the holder's own run goes ahead."""
    saver = InMemorySaver()
    ledger: list[str] = []
    graph = _memory_graph(saver, ledger)
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with thread_lock(saver, config):
        elsewhere = contextvars.Context()  # another task or thread: not the holder
        with pytest.raises(ThreadBusyError):
            elsewhere.run(run, graph, {"log": []}, config, raise_on_error=False)
        assert ledger == []
        assert run(graph, {"log": []}, config).status == "completed"  # inside its own lock
        other: RunnableConfig = {"configurable": {"thread_id": "u"}}
        assert elsewhere.run(run, graph, {"log": []}, other).status == "completed"
    assert run(graph, None, config).status == "completed"
    assert ledger == ["a", "a"]


def test_exclusive_false_runs_without_the_lock() -> None:
    """run(exclusive=False) does not take the thread's lock (the caller's choice)."""
    saver = InMemorySaver()
    ledger: list[str] = []
    graph = _memory_graph(saver, ledger)
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with thread_lock(saver, config):
        result = contextvars.Context().run(run, graph, {"log": []}, config, exclusive=False)
    assert result.status == "completed"
    assert ledger == ["a"]


def test_a_wait_that_runs_out_raises_thread_busy_error() -> None:
    """A positive wait polls and then gives up, saying how long it waited."""
    saver = InMemorySaver()
    config: RunnableConfig = {"configurable": {"thread_id": "t", "checkpoint_ns": "sub"}}
    with thread_lock(saver, config), pytest.raises(ThreadBusyError) as info:
        contextvars.Context().run(thread_lock(saver, config, wait=0.05).__enter__)
    assert (info.value.thread_id, info.value.checkpoint_ns, info.value.waited) == ("t", "sub", 0.05)
    assert "0.050s" in str(info.value)


def test_sqlite_lock_file_is_removed_when_let_go(tmp_path: Path) -> None:
    """The lock file beside the database exists only while the thread is held."""
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with open_checkpointer(f"sqlite:///{tmp_path / 'c.db'}") as saver:
        folder = tmp_path / "c.db.threads"
        with thread_lock(saver, config):
            assert len(list(folder.iterdir())) == 1
            with pytest.raises(ThreadBusyError):
                contextvars.Context().run(thread_lock(saver, config).__enter__)
        assert list(folder.iterdir()) == []
        with thread_lock(saver, config):  # and can be taken again
            pass


def test_postgres_pool_and_connection_savers_share_one_lock() -> None:
    """A pool-backed and a connection-backed PostgresSaver lock the same thread."""
    url = services.postgres_url()
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg_pool import ConnectionPool

    config: RunnableConfig = {"configurable": {"thread_id": f"pool-{uuid.uuid4().hex}"}}
    kwargs = {"autocommit": True, "prepare_threshold": 0}
    pool = ConnectionPool(url, kwargs=kwargs, min_size=1, max_size=2)
    with pool, open_checkpointer(url) as by_conn:
        by_pool = PostgresSaver(pool)  # type: ignore[arg-type]
        with thread_lock(by_pool, config), pytest.raises(ThreadBusyError):
            contextvars.Context().run(thread_lock(by_conn, config).__enter__)
        with thread_lock(by_conn, config):
            pass


def test_bad_options_are_refused_before_anything_runs() -> None:
    """A bad wait, a missing thread id or a non-saver is a clear error at once."""
    saver = InMemorySaver()
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with pytest.raises(ValueError, match=r"wait must be a number of seconds >= 0"):
        thread_lock(saver, config, wait=-1)
    with pytest.raises(TypeError, match="seconds"):
        thread_lock(saver, config, wait="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seconds"):
        thread_lock(saver, config, wait=True)
    with pytest.raises(ValueError, match="thread_id"):
        thread_lock(saver, {"configurable": {}})
    with pytest.raises(TypeError, match="checkpoint saver"):
        thread_lock(object(), config)  # type: ignore[arg-type]
    ledger: list[str] = []
    with pytest.raises(ValueError, match=r"wait must be a number of seconds >= 0"):
        run(_memory_graph(saver, ledger), {"log": []}, config, lock_wait=-1)
    assert ledger == []
    with thread_lock(None, None):  # no saver: nothing shared, nothing to lock
        pass


def test_thread_busy_error_names_the_thread_and_what_to_do() -> None:
    """ThreadBusyError is a package error with the thread id, the fix, and it pickles."""
    exc = ThreadBusyError("order-42", waited=2.5)
    assert isinstance(exc, LangGraphRunnerError)
    assert isinstance(exc, RuntimeError)
    assert exc.thread_id == "order-42"
    text = str(exc)
    assert "'order-42'" in text and "another process" in text and "lock_wait" in text
    assert "2.500s" in text
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.thread_id, copy.waited, str(copy)) == ("order-42", 2.5, text)
    long = ThreadBusyError("x" * 1000)
    assert len(str(long)) < 600 and long.thread_id == "x" * 1000


def test_the_time_limit_starts_once_the_run_holds_its_thread() -> None:
    """Time spent waiting for the thread is not taken from the run's time limit."""
    saver = InMemorySaver()
    left: list[float] = []

    def a(state: S, config: RunnableConfig) -> S:
        left.append(config["configurable"][RUN_DEADLINE_KEY] - time.monotonic())
        return {"log": ["a"]}

    builder = StateGraph(S)
    builder.add_node("a", a)
    builder.add_edge(START, "a")
    builder.add_edge("a", END)
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    holder = thread_lock(saver, config)
    contextvars.Context().run(holder.__enter__)  # held by another run
    threading.Timer(0.5, holder.__exit__, (None, None, None)).start()
    result = run(graph, {"log": []}, config, lock_wait=5, time_limit=0.4)
    assert result.status == "completed"
    assert left[0] > 0.2  # counted from the start of the run, not from the call
