"""What README.md and docs/native.md say LangGraph does natively, run on the installed LangGraph.

Each test names the page and quotes the sentence it checks, then runs real LangGraph
(``StateGraph`` with ``RetryPolicy``, ``TimeoutPolicy``, ``error_handler``, ``CachePolicy``)
without this package in the way. When a LangGraph upgrade changes one of these behaviours,
the test fails and the page must change with it. LangGraph's retry waits are real here:
tiny intervals without jitter, or, where the jitter itself is the claim, an event loop
whose clock moves on instead of sleeping (``VirtualClockLoop``).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import operator
import pickle
import re
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pydantic
import pytest
import requests
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import NodeError, NodeTimeoutError
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import CachePolicy, Command, RetryPolicy, TimeoutPolicy, interrupt

from langgraph_runner import create_node

_LANGGRAPH = tuple(int(p) for p in version("langgraph").split(".")[:3] if p.isdigit())


class S(TypedDict, total=False):
    path: Annotated[list[str], operator.add]
    key: str
    other: str
    out: str


def _tiny() -> RetryPolicy:
    """LangGraph's default policy with a 1 ms first wait and no jitter: the waits stay tiny."""
    return RetryPolicy(initial_interval=0.001, jitter=False)


def _requests_error(status: int) -> requests.HTTPError:
    """What ``response.raise_for_status()`` raises for ``status``."""
    response = requests.Response()
    response.status_code = status
    response.url = "https://api.example.com/v1/items"
    return requests.HTTPError(f"{status} Client Error", response=response)


def _httpx_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://api.example.com/v1/items")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError(f"{status}", request=request, response=response)


def _invalid() -> pydantic.ValidationError:
    try:
        pydantic.TypeAdapter(int).validate_python("x")
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


def _attempts(exc: Exception, policy: RetryPolicy | None = None) -> int:
    """How many times LangGraph runs a node that always raises ``exc``."""
    calls: list[int] = []

    def node(state: S) -> S:
        calls.append(1)
        raise exc

    builder = StateGraph(S)
    builder.add_node("node", node, retry_policy=policy or _tiny())
    builder.add_edge(START, "node")
    with pytest.raises(type(exc)):
        builder.compile().invoke({})
    return len(calls)


# ---------------------------------------------------------------- retries


def test_retry_policy_defaults() -> None:
    """README and native.md: "`RetryPolicy`: 3 attempts, 0.5 s initial, x2, 128 s cap", with
    `default_retry_on` as its predicate."""
    from langgraph.types import default_retry_on

    policy = RetryPolicy()
    assert (policy.max_attempts, policy.initial_interval) == (3, 0.5)
    assert (policy.backoff_factor, policy.max_interval) == (2.0, 128.0)
    assert policy.jitter is True and policy.retry_on is default_retry_on
    assert _attempts(ConnectionError("reset"), _tiny()) == 3


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer instead of waiting for it.

    ``asyncio.sleep(d)`` returns at once, and ``loop.time()`` has moved on by exactly
    ``d``: the waits between a node's attempts are read off the clock, and nothing sleeps.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        selector = vars(self)["_selector"]  # the loop's own selector, not a global one
        select = selector.select

        def advancing(timeout: float | None = None) -> Any:
            if timeout is not None and timeout > 0:
                self.now += timeout
                timeout = 0
            return select(timeout)

        selector.select = advancing

    def time(self) -> float:
        return self.now


def test_jitter_is_a_flat_second_that_exceeds_the_cap() -> None:
    """README and native.md: "plus a flat U(0, 1) s jitter that can exceed the cap"; retries.md:
    "LangGraph adds a flat U(0, 1) s that can exceed `max_interval`"."""
    starts: list[float] = []

    async def flaky(state: S) -> S:
        starts.append(asyncio.get_running_loop().time())
        if len(starts) < 30:
            raise ConnectionError("reset")
        return {"out": "ok"}

    cap = 0.001
    policy = RetryPolicy(max_attempts=30, initial_interval=cap, max_interval=cap, jitter=True)
    builder = StateGraph(S)
    builder.add_node("flaky", flaky, retry_policy=policy)
    builder.add_edge(START, "flaky")
    loop = VirtualClockLoop()
    try:
        assert loop.run_until_complete(builder.compile().ainvoke({}))["out"] == "ok"
    finally:
        loop.close()
    waits = [b - a for a, b in itertools.pairwise(starts)]
    assert len(waits) == 29
    assert all(cap - 1e-9 <= wait < cap + 1 for wait in waits)  # the cap, plus U(0, 1)
    # 29 draws all under 0.5 s would happen once in 5e8 runs: the jitter ignores the cap
    assert max(waits) > cap + 0.5


