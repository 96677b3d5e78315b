"""EffectLedger: completed side effects recorded in the run's own SQLite or PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import operator
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

from langgraph_runner import create_node
from langgraph_runner._runs import effects as store
from langgraph_runner._runs.effects import TABLE
from langgraph_runner.runs import EffectLedger, open_checkpointer
from langgraph_runner.testing import no_wait
from tests import services


class Crash(BaseException):
    """Stands in for a process dying: nothing in the package catches it."""


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def email_graph(
    ledger: EffectLedger, sent: list[str], *, crash_after: list[bool], retry_fail: int = 0
) -> StateGraph[Any]:
    """A graph whose 'notify' node sends an email through the ledger, then may crash or fail."""
    fails = [retry_fail]

    def notify(state: S) -> dict[str, Any]:
        with ledger.effect("email") as done:
            if not done:
                sent.append("email")
        if fails[0]:
            fails[0] -= 1
            raise ConnectionError("the node fails after its effect")
        if crash_after and crash_after.pop():
            raise Crash("killed after the effect")
        return {"log": ["notified"]}

    g: StateGraph[Any] = StateGraph(S)
    g.add_node("notify", create_node(notify, retry=3))
    g.add_edge(START, "notify")
    g.add_edge("notify", END)
    return g


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "run.db")


@pytest.fixture
def ledger(db_path: str) -> Iterator[EffectLedger]:
    with EffectLedger.sqlite(db_path) as opened:
        yield opened


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": f"effects-{uuid.uuid4()}"}}


# ---------------------------------------------------------------- in a graph


def test_crash_after_the_effect_then_resume_sends_once(db_path: str) -> None:
    """A node killed after its effect is re-run on resume and skips the effect."""
    sent: list[str] = []
    with open_checkpointer(f"sqlite:///{db_path}") as saver:
        ledger = EffectLedger.for_checkpointer(saver)
        graph = email_graph(ledger, sent, crash_after=[False, True]).compile(checkpointer=saver)
        config = thread()
        with pytest.raises(Crash):
            graph.invoke({"log": []}, config, durability="sync")
        assert sent == ["email"]
        assert graph.invoke(None, config, durability="sync") == {"log": ["notified"]}
        assert sent == ["email"]
        ledger.close()
    with sqlite3.connect(db_path) as conn:  # the record lives beside the checkpoints
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {TABLE, "checkpoints"} <= tables


def test_in_node_retries_skip_the_effect(ledger: EffectLedger) -> None:
    """create_node(retry=) runs the node again after its effect: the effect runs once."""
    sent: list[str] = []
    with SqliteSaver.from_conn_string(":memory:") as saver:
        graph = email_graph(ledger, sent, crash_after=[], retry_fail=2).compile(checkpointer=saver)
        with no_wait():
            assert graph.invoke({"log": []}, thread()) == {"log": ["notified"]}
    assert sent == ["email"]


def test_langgraph_retry_policy_skips_the_effect(ledger: EffectLedger) -> None:
    """LangGraph's RetryPolicy re-runs the task after its effect: the effect runs once."""
    sent: list[str] = []
    fails = [1]

    def notify(state: S) -> dict[str, Any]:
        ledger.once("email", lambda: sent.append("email"))
        if fails[0]:
            fails[0] -= 1
            raise ConnectionError("after the effect")
        return {"log": ["ok"]}

    g: StateGraph[Any] = StateGraph(S)
    g.add_node(
        "notify",
        create_node(notify, on_error="raise"),
        retry_policy=RetryPolicy(initial_interval=0.001, jitter=False),
    )
    g.add_edge(START, "notify")
    g.add_edge("notify", END)
    assert g.compile().invoke({"log": []}) == {"log": ["ok"]}
    assert sent == ["email"]


def test_another_thread_makes_its_own_effect(ledger: EffectLedger) -> None:
    """The same node on two threads sends two emails: keys are per task."""
    sent: list[str] = []
    with SqliteSaver.from_conn_string(":memory:") as saver:
        graph = email_graph(ledger, sent, crash_after=[]).compile(checkpointer=saver)
        graph.invoke({"log": []}, thread())
        graph.invoke({"log": []}, thread())
    assert sent == ["email", "email"]


