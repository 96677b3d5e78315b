"""Idle limits: heartbeats and progress signals reset them, for sync and async nodes."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from langgraph.errors import NodeTimeoutError as LGNodeTimeoutError
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import StreamWriter, TimeoutPolicy

from langgraph_runner import GraphState, NodeTimeoutError, create_node, get_node_context
from langgraph_runner._policies.progress import (
    Progress,
    expiry,
    heartbeat,
    reset_relay,
    set_relay,
)

MODES = ["sync-invoke", "sync-ainvoke", "async"]


class S(GraphState, total=False):
    n: int


def _graph(node: Any) -> Any:
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    return g.compile()


async def _run(mode: str, node: Any) -> dict[str, Any]:
    graph = _graph(node)
    if mode == "sync-invoke":
        return await asyncio.to_thread(graph.invoke, {})  # type: ignore[no-any-return]
    return await graph.ainvoke({})  # type: ignore[no-any-return]


def _beating(mode: str, beat: str, steps: int = 10, pause: float = 0.05) -> Any:
    """A node that works ``steps * pause`` seconds and signals progress after each step.

    It stops once its attempt times out (the async one is cancelled; the sync one sees its
    abort signal), so a long ``steps * pause`` costs nothing past the attempt's limit.
    """

    def signal(runtime: Runtime[Any] | None, writer: StreamWriter | None, i: int) -> None:
        if beat == "runtime":
            assert runtime is not None
            runtime.heartbeat()
        elif beat == "package":
            heartbeat()
        else:
            assert writer is not None
            writer({"step": i})

    if mode == "async":

        async def awork(state: S, runtime: Runtime[Any], writer: StreamWriter) -> dict[str, Any]:
            for i in range(steps):
                await asyncio.sleep(pause)
                signal(runtime, writer, i)
            return {"n": steps}

        return awork

    def work(state: S, runtime: Runtime[Any], writer: StreamWriter) -> dict[str, Any]:
        ctx = get_node_context()
        assert ctx is not None
        for i in range(steps):
            if ctx.abort_signal.wait_sync(pause):
                ctx.abort_signal.throw_if_aborted()  # timed out: stop working
            signal(runtime, writer, i)
        return {"n": steps}

    return work


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("beat", ["runtime", "package", "stream-write"])
async def test_progress_signals_keep_an_idle_limit_from_firing(mode: str, beat: str) -> None:
    """Work longer than the idle limit, signalling progress more often, completes.

    A beat every 0.04 s against a 0.4 s idle limit: a starved thread may lose a third of a
    second between two beats and still make it (a 0.25 s limit left it 0.2 s).
    """
    fn = _beating(mode, beat, steps=12, pause=0.04)  # 0.48 s of work: past the limit
    node = create_node(fn, timeout=TimeoutPolicy(idle_timeout=0.4), on_error="raise")
    assert (await _run(mode, node))["n"] == 12


@pytest.mark.parametrize("mode", MODES)
async def test_silence_past_the_idle_limit_times_out_as_idle(mode: str) -> None:
    """No progress for idle_timeout seconds: NodeTimeoutError(kind='idle'), recorded."""
    release = threading.Event()  # the silent node returns only after the run has ended
    if mode == "async":

        async def silent(state: S) -> dict[str, Any]:
            await asyncio.sleep(30)  # cancelled at the idle limit
            return {"n": 1}

    else:

        def silent(state: S) -> dict[str, Any]:  # type: ignore[misc]
            release.wait(30)  # ignores its abort signal: abandoned at the idle limit
            return {"n": 1}

    node = create_node(silent, timeout=TimeoutPolicy(idle_timeout=0.1))
    try:
        out = await _run(mode, node)
    finally:
        release.set()
    (record,) = out["errors"]
    assert record["code"] == "NODE_TIMEOUT"
    assert "idle timeout of 0.100s without making progress" in record["message"]


@pytest.mark.parametrize("mode", MODES)
async def test_refresh_on_heartbeat_ignores_stream_writes(mode: str) -> None:
    """Under refresh_on='heartbeat' only heartbeats count, as in LangGraph's TimeoutPolicy."""
    fn = _beating(mode, "stream-write", steps=200)  # 10 s of writes, cut at 0.15 s
    policy = TimeoutPolicy(idle_timeout=0.15, refresh_on="heartbeat")
    node = create_node(fn, timeout=policy, on_error="raise")
    with pytest.raises(LGNodeTimeoutError) as caught:
        await _run(mode, node)
    assert isinstance(caught.value, NodeTimeoutError)
    assert caught.value.kind == "idle"


@pytest.mark.parametrize("mode", MODES)
async def test_the_run_limit_caps_an_attempt_that_keeps_beating(mode: str) -> None:
    """Heartbeats never extend run_timeout.

    A beat every 0.02 s keeps a 0.4 s idle limit from firing even on a starved machine (a
    0.1 s limit against beats every 0.03 s timed out as idle when a thread lost 0.07 s), and
    the work (200 beats, 4 s) lasts far past the 0.8 s run limit that cuts it.
    """
    fn = _beating(mode, "runtime", steps=200, pause=0.02)
    policy = TimeoutPolicy(run_timeout=0.8, idle_timeout=0.4)
    node = create_node(fn, timeout=policy, on_error="raise")
    with pytest.raises(NodeTimeoutError) as caught:
        await _run(mode, node)
    assert caught.value.kind == "run"
    assert caught.value.timeout == pytest.approx(0.8)


def test_expiry_is_the_earlier_limit_and_moves_with_beats() -> None:
    """expiry() picks the earlier of the run and idle limits; a beat moves the idle one."""
    progress = Progress(idle=1.0)
    progress.last = 100.0
    assert expiry(100.0, 5.0, progress) == (101.0, "idle")
    progress.last = 104.5
    assert expiry(100.0, 5.0, progress) == (105.0, "run")
    assert expiry(100.0, None, None) == (None, "run")
    progress.open = False
    before = progress.last
    progress.beat()
    assert progress.last == before  # a closed attempt's beats are ignored


def test_heartbeat_outside_an_attempt_is_a_no_op() -> None:
    """heartbeat() may be called anywhere."""
    heartbeat()


def test_a_timeout_policy_without_limits_is_refused() -> None:
    """TimeoutPolicy() with neither limit fails at factory time."""
    with pytest.raises(ValueError, match="needs run_timeout or idle_timeout"):
        create_node(lambda s: s, timeout=TimeoutPolicy())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("beat", ["runtime", "package", "stream-write"])
async def test_a_relay_hears_every_progress_signal_of_an_attempt(mode: str, beat: str) -> None:
    """What a host relays (Temporal's heartbeats): each beat of an attempt started under it."""
    heard: list[float] = []
    token = set_relay(lambda: heard.append(time.monotonic()))
    try:
        fn = _beating(mode, beat, steps=4, pause=0.01)
        node = create_node(fn, timeout=TimeoutPolicy(idle_timeout=5), on_error="raise")
        assert (await _run(mode, node))["n"] == 4
    finally:
        reset_relay(token)
    assert len(heard) == 4
    heartbeat()  # the relay is gone
    assert len(heard) == 4


def test_heartbeat_without_an_attempt_progress_still_reaches_the_relay() -> None:
    """A node without an idle limit has no Progress: heartbeat() goes to the relay alone."""
    heard: list[str] = []
    token = set_relay(lambda: heard.append("beat"))
    try:
        heartbeat()
        closed = Progress(idle=1.0)
        closed.open = False
        closed.beat()  # a timed-out attempt's beats are not relayed
    finally:
        reset_relay(token)
    assert heard == ["beat"]
