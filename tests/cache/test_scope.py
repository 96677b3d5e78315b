"""Keys see what the node sees: its graph, the configurable values and the runtime context."""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.cache.memory import InMemoryCache
from langgraph.config import get_config
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._cache.node_cache import NodeCache
from langgraph_runner._cache.scope import graph_identity
from tests.conftest import MODES, counting_closures, run_graph

pytestmark = counting_closures

KEY = "test-scope-key-0123456789abcdef"
FP = "f" * 64


class S(TypedDict, total=False):
    q: str
    out: str
    extra: str


@dataclasses.dataclass(frozen=True)
class Ctx:
    tenant: str
    client: Any = None


def _graph(fn: Any, cache: NodeCache, *, name: str = "n", extra_node: bool = False) -> Any:
    g = StateGraph(S, context_schema=Ctx)
    g.add_node(name, create_node(fn, cache=cache))
    g.add_edge(START, name)
    if extra_node:
        g.add_node("other", lambda s: {})
        g.add_edge(name, "other")
    return g.compile()


def _cache(**kw: Any) -> NodeCache:
    return NodeCache(inputs=["q"], backend=InMemoryCache(), signing_key=KEY, **kw)


@pytest.mark.parametrize("mode", MODES)
async def test_two_users_never_see_each_others_result(mode: str) -> None:
    """A node that takes config is keyed by configurable values: alice and bob stay apart."""
    calls: list[str] = []

    def whoami(state: S, config: RunnableConfig) -> dict[str, Any]:
        user = config["configurable"]["user_id"]
        calls.append(user)
        return {"out": f"{user}:{state['q']}"}

    async def awhoami(state: S, config: RunnableConfig) -> dict[str, Any]:
        return whoami(state, config)

    graph = _graph(awhoami if mode == "async" else whoami, _cache())
    runs = [
        await run_graph(graph, mode, {"q": "x"}, {"configurable": {"user_id": user}})
        for user in ("alice", "bob", "alice", "bob")
    ]
    assert [r["out"] for r in runs] == ["alice:x", "bob:x", "alice:x", "bob:x"]
    assert calls == ["alice", "bob"]


@pytest.mark.parametrize("mode", MODES)
async def test_two_tenants_never_see_each_others_result(mode: str) -> None:
    """A node that takes runtime is keyed by runtime.context: tenant A and B stay apart."""
    calls: list[str] = []

    def tenant_data(state: S, runtime: Runtime[Ctx]) -> dict[str, Any]:
        calls.append(runtime.context.tenant)
        return {"out": f"{runtime.context.tenant}:{state['q']}"}

    async def atenant_data(state: S, runtime: Runtime[Ctx]) -> dict[str, Any]:
        return tenant_data(state, runtime)

    graph = _graph(atenant_data if mode == "async" else tenant_data, _cache())
    runs = [
        await run_graph(graph, mode, {"q": "x"}, context=Ctx(tenant=tenant))
        for tenant in ("A", "B", "A", "B")
    ]
    assert [r["out"] for r in runs] == ["A:x", "B:x", "A:x", "B:x"]
    assert calls == ["A", "B"]


def test_declared_reads_are_exactly_what_is_keyed() -> None:
    """key_config/key_context: the named values split entries; anything else does not."""
    calls: list[str] = []

    def greet(state: S, config: RunnableConfig, runtime: Runtime[Ctx]) -> dict[str, Any]:
        calls.append(config["configurable"]["user_id"])
        return {"out": f"{config['configurable']['user_id']}@{runtime.context.tenant}"}

    graph = _graph(greet, _cache(key_config=["user_id"], key_context=["tenant"]))

    def run(user: str, request: str, tenant: str) -> str:
        config: RunnableConfig = {"configurable": {"user_id": user, "request_id": request}}
        return str(graph.invoke({"q": "x"}, config, context=Ctx(tenant=tenant))["out"])

    assert run("alice", "r1", "A") == "alice@A"
    assert run("alice", "r2", "A") == "alice@A"  # request_id is not declared: a hit
    assert run("bob", "r3", "A") == "bob@A"
    assert run("alice", "r4", "B") == "alice@B"
    assert calls == ["alice", "bob", "alice"]


def test_a_node_that_takes_neither_is_not_keyed_by_them() -> None:
    """With accepts known, config and context split keys only for nodes that can read them."""
    cache = _cache()
    runtime = Runtime(context=Ctx(tenant="A"))

    def key(accepts: tuple[str, ...], user: str, tenant: str) -> str:
        config: RunnableConfig = {
            "configurable": {
                "user_id": user,
                "thread_id": user,  # a run id, never keyed
                "__pregel_runtime": Runtime(context=Ctx(tenant=tenant)),
            }
        }
        return cache.key("n", {"q": 1}, thread_id=None, fingerprint=FP, config=config,
                         accepts=accepts).digest  # fmt: skip

    assert key((), "alice", "A") == key((), "bob", "B")
    assert key(("config",), "alice", "A") != key(("config",), "bob", "A")
    assert key(("config",), "alice", "A") == key(("config",), "alice", "B")
    assert key(("runtime",), "alice", "A") != key(("runtime",), "alice", "B")
    assert key(("runtime",), "alice", "A") == key(("runtime",), "bob", "A")
    assert key(("config", "runtime"), "a", "A") == key(None, "a", "A")  # type: ignore[arg-type]
    assert runtime.context.tenant == "A"