def test_os_exit_after_the_effect_then_resume_sends_once(tmp_path: Path) -> None:
    """A process really killed (os._exit) after the effect: the run resumed elsewhere skips it."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from typing import TypedDict
            from langgraph.graph import END, START, StateGraph
            from langgraph_runner import create_node
            from langgraph_runner.runs import EffectLedger, open_checkpointer

            class S(TypedDict, total=False):
                n: int

            db, thread_id, sent = sys.argv[1:4]
            with open_checkpointer("sqlite:///" + db) as saver:
                ledger = EffectLedger.for_checkpointer(saver)

                def notify(state):
                    with ledger.effect("email") as done:
                        if not done:
                            with open(sent, "a") as f:
                                f.write("email\\n")
                    os._exit(9)

                g = StateGraph(S)
                g.add_node("notify", create_node(notify))
                g.add_edge(START, "notify")
                g.add_edge("notify", END)
                graph = g.compile(checkpointer=saver)
                config = {"configurable": {"thread_id": thread_id}}
                graph.invoke({"n": 0}, config, durability="sync")
            """
        )
    )
    db, sent, thread_id = str(tmp_path / "run.db"), tmp_path / "sent.txt", f"t-{uuid.uuid4()}"
    killed = subprocess.run(
        [sys.executable, str(script), db, thread_id, str(sent)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == 9, killed.stderr
    assert sent.read_text().splitlines() == ["email"]

    resumed: list[str] = []

    def notify(state: dict[str, Any]) -> dict[str, Any]:  # the same node, in a new process
        with resumed_ledger.effect("email") as done:
            if not done:
                resumed.append("email")
        return {"n": 1}

    class N(TypedDict, total=False):
        n: int

    with (
        open_checkpointer(f"sqlite:///{db}") as saver,
        EffectLedger.for_checkpointer(saver) as resumed_ledger,
    ):
        g: StateGraph[Any] = StateGraph(N)
        g.add_node("notify", create_node(notify))
        g.add_edge(START, "notify")
        g.add_edge("notify", END)
        config = {"configurable": {"thread_id": thread_id}}
        assert g.compile(checkpointer=saver).invoke(None, config, durability="sync") == {"n": 1}
    assert resumed == []


# ---------------------------------------------------------------- the ledger itself


def test_once_returns_the_recorded_result_on_a_skip(ledger: EffectLedger) -> None:
    """once() runs fn the first time and hands back its recorded (JSON) value after."""
    calls: list[int] = []

    def charge() -> dict[str, Any]:
        calls.append(1)
        return {"charge_id": "ch_1", "amount": 5}

    assert ledger.once("charge", charge, key="k1") == {"charge_id": "ch_1", "amount": 5}
    assert ledger.once("charge", charge, key="k1") == {"charge_id": "ch_1", "amount": 5}
    assert calls == [1]
    assert ledger.done("charge", key="k1")
    assert not ledger.done("refund", key="k1")


def test_a_failed_effect_is_not_recorded(ledger: EffectLedger) -> None:
    """An effect that raises gives its claim back: the next try runs it again."""

    def send_fails() -> None:
        raise ConnectionError("smtp down")

    with pytest.raises(ConnectionError):
        ledger.once("email", send_fails, key="k2")
    assert not ledger.done("email", key="k2")
    with ledger.effect("email", key="k2") as done:
        assert not done
    with ledger.effect("email", key="k2") as done:
        assert done


def test_effects_are_keyed_by_key_and_name(ledger: EffectLedger) -> None:
    """Another key or another effect name is another effect."""
    for key, name in [("a", "email"), ("a", "sms"), ("b", "email")]:
        with ledger.effect(name, key=key) as done:
            assert not done


def test_two_ledgers_share_the_database_file(db_path: str) -> None:
    """A second process (its own ledger on the same file) sees what the first recorded."""
    with EffectLedger.sqlite(db_path) as first, EffectLedger.sqlite(db_path) as second:
        first.once("email", lambda: 1, key="shared")
        assert second.done("email", key="shared")


def concurrent_once(make: Callable[[], EffectLedger], key: str) -> list[Any]:
    """Two workers (each with its own ledger) run the same effect at once; what they return."""
    sent: list[int] = []
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def worker(i: int) -> None:
        with make() as ledger:
            barrier.wait()

            def send() -> str:
                sent.append(i)
                time.sleep(0.2)  # still running when the other worker looks
                return f"sent by {i}"

            results[i] = ledger.once("email", send, key=key)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert len(sent) == 1
    return results


def test_two_concurrent_workers_send_once_sqlite(db_path: str) -> None:
    """Two workers on the same key: one sends, the other waits and gets its result."""
    EffectLedger.sqlite(db_path).close()  # the table exists before they race
    results = concurrent_once(lambda: EffectLedger.sqlite(db_path), "race")
    assert results[0] == results[1] and results[0] in ("sent by 0", "sent by 1")


def test_a_claim_left_by_a_dead_execution_is_taken_over(db_path: str) -> None:
    """A claim whose execution died inside the effect is retaken after the lease (at-least-once)."""
    with EffectLedger.sqlite(db_path, lease=0.2, poll_interval=0.01) as ledger:
        # What a process killed inside the effect leaves behind: a claim, never completed.
        ledger._db.run(store.CLAIM, ("dead", "email", None, "a-dead-owner", time.time()))
        with ledger.effect("email", key="dead") as done:
            assert not done  # waited out the lease, then took the claim over
        assert ledger.done("email", key="dead")


def test_delete_thread_forgets_its_effects(ledger: EffectLedger) -> None:
    """delete_thread() removes the thread's rows, as saver.delete_thread does for checkpoints."""
    sent: list[str] = []
    config = thread()
    with SqliteSaver.from_conn_string(":memory:") as saver:
        graph = email_graph(ledger, sent, crash_after=[]).compile(checkpointer=saver)
        graph.invoke({"log": []}, config)
    assert ledger.delete_thread(config["configurable"]["thread_id"]) == 1
    assert ledger.delete_thread(config["configurable"]["thread_id"]) == 0


def test_async_forms_record_once(ledger: EffectLedger) -> None:
    """aeffect() and aonce() skip what was done, in async code."""
    calls: list[int] = []

    async def send() -> str:
        calls.append(1)
        return "ok"

    async def main() -> tuple[Any, Any, bool, bool]:
        first = await ledger.aonce("email", send, key="ak")
        again = await ledger.aonce("email", send, key="ak")
        async with ledger.aeffect("sms", key="ak") as sms_before:
            pass
        async with ledger.aeffect("sms", key="ak") as sms_after:
            pass
        return first, again, sms_before, sms_after

    assert asyncio.run(main()) == ("ok", "ok", False, True)
    assert calls == [1]


def test_async_node_uses_its_idempotency_key(ledger: EffectLedger) -> None:
    """Inside an async wrapped node the ledger picks up the node's key by itself."""
    sent: list[str] = []
    fails = [1]

    async def notify(state: S) -> dict[str, Any]:
        async with ledger.aeffect("email") as done:
            if not done:
                sent.append("email")
        if fails[0]:
            fails[0] -= 1
            raise ConnectionError("after the effect")
        return {"log": ["ok"]}

    g: StateGraph[Any] = StateGraph(S)
    g.add_node("notify", create_node(notify, retry=2))
    g.add_edge(START, "notify")
    g.add_edge("notify", END)
    with no_wait():
        assert asyncio.run(g.compile().ainvoke({"log": []})) == {"log": ["ok"]}
    assert sent == ["email"]


# ---------------------------------------------------------------- errors


def test_outside_a_node_a_key_is_required(ledger: EffectLedger) -> None:
    """Without a node context and without key=, the ledger says what is missing."""
    with pytest.raises(RuntimeError, match="idempotency key"), ledger.effect("email"):
        pass


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (True, TypeError),
        ("5", TypeError),
    ],
)
def test_bad_lease_is_refused(db_path: str, bad: Any, error: type[Exception]) -> None:
    """lease and poll_interval must be positive finite seconds (a bool or str is a TypeError)."""
    with pytest.raises(error, match="lease"):
        EffectLedger.sqlite(db_path, lease=bad)
    with pytest.raises(error, match="poll_interval"):
        EffectLedger.sqlite(db_path, poll_interval=bad)


