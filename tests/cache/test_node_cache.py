"""create_node(cache=...): hits, failures never cached, partial re-runs with early cutoff."""

from __future__ import annotations

import importlib.util
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import redis
from langgraph.cache.base import BaseCache
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from langgraph_runner import GraphState, create_node
from langgraph_runner._cache.backend_guard import _GuardedTier
from langgraph_runner._cache.backends import TieredCache
from langgraph_runner._cache.node_cache import NodeCache
from langgraph_runner._runs.checkpoint import open_checkpointer
from tests import services
from tests.conftest import MODES, EventCapture, as_mode, counting_closures, run_graph

pytestmark = [
    pytest.mark.usefixtures("instant"),
    counting_closures,
]


class S(GraphState, total=False):
    url: str
    page: str
    other: int


@pytest.mark.parametrize("mode", MODES)
async def test_hit_returns_original_result_and_skips_fn(mode: str, events: EventCapture) -> None:
    """A second run on the same declared input is a logged hit returning the same update."""
    calls: list[str] = []

    def fetch(state: S) -> dict[str, Any]:
        calls.append(state["url"])
        return {"page": f"<html>{state['url']}</html>"}

    cache = NodeCache(inputs=["url"], backend=InMemoryCache())
    g = StateGraph(S)
    g.add_node("fetch", create_node(as_mode(mode, fetch), cache=cache, logger=events))
    g.add_edge(START, "fetch")
    graph = g.compile()
    first = await run_graph(graph, mode, {"url": "a", "other": 1})
    second = await run_graph(graph, mode, {"url": "a", "other": 2})
    third = await run_graph(graph, mode, {"url": "b", "other": 2})
    assert calls == ["a", "b"]
    assert first["page"] == second["page"] == "<html>a</html>"
    assert third["page"] == "<html>b</html>"
    assert len(events.named("node.cache_hit")) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_recorded_failures_are_never_cached(mode: str) -> None:
    """A node whose failure was recorded into state runs again next time."""
    calls: list[int] = []

    def flaky(state: S) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")
        return {"page": "ok"}

    g = StateGraph(S)
    g.add_node(
        "f",
        create_node(as_mode(mode, flaky), cache=NodeCache(inputs=["url"], backend=InMemoryCache())),
    )
    g.add_edge(START, "f")
    graph = g.compile()
    first = await run_graph(graph, mode, {"url": "a"})
    second = await run_graph(graph, mode, {"url": "a"})
    third = await run_graph(graph, mode, {"url": "a"})
    assert first["errors"][0]["code"] == "RETRY_EXHAUSTED"
    assert second["page"] == third["page"] == "ok"
    assert len(calls) == 2


def test_cache_must_be_a_node_cache() -> None:
    """cache= takes a NodeCache, checked at factory time."""
    with pytest.raises(TypeError, match="NodeCache"):
        create_node(lambda s: s, cache={"inputs": ["x"]})  # type: ignore[arg-type]


# --- backends, code edits, scope and interrupt() through real graphs -------------


@pytest.fixture
def redis_store() -> Iterator[tuple[redis.Redis, str]]:
    """The real Redis and a unique key prefix; every key under the prefix is deleted after."""
    client = redis.Redis.from_url(services.redis_url())
    prefix = f"lgr-test-{uuid.uuid4().hex}:"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _backend_factory(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], BaseCache[Any]]:
    """New backend objects on one shared store, as a new process would open them."""
    if kind == "memory":
        shared: InMemoryCache[Any] = InMemoryCache()
        return lambda: shared
    if kind == "sqlite":
        path = str(tmp_path / "node-cache.db")
        return lambda: SqliteCache(path=path)
    client, prefix = request.getfixturevalue("redis_store")
    return lambda: RedisCache(client, prefix=prefix)


def _fetch_graph(fn: Any, cache: NodeCache, logger: Any = None) -> Any:
    g = StateGraph(S)
    g.add_node("fetch", create_node(fn, cache=cache, logger=logger))
    g.add_edge(START, "fetch")
    return g.compile()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