RETRIED = [
    ("builtin ConnectionError", ConnectionError("reset")),
    ("httpx HTTP 503", _httpx_error(503)),
    ("requests HTTP 503", _requests_error(503)),
    ("requests HTTP 429", _requests_error(429)),
    ("requests HTTP 404", _requests_error(404)),
    ("httpx ConnectError", httpx.ConnectError("refused")),
    ("httpx ReadTimeout", httpx.ReadTimeout("read timed out")),
    ("an exception outside the deny list", type("QuotaHiccup", (Exception,), {})("x")),
]
NOT_RETRIED = [
    ("ValueError", ValueError("malformed JSON")),
    ("pydantic ValidationError", _invalid()),
    ("RuntimeError", RuntimeError("event loop hiccup")),
    ("TypeError", TypeError("bad argument")),
    ("LookupError (KeyError)", KeyError("items")),
    ("ArithmeticError (ZeroDivisionError)", ZeroDivisionError("x")),
    ("OSError", OSError("disk")),
    ("builtin TimeoutError", TimeoutError("read timed out")),
    ("requests ConnectionError", requests.ConnectionError("reset")),
    ("requests Timeout", requests.Timeout("read timed out")),
    ("httpx HTTP 429", _httpx_error(429)),
    ("httpx HTTP 404", _httpx_error(404)),
]


@pytest.mark.parametrize(("what", "exc"), RETRIED, ids=[w for w, _ in RETRIED])
def test_default_retry_on_retries(what: str, exc: Exception) -> None:
    """README and native.md: "Default `default_retry_on` retries builtin `ConnectionError`,
    httpx HTTP 5xx, every requests `HTTPError` (404 and 429 included) and exceptions outside a
    deny list (httpx's connection errors and timeouts among them)"."""
    assert _attempts(exc) == 3


@pytest.mark.parametrize(("what", "exc"), NOT_RETRIED, ids=[w for w, _ in NOT_RETRIED])
def test_default_retry_on_does_not_retry(what: str, exc: Exception) -> None:
    """README and native.md: "it does **not** retry `ValueError` (so pydantic `ValidationError`),
    `RuntimeError`, `TypeError`, `LookupError`, `ArithmeticError` or `OSError` (so builtin
    `TimeoutError` and requests' `ConnectionError` and `Timeout`), nor an httpx HTTP 4xx (429
    included)"."""
    assert _attempts(exc) == 1


# ---------------------------------------------------------------- add_node


def test_add_node_takes_the_four_native_policies() -> None:
    """README and native.md: "LangGraph 1.2 has per-node `retry_policy=`, `timeout=`,
    `error_handler=` and `cache_policy=` on `add_node`"."""
    parameters = inspect.signature(StateGraph.add_node).parameters
    assert {"retry_policy", "timeout", "error_handler", "cache_policy"} <= set(parameters)


# ---------------------------------------------------------------- timeouts


def _timed(node: Any, timeout: Any) -> StateGraph[S]:
    builder = StateGraph(S)
    builder.add_node("node", node, timeout=timeout)
    builder.add_edge(START, "node")
    return builder


@pytest.mark.parametrize("timeout", [1.0, TimeoutPolicy(run_timeout=1.0)], ids=["float", "policy"])
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "create_node"])
def test_a_sync_node_with_a_timeout_fails_at_compile(timeout: Any, wrapped: bool) -> None:
    """README and native.md: "`TimeoutPolicy` (run, idle, heartbeat) for **async nodes only**:
    a sync node with a timeout fails at compile"; native.md: "a native `TimeoutPolicy` on a
    wrapped sync node fails at `compile()` with LangGraph's own error, as for the bare
    function"."""

    def sync(state: S) -> S:
        return {}

    builder = _timed(create_node(sync) if wrapped else sync, timeout)
    with pytest.raises(ValueError, match="only supported for async nodes"):
        builder.compile()


@pytest.mark.parametrize(
    "timeout",
    [0.01, TimeoutPolicy(run_timeout=0.01), TimeoutPolicy(idle_timeout=0.01)],
    ids=["seconds", "run", "idle"],
)
def test_an_async_node_that_hangs_times_out(timeout: Any) -> None:
    """README and native.md: "`TimeoutPolicy` (run, idle, heartbeat)": an async node that
    never returns (and shows no progress) ends in LangGraph's `NodeTimeoutError`."""

    async def hangs(state: S) -> S:
        await asyncio.Event().wait()
        return {}

    with pytest.raises(NodeTimeoutError):
        asyncio.run(_timed(hangs, timeout).compile().ainvoke({}))