@pytest.mark.parametrize(("name", "error"), [("", ValueError), (None, TypeError), (3, TypeError)])
def test_bad_effect_name_is_refused(ledger: EffectLedger, name: Any, error: type) -> None:
    """An empty effect name is a ValueError, a non-string one a TypeError; both name it."""
    with pytest.raises(error, match=r"^EffectLedger: name "):
        ledger.done(name, key="k")


@pytest.mark.parametrize(("key", "error"), [("", ValueError), (7, TypeError)])
def test_bad_effect_key_is_refused(ledger: EffectLedger, key: Any, error: type) -> None:
    """An empty key is a ValueError, a non-string one a TypeError; both name it."""
    with pytest.raises(error, match=r"^EffectLedger: key "):
        ledger.done("charge", key=key)


def test_a_saver_without_a_database_is_refused() -> None:
    """InMemorySaver and an in-memory SqliteSaver have no database the ledger could share."""
    with pytest.raises(TypeError, match="InMemorySaver"):
        EffectLedger.for_checkpointer(InMemorySaver())
    with (
        SqliteSaver.from_conn_string(":memory:") as saver,
        pytest.raises(ValueError, match="memory"),
    ):
        EffectLedger.for_checkpointer(saver)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_url() -> str:
    return services.postgres_url()