@pytest.mark.parametrize("mode", MODES)
async def test_each_backend_serves_hits_to_a_rebuilt_graph(
    kind: str, mode: str, tmp_path: Path, request: pytest.FixtureRequest, events: EventCapture
) -> None:
    """A graph rebuilt on a new backend object over the same store hits, returning the update."""
    make_backend = _backend_factory(kind, tmp_path, request)
    calls: list[str] = []

    def fetch(state: S) -> dict[str, Any]:
        calls.append(state["url"])
        return {"page": f"<html>{state['url']}</html>", "other": len(calls)}

    node = as_mode(mode, fetch)
    first = await run_graph(
        _fetch_graph(node, NodeCache(inputs=["url"], backend=make_backend())), mode, {"url": "a"}
    )
    rebuilt = _fetch_graph(node, NodeCache(inputs=["url"], backend=make_backend()), events)
    second = await run_graph(rebuilt, mode, {"url": "a"})
    assert calls == ["a"]
    # The same state, and the hit marked for run reports (step_marks).
    assert second.pop("step_marks") == {"fetch": {"cache": "hit"}}
    assert first.pop("step_marks") == {}
    assert second == first
    assert (second["page"], second["other"]) == ("<html>a</html>", 1)
    if kind == "redis":
        client, prefix = request.getfixturevalue("redis_store")
        stored = [k.decode() for k in client.scan_iter(f"{prefix}*")]
        # One entry under the node's namespace (the digest also covers the graph identity).
        assert [k.rsplit(":", 1)[0] for k in stored] == [f"{prefix}langgraph_runner:fetch"]
    assert [e["node"] for e in events.named("node.cache_hit")] == ["fetch"]


def _load_module(tmp_path: Path, source: str) -> Any:
    name = f"edited_{uuid.uuid4().hex}"
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NODE_SOURCE = """
CALLS = []

def fetch(state):
    CALLS.append(state["url"])
    return {"page": "%s"}
"""


def test_editing_the_node_invalidates_its_entries_unless_versioned(tmp_path: Path) -> None:
    """An edited function misses its old entries; with version= the edit keeps them."""
    backend = SqliteCache(path=str(tmp_path / "edits.db"))
    old = _load_module(tmp_path, _NODE_SOURCE % "v1")
    new = _load_module(tmp_path, _NODE_SOURCE % "v2")
    for module in (old, new, new):
        _fetch_graph(module.fetch, NodeCache(inputs=["url"], backend=backend)).invoke({"url": "a"})
    assert (old.CALLS, new.CALLS) == (["a"], ["a"])  # the edit ran once, then hit
    pinned = NodeCache(inputs=["url"], backend=backend, version="2024-06")
    out = [_fetch_graph(m.fetch, pinned).invoke({"url": "b"})["page"] for m in (old, new)]
    assert out == ["v1", "v1"]  # same version: the edited function reuses the entry
    assert (old.CALLS, new.CALLS) == (["a", "b"], ["a"])


@pytest.mark.parametrize("mode", MODES)
async def test_thread_scope_keeps_threads_apart(mode: str) -> None:
    """scope='thread' hits within a thread only; a run without a thread id is refused."""
    calls: list[str] = []

    def fetch(state: S) -> dict[str, Any]:
        calls.append(state["url"])
        return {"page": "p"}

    cache = NodeCache(inputs=["url"], scope="thread", backend=InMemoryCache())
    graph = _fetch_graph(as_mode(mode, fetch), cache)
    for thread in ("t1", "t1", "t2"):
        await run_graph(graph, mode, {"url": "a"}, {"configurable": {"thread_id": thread}})
    assert len(calls) == 2
    with pytest.raises(ValueError, match="thread id"):
        await run_graph(graph, mode, {"url": "a"})


class Q(GraphState, total=False):
    question: str
    answer: str


@pytest.mark.parametrize(("scope", "asks"), [("global", 1), ("thread", 2)])
def test_interrupting_node_hit_skips_the_question(scope: str, asks: int) -> None:
    """A hit skips interrupt(): global scope reuses thread 1's answer on thread 2."""
    asked: list[str] = []

    def approve(state: Q) -> dict[str, Any]:
        asked.append(state["question"])
        return {"answer": str(interrupt(state["question"]))}

    cache = NodeCache(inputs=["question"], scope=scope, backend=InMemoryCache())  # type: ignore[arg-type]
    g = StateGraph(Q)
    g.add_node("approve", create_node(approve, cache=cache))
    g.add_edge(START, "approve")
    with open_checkpointer(":memory:") as saver:
        graph = g.compile(checkpointer=saver)
        answers = []
        for thread in ("t1", "t2"):
            config: Any = {"configurable": {"thread_id": thread}}
            out = graph.invoke({"question": "ship it?"}, config)
            if "__interrupt__" in out:
                out = graph.invoke(Command(resume=f"yes from {thread}"), config)
            answers.append(out["answer"])
    assert len(set(asked)) == 1
    assert answers[0] == "yes from t1"
    assert answers[1] == ("yes from t1" if asks == 1 else "yes from t2")
    # interrupt() re-runs the node body on resume: 2 body runs per question asked.
    assert len(asked) == 2 * asks