@pytest.mark.parametrize("beats", [True, False], ids=["heartbeats", "silent"])
def test_the_idle_limit_is_refreshed_by_heartbeats(beats: bool) -> None:
    """README and native.md: "`TimeoutPolicy` (run, idle, heartbeat)": an async node that
    calls `runtime.heartbeat()` more often than its idle limit runs past that limit; the
    same node without heartbeats times out. (A beat every 0.02 s against a 1 s limit, for
    1.2 s in all: only a stall of a whole second between two beats would fail it.)"""

    async def works(state: S, runtime: Runtime[Any]) -> S:
        for _ in range(60):
            if beats:
                runtime.heartbeat()
            await asyncio.sleep(0.02)
        return {"out": "done"}

    graph = _timed(works, TimeoutPolicy(idle_timeout=1.0, refresh_on="heartbeat")).compile()
    if beats:
        assert asyncio.run(graph.ainvoke({}))["out"] == "done"
    else:
        with pytest.raises(NodeTimeoutError):
            asyncio.run(graph.ainvoke({}))


# ---------------------------------------------------------------- error_handler


def _failing_with_handler(handler: Any, calls: list[str]) -> Any:
    def boom(state: S) -> S:
        calls.append("boom")
        raise ConnectionError("reset")

    def after(state: S) -> S:
        calls.append("after")
        return {"path": ["after"]}

    def elsewhere(state: S) -> S:
        calls.append("elsewhere")
        return {"path": ["elsewhere"]}

    builder = StateGraph(S)
    builder.add_node("boom", boom, retry_policy=_tiny(), error_handler=handler)
    builder.add_node("after", after)
    builder.add_node("elsewhere", elsewhere)
    builder.add_edge(START, "boom")
    builder.add_edge("boom", "after")
    builder.add_edge("after", END)
    builder.add_edge("elsewhere", END)
    return builder.compile()


def test_the_error_handler_runs_after_the_retries_and_a_dict_ends_the_path() -> None:
    """README and native.md: "`error_handler` runs after retries are exhausted; returning a dict
    ends that path"."""
    calls: list[str] = []

    def handler(state: S, error: NodeError) -> S:
        calls.append(f"handler({error.node}, {type(error.error).__name__})")
        return {"out": "handled"}

    out = _failing_with_handler(handler, calls).invoke({})
    assert calls == ["boom", "boom", "boom", "handler(boom, ConnectionError)"]
    assert out == {"path": [], "out": "handled"}  # the static edge to "after" did not fire


def test_a_command_from_the_error_handler_routes_instead_of_the_static_edges() -> None:
    """README and native.md: "`Command(goto=...)` routes to its target instead: the node's
    static edges do not fire"."""
    calls: list[str] = []

    def handler(state: S, error: NodeError) -> Command[Any]:
        return Command(update={"out": "routed"}, goto="elsewhere")

    out = _failing_with_handler(handler, calls).invoke({})
    assert calls == ["boom", "boom", "boom", "elsewhere"]
    assert out == {"path": ["elsewhere"], "out": "routed"}


def test_a_failed_task_keeps_the_repr_of_its_exception() -> None:
    """README and native.md: "Secrets are redacted before anything reaches state, logs or
    checkpoints (LangGraph stores `repr(exc)`)"."""

    def boom(state: S) -> S:
        raise ConnectionError("login failed for password=hunter2")

    builder = StateGraph(S)
    builder.add_node("boom", boom)
    builder.add_edge(START, "boom")
    saver = InMemorySaver()
    graph = builder.compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": "repr"}}
    with pytest.raises(ConnectionError):
        graph.invoke({}, config)
    [task] = graph.get_state(config).tasks
    error: Any = task.error  # typed as an exception; what comes back is its repr
    expected = "ConnectionError('login failed for password=hunter2')"
    assert error == expected
    saved: Any = saver.get_tuple(config)
    errors = [value for _, channel, value in saved.pending_writes if channel == "__error__"]
    assert errors == [expected]


# ---------------------------------------------------------------- caching


@pytest.fixture
def counted() -> tuple[StateGraph[S], list[S]]:
    calls: list[S] = []

    def node(state: S) -> S:
        calls.append(state)
        return {"out": f"done {state.get('key')}"}

    builder = StateGraph(S)
    builder.add_node("node", node, cache_policy=CachePolicy())
    builder.add_edge(START, "node")
    return builder, calls


def test_the_cache_key_is_a_pickle_of_the_whole_input(
    counted: tuple[StateGraph[S], list[S]],
) -> None:
    """README and native.md: "`CachePolicy` keys by a pickle of the whole input,
    `compile(cache=...)`": a field the node never reads still changes the key."""
    from langgraph.cache.memory import InMemoryCache

    key: Any = CachePolicy().key_func({"key": "a", "other": "1"})
    assert isinstance(key, bytes) and "other" in repr(pickle.loads(key))
    builder, calls = counted
    graph = builder.compile(cache=InMemoryCache())
    graph.invoke({"key": "a", "other": "1"})
    graph.invoke({"key": "a", "other": "1"})  # same input: served from the cache
    assert len(calls) == 1
    graph.invoke({"key": "a", "other": "2"})  # "other" is not read, yet it is the key too
    assert len(calls) == 2