def test_context_values_with_no_canonical_form_are_named_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A context holding a client is keyed by its other fields, and the client is named."""
    cache = _cache()
    lock = threading.Lock()

    def config(tenant: str) -> RunnableConfig:
        ctx = Ctx(tenant=tenant, client=lock)
        return {"configurable": {"__pregel_runtime": Runtime(context=ctx)}}

    with caplog.at_level(logging.WARNING, logger="langgraph_runner._cache.node_cache"):
        a = cache.key("ctx-node", {}, thread_id=None, fingerprint=FP, config=config("A"))
        b = cache.key("ctx-node", {}, thread_id=None, fingerprint=FP, config=config("B"))
        cache.key("ctx-node", {}, thread_id=None, fingerprint=FP, config=config("B"))
    assert a != b
    warned = [r.getMessage() for r in caplog.records if "client" in r.getMessage()]
    assert len(warned) == 1 and "key_context" in warned[0]


def test_declared_name_without_canonical_form_is_a_clear_error() -> None:
    """Declaring a context field that holds a client fails naming the node and the field."""
    cache = _cache(key_context=["client"])
    config: RunnableConfig = {
        "configurable": {"__pregel_runtime": Runtime(context=Ctx("A", threading.Lock()))}
    }
    with pytest.raises(TypeError, match=r"'n'.*key_context.*'client'"):
        cache.key("n", {}, thread_id=None, fingerprint=FP, config=config)


def test_entries_are_scoped_to_their_graph_unless_a_namespace_is_named() -> None:
    """The same node in two different graphs runs in each; a shared namespace shares."""
    calls: list[str] = []

    def answer(state: S) -> dict[str, Any]:
        calls.append(state["q"])
        return {"out": state["q"]}

    backend: InMemoryCache[Any] = InMemoryCache()
    own = NodeCache(inputs=["q"], backend=backend, signing_key=KEY)
    _graph(answer, own).invoke({"q": "x"})
    _graph(answer, own, extra_node=True).invoke({"q": "x"})
    _graph(answer, own).invoke({"q": "x"})  # a rebuilt first graph: same identity, a hit
    assert len(calls) == 2
    shared = NodeCache(inputs=["q"], backend=backend, signing_key=KEY, namespace="answers")
    _graph(answer, shared).invoke({"q": "y"})
    _graph(answer, shared, extra_node=True).invoke({"q": "y"})
    assert len(calls) == 3


def test_factory_closures_give_each_graph_its_own_result() -> None:
    """Issue 16: graph('EN') and graph('FR') from one factory return EN and FR."""

    def make_greeter(lang: str) -> Any:
        def greet(state: S) -> dict[str, Any]:
            return {"out": f"{lang}:{state['q']}"}

        return greet

    cache = NodeCache(inputs=["q"], signing_key=KEY)  # the process-wide default backend

    def graph(lang: str) -> Any:
        g = StateGraph(S)
        g.add_node("greet", create_node(make_greeter(lang), cache=cache))
        g.add_edge(START, "greet")
        return g.compile()

    assert graph("EN").invoke({"q": "hi"})["out"] == "EN:hi"
    assert graph("FR").invoke({"q": "hi"})["out"] == "FR:hi"
    assert graph("EN").invoke({"q": "hi"})["out"] == "EN:hi"


def test_langgraph_still_hands_nodes_a_graph_identity() -> None:
    """Guard for LangGraph upgrades: a node's config yields a graph id, stable and distinct."""
    seen: list[str | None] = []

    def probe(state: S) -> dict[str, Any]:
        seen.append(graph_identity(get_config()))
        return {}

    for extra in (False, False, True):
        g = StateGraph(S)
        g.add_node("probe", probe)
        g.add_edge(START, "probe")
        if extra:
            g.add_node("other", lambda s: {})
            g.add_edge("probe", "other")
        g.compile().invoke({"q": "x"})
    assert seen[0] is not None and seen[0] == seen[1] != seen[2]
    assert graph_identity(None) is None


def test_a_node_that_takes_no_config_hits_across_request_ids() -> None:
    """Through a graph: a node that cannot read config is not split by configurable values."""
    calls: list[str] = []

    def answer(state: S) -> dict[str, Any]:
        calls.append(state["q"])
        return {"out": state["q"]}

    graph = _graph(answer, _cache())
    for request in ("r1", "r2"):
        graph.invoke({"q": "x"}, {"configurable": {"request_id": request}})
    assert calls == ["x"]