def test_postgres_crash_then_resume_sends_once(pg_url: str) -> None:
    """On PostgresSaver: the ledger lives in the same database; a resumed crash sends once."""
    sent: list[str] = []
    config = thread()
    thread_id = config["configurable"]["thread_id"]
    with open_checkpointer(pg_url) as saver:
        ledger = EffectLedger.for_checkpointer(saver)
        try:
            graph = email_graph(ledger, sent, crash_after=[False, True]).compile(checkpointer=saver)
            with pytest.raises(Crash):
                graph.invoke({"log": []}, config, durability="sync")
            assert graph.invoke(None, config, durability="sync") == {"log": ["notified"]}
            assert sent == ["email"]
            rows = ledger._db.run(f"SELECT state FROM {TABLE} WHERE thread_id = ?", (thread_id,))
            assert rows[1] == [("done",)]
        finally:
            assert ledger.delete_thread(thread_id) == 1
            ledger.close()
            saver.delete_thread(thread_id)


def test_two_concurrent_workers_send_once_postgres(pg_url: str) -> None:
    """Two workers with their own PostgreSQL connections on the same key: one email."""
    key = f"race-{uuid.uuid4()}"
    results = concurrent_once(lambda: EffectLedger.postgres(pg_url), key)
    assert results[0] == results[1]
    with EffectLedger.postgres(pg_url) as ledger:
        assert ledger._db.run(f"DELETE FROM {TABLE} WHERE idempotency_key = ?", (key,))[0] == 1


def test_postgres_result_round_trips(pg_url: str) -> None:
    """once() results come back from PostgreSQL as the same JSON value."""
    key = f"pg-{uuid.uuid4()}"
    with EffectLedger.postgres(pg_url) as ledger:
        try:
            value = {"id": 7, "tags": ["a"]}
            assert ledger.once("charge", lambda: value, key=key) == value
            assert ledger.once("charge", lambda: {"id": 8}, key=key) == json.loads(
                json.dumps(value)
            )
        finally:
            ledger._db.run(f"DELETE FROM {TABLE} WHERE idempotency_key = ?", (key,))