# --- partial re-runs on generated DAGs ------------------------------------------

N_NODES = 20
DAG_SEEDS = range(1, 9)


def _random_dag(rng: random.Random, n: int) -> list[list[int]]:
    """parents[i] for node i; parents are earlier nodes (a DAG in topological order)."""
    parents: list[list[int]] = []
    for i in range(n):
        k = rng.randint(0, min(3, i)) if i > 2 else 0
        parents.append(sorted(rng.sample(range(i), k)))
    return parents


def _value(i: int, inputs: tuple[int, ...]) -> int:
    # Lossy on purpose: an input change often leaves the output unchanged (early cutoff).
    return (sum(inputs) + i) // 2 % 3


def _simulate(parents: list[list[int]], seeds: dict[int, int]) -> dict[int, tuple[int, ...]]:
    """Each node's input tuple for a full run (the computed expectation, no cache involved)."""
    values: dict[int, int] = {}
    inputs: dict[int, tuple[int, ...]] = {}
    for i, ps in enumerate(parents):
        inputs[i] = (seeds[i],) if not ps else tuple(values[p] for p in ps)
        values[i] = _value(i, inputs[i])
    return inputs


class _Case(NamedTuple):
    parents: list[list[int]]
    seeds: dict[int, int]
    changed: dict[int, int]
    root: int
    expected: set[int]  # nodes whose inputs changed: exactly those must run again
    downstream: set[int]  # the changed root and everything reachable from it


def _case(seed: int) -> _Case:
    rng = random.Random(seed)
    parents = _random_dag(rng, N_NODES)
    roots = [i for i, ps in enumerate(parents) if not ps]
    seeds = {i: rng.randint(0, 100) for i in roots}
    root = rng.choice([r for r in roots if any(r in ps for ps in parents)])
    changed = {**seeds, root: seeds[root] + 2}  # +2 always changes the root's own output
    before, after = _simulate(parents, seeds), _simulate(parents, changed)
    downstream = {root}
    for i, ps in enumerate(parents):
        if downstream & set(ps):
            downstream.add(i)
    expected = {i for i in after if after[i] != before[i]}
    return _Case(parents, seeds, changed, root, expected, downstream)


def test_generated_cases_exercise_propagation_and_cutoff() -> None:
    """The seeds include re-runs cut off early and re-runs that reach every descendant."""
    cases = [_case(seed) for seed in DAG_SEEDS]
    assert all(c.root in c.expected <= c.downstream for c in cases)
    assert any(len(c.expected) < len(c.downstream) for c in cases)  # early cutoff
    assert any(c.expected == c.downstream and len(c.expected) > 3 for c in cases)


def _dag_graph(parents: list[list[int]], executed: list[int], **compile_kw: Any) -> Any:
    roots = [i for i, ps in enumerate(parents) if not ps]
    fields = {f"v{i}": int for i in range(len(parents))} | {f"seed{i}": int for i in roots}
    State = TypedDict("State", fields, total=False)  # type: ignore[misc]
    backend: InMemoryCache[Any] = InMemoryCache()

    def make(i: int) -> Any:
        declared = [f"seed{i}"] if not parents[i] else [f"v{p}" for p in parents[i]]

        def fn(state: dict[str, Any]) -> dict[str, Any]:
            executed.append(i)
            return {f"v{i}": _value(i, tuple(state[f] for f in declared))}

        fn.__name__ = f"n{i}"
        return create_node(fn, cache=NodeCache(inputs=declared, backend=backend, version="1"))

    g = StateGraph(State)
    for i, ps in enumerate(parents):
        g.add_node(f"n{i}", make(i))
        g.add_edge([f"n{p}" for p in ps] if ps else START, f"n{i}")
    children = {p for ps in parents for p in ps}
    for i in range(len(parents)):
        if i not in children:
            g.add_edge(f"n{i}", END)
    return g.compile(**compile_kw)