def test_the_native_cache_backends() -> None:
    """README and native.md: "same backends (memory, SQLite, Redis)": LangGraph has the three."""
    from langgraph.cache.base import BaseCache
    from langgraph.cache.memory import InMemoryCache
    from langgraph.cache.redis import RedisCache
    from langgraph.cache.sqlite import SqliteCache

    assert all(issubclass(cls, BaseCache) for cls in (InMemoryCache, SqliteCache, RedisCache))


def test_a_node_that_turns_its_error_into_state_is_cached() -> None:
    """README and native.md: "a native cache also stores a node that turned its error into
    state"."""
    from langgraph.cache.memory import InMemoryCache

    calls: list[int] = []

    def fetch(state: S) -> S:
        calls.append(1)
        try:
            raise ConnectionError("reset")
        except ConnectionError as exc:
            return {"out": f"failed: {exc}"}

    builder = StateGraph(S)
    builder.add_node("fetch", fetch, cache_policy=CachePolicy())
    builder.add_edge(START, "fetch")
    graph = builder.compile(cache=InMemoryCache())
    assert graph.invoke({"key": "k"})["out"] == "failed: reset"
    assert graph.invoke({"key": "k"})["out"] == "failed: reset"
    assert calls == [1]  # the failure was served from the cache, not retried


# ---------------------------------------------------------------- invisible to LangGraph


def test_native_retry_resets_the_interrupt_counter() -> None:
    """native.md: "we reset the task's interrupt counter between attempts, as LangGraph's own
    retry does on 1.2.24": a bare node that fails after a resume is retried with the same
    answer. LangGraph 1.2.15 (our lowest supported release) asks again, as the page says."""
    if _LANGGRAPH < (1, 2, 24):
        pytest.skip(f"LangGraph {_LANGGRAPH}: its own retry asks again (the page says so)")
    asked: list[str] = []

    def approve(state: S) -> S:
        answer = interrupt("approve?")
        asked.append(answer)
        if len(asked) == 1:
            raise ConnectionError("reset")
        return {"out": answer}

    builder = StateGraph(S)
    builder.add_node("approve", approve, retry_policy=_tiny())
    builder.add_edge(START, "approve")
    graph = builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "interrupt"}}
    assert "__interrupt__" in graph.invoke({}, config)
    out = graph.invoke(Command(resume="yes"), config)
    assert out == {"path": [], "out": "yes"}  # no second question
    assert asked == ["yes", "yes"]


def test_a_sync_node_under_ainvoke_runs_on_after_cancellation() -> None:
    """native.md: "LangGraph runs a plain sync callable in an executor thread that cancellation
    never reaches"."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    threads: list[int] = []

    def slow(state: S) -> S:
        threads.append(threading.get_ident())
        started.set()
        release.wait(timeout=30)
        finished.set()
        return {}

    builder = StateGraph(S)
    builder.add_node("slow", slow)
    builder.add_edge(START, "slow")
    graph = builder.compile()

    async def main() -> None:
        run = asyncio.ensure_future(graph.ainvoke({}))
        await asyncio.to_thread(started.wait, 30)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert not finished.is_set()  # cancelled while the node still runs
        release.set()
        await asyncio.to_thread(finished.wait, 30)

    asyncio.run(main())
    assert finished.is_set()  # the cancelled run's node ran to its end
    assert threads != [threading.get_ident()]  # in another thread than the event loop's


# ---------------------------------------------------------------- the quotes


PAGES = {"README": "README.md", "native.md": "docs/native.md", "retries.md": "docs/retries.md"}
QUOTE = re.compile(r'((?:README|native\.md|retries\.md)(?: and native\.md)?): "(.+?)"', re.S)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_quote_is_on_its_page() -> None:
    """Each test above quotes its page word for word: a page edit that drops or changes a
    checked sentence fails here until the test follows."""
    root = Path(__file__).resolve().parents[2]
    text = {name: _flat((root / path).read_text("utf-8")) for name, path in PAGES.items()}
    tests = [f for name, f in globals().items() if name.startswith("test_") and f.__doc__]
    quoted = 0
    for test in tests:
        for names, quote in QUOTE.findall(test.__doc__):
            for name in names.split(" and "):
                assert _flat(quote) in text[name], f"{test.__name__}: {name}: {quote!r}"
                quoted += 1
    assert quoted >= 30