@pytest.mark.parametrize("thread", ["new-run", "same-thread"])
@pytest.mark.parametrize("seed", DAG_SEEDS)
def test_partial_rerun_executes_exactly_the_changed_nodes(seed: int, thread: str) -> None:
    """Re-running a finished DAG with one input changed runs only nodes whose inputs changed."""
    case = _case(seed)
    executed: list[int] = []
    with open_checkpointer(":memory:") as saver:
        graph = _dag_graph(case.parents, executed, checkpointer=saver)
        ids = iter(["first", "second", "third"] if thread == "new-run" else ["t"] * 3)

        def run(seeds: dict[int, int]) -> dict[str, Any]:
            config: Any = {"configurable": {"thread_id": next(ids)}}
            return dict(graph.invoke({f"seed{i}": v for i, v in seeds.items()}, config))

        run(case.seeds)
        assert sorted(executed) == list(range(N_NODES))
        executed.clear()
        out = run(case.changed)
        assert sorted(executed) == sorted(case.expected)
        final = _simulate(case.parents, case.changed)
        assert all(out[f"v{i}"] == _value(i, final[i]) for i in range(N_NODES))
        executed.clear()
        assert run(case.changed) == out
        assert executed == []


@pytest.fixture
def hung_server() -> Iterator[tuple[str, int]]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    import socket
    import threading

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("mode", MODES)
async def test_a_hung_redis_backend_never_hangs_or_fails_the_node(
    mode: str, hung_server: tuple[str, int], events: EventCapture
) -> None:
    """A Redis server that never answers: the node runs uncached, with one warning, every time."""
    host, port = hung_server
    client = redis.Redis(host=host, port=port)  # no socket timeout: a read blocks forever
    calls: list[str] = []

    def fetch(state: S) -> dict[str, Any]:
        calls.append(state["url"])
        return {"page": state["url"].upper()}

    cache = NodeCache(
        inputs=["url"],
        backend=RedisCache(client),
        backend_timeout=0.2,
        signing_key="k" * 32,
    )
    graph = _fetch_graph(as_mode(mode, fetch), cache, logger=events)
    first = await run_graph(graph, mode, {"url": "a"})
    second = await run_graph(graph, mode, {"url": "a"})
    assert first["page"] == second["page"] == "A"
    assert calls == ["a", "a"]
    warned = events.named("node.cache_error")
    assert len(warned) == 1
    assert warned[0]["error_type"] == "BackendTimeout"
    assert not first.get("errors")


@pytest.mark.parametrize("mode", MODES)
async def test_a_hung_front_tier_leaves_the_back_tier_serving(
    mode: str, hung_server: tuple[str, int], tmp_path: Path, events: EventCapture
) -> None:
    """TieredCache(hung Redis, SQLite) under backend_timeout: the front tier is paused alone,
    so the second run is served from the back tier (an outage only costs speed)."""
    host, port = hung_server
    front = RedisCache(redis.Redis(host=host, port=port))  # a read blocks forever
    back = SqliteCache(path=str(tmp_path / "back.db"))
    calls: list[str] = []

    def fetch(state: S) -> dict[str, Any]:
        calls.append(state["url"])
        return {"page": state["url"].upper()}

    cache = NodeCache(
        inputs=["url"],
        backend=TieredCache(front, back),
        backend_timeout=0.2,  # what the hung front tier costs, once: then it is paused
        signing_key="k" * 32,
    )
    # Each tier is bounded by a guard of its own. The healthy SQLite tier's bound is not what
    # this test is about, and a starved machine can hold one of its calls past 0.2 s (a cache
    # error): its guard gets one out of reach. Were the tiers' guards one, the front tier
    # would then hang for it too, and the second run would miss.
    tiers = cache._view
    assert isinstance(tiers, TieredCache)
    assert isinstance(tiers.front, _GuardedTier)
    assert isinstance(tiers.back, _GuardedTier)
    tiers.back.guard.timeout = 60.0
    graph = _fetch_graph(as_mode(mode, fetch), cache, logger=events)
    first = await run_graph(graph, mode, {"url": "a"})
    second = await run_graph(graph, mode, {"url": "a"})
    assert first["page"] == second["page"] == "A"
    assert calls == ["a"]  # the second run was a hit from the back tier
    assert not events.named("node.cache_error")  # the back tier never failed
    assert not first.get("errors")


def test_backend_timeout_is_validated() -> None:
    """backend_timeout is None or a finite number of seconds > 0."""
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="backend_timeout"):
            NodeCache(backend_timeout=bad)
    with pytest.raises(TypeError, match="backend_timeout"):
        NodeCache(backend_timeout="1")  # type: ignore[arg-type]
