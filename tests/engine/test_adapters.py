"""The Runnable shells LangGraph sees: drawings, compile checks and coroutine tests match bare."""

from __future__ import annotations

import asyncio
import inspect
import json
import warnings
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import TimeoutPolicy
from typing_extensions import TypedDict

from langgraph_runner import create_node


class S(TypedDict, total=False):
    x: int


def step(state: S) -> dict[str, Any]:
    return {"x": state.get("x", 0) + 1}


async def astep(state: S) -> dict[str, Any]:
    return {"x": state.get("x", 0) + 1}


def _chain(wrap: bool, **add_node_kwargs: Any) -> Any:
    g = StateGraph(S)
    g.add_node("a", create_node(step) if wrap else step, **add_node_kwargs)
    g.add_node("b", create_node(astep) if wrap else astep, metadata={"team": "search"})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    return g.compile()


def test_mermaid_drawing_is_the_bare_graphs() -> None:
    """get_graph().draw_mermaid() is byte-for-byte the same wrapped and bare."""
    assert _chain(True).get_graph().draw_mermaid() == _chain(False).get_graph().draw_mermaid()


def test_ascii_drawing_is_the_bare_graphs() -> None:
    """get_graph().draw_ascii() is the same wrapped and bare."""
    assert _chain(True).get_graph().draw_ascii() == _chain(False).get_graph().draw_ascii()


def test_graph_json_is_the_bare_graphs() -> None:
    """The JSON Studio reads (node ids, data ids, names, metadata, edges) is the bare graph's."""
    wrapped = _chain(True).get_graph().to_json()
    bare = _chain(False).get_graph().to_json()
    assert json.dumps(wrapped, sort_keys=True, default=str) == json.dumps(
        bare, sort_keys=True, default=str
    )
    ids = {n["id"]: n["data"]["id"] for n in wrapped["nodes"] if isinstance(n.get("data"), dict)}
    assert ids["a"] == ids["b"] == ["langgraph", "_internal", "_runnable", "RunnableCallable"]


def test_a_wrapped_node_is_named_like_langgraphs_shell_of_the_function() -> None:
    """Its Runnable name is the function's; __name__/__module__ are RunnableCallable's."""
    from langgraph._internal._runnable import RunnableCallable

    for fn in (step, astep):
        node = create_node(fn)
        assert node.get_name() == node.name == fn.__name__
        assert (node.__module__, node.__name__) == (
            RunnableCallable.__module__,
            RunnableCallable.__name__,
        )
        assert node.__qualname__ == fn.__qualname__
        assert create_node(node).name == fn.__name__  # wrapping a wrapped node keeps it
    assert create_node(step, name="first").name == "first"


def test_a_wrapped_node_added_without_a_name_is_named_after_the_function() -> None:
    """add_node(create_node(fn)) names the node fn.__name__, as add_node(fn) does."""
    g = StateGraph(S)
    g.add_node(create_node(step))
    g.add_edge(START, "step")
    assert "step" in g.compile().get_graph().nodes


@pytest.mark.parametrize("wrap", [False, True], ids=["bare", "wrapped"])
def test_a_sync_node_with_a_native_timeout_policy_fails_at_compile(wrap: bool) -> None:
    """LangGraph refuses TimeoutPolicy on a sync node when compiling, wrapped or not."""
    g = StateGraph(S)
    g.add_node("a", create_node(step) if wrap else step, timeout=TimeoutPolicy(run_timeout=1))
    g.add_edge(START, "a")
    with pytest.raises(ValueError, match=r"only supported for async nodes.*Node 'a' is sync"):
        g.compile()


@pytest.mark.parametrize("wrap", [False, True], ids=["bare", "wrapped"])
async def test_an_async_node_with_a_native_timeout_policy_compiles_and_runs(wrap: bool) -> None:
    """An async node with TimeoutPolicy compiles and runs, wrapped or not."""
    g = StateGraph(S)
    g.add_node("b", create_node(astep) if wrap else astep, timeout=TimeoutPolicy(run_timeout=5))
    g.add_edge(START, "b")
    compiled = g.compile()
    assert await compiled.ainvoke({"x": 1}) == {"x": 2}


def test_a_wrapped_async_node_is_a_coroutine_function_on_every_python() -> None:
    """inspect/asyncio.iscoroutinefunction are True for a wrapped async node, False for sync."""
    node = create_node(astep)
    with warnings.catch_warnings():  # asyncio.iscoroutinefunction is deprecated on 3.14
        warnings.simplefilter("ignore", DeprecationWarning)
        assert inspect.iscoroutinefunction(node)
        assert asyncio.iscoroutinefunction(node)
        assert not inspect.iscoroutinefunction(create_node(step))
    assert str(inspect.signature(node)) == str(inspect.signature(create_node(step)))


async def test_a_sync_node_still_runs_its_own_async_path_under_ainvoke() -> None:
    """The executor-backed afunc is only what LangGraph inspects: ainvoke runs our path."""
    seen: list[str] = []

    def sync_step(state: S) -> dict[str, Any]:
        from langgraph_runner import get_node_context

        ctx = get_node_context()
        seen.append(ctx.node if ctx is not None else "none")
        return {"x": 1}

    g = StateGraph(S)
    g.add_node("a", create_node(sync_step))
    g.add_edge(START, "a")
    assert await g.compile().ainvoke({}) == {"x": 1}
    assert seen == ["a"]


def _outcome(result: Any) -> str:
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    return "interrupted" if "__interrupt__" in result else "completed"


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_interrupt_under_ainvoke_behaves_as_bare_on_every_python(kind: str) -> None:
    """Where LangGraph can't see its config (Python 3.10 tasks), wrapped fails exactly as bare."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import interrupt

    def ask(state: S) -> dict[str, Any]:
        return {"x": int(interrupt("how many?"))}

    async def aask(state: S) -> dict[str, Any]:
        return {"x": int(interrupt("how many?"))}

    fn = ask if kind == "sync" else aask

    async def outcome(node: Any) -> str:
        g = StateGraph(S)
        g.add_node("ask", node)
        g.add_edge(START, "ask")
        graph = g.compile(checkpointer=InMemorySaver())
        try:
            return _outcome(await graph.ainvoke({}, {"configurable": {"thread_id": kind}}))
        except Exception as exc:
            return _outcome(exc)

    bare, wrapped = await outcome(fn), await outcome(create_node(fn, on_error="raise"))
    assert wrapped == bare
    import sys

    expected = "interrupted" if sys.version_info >= (3, 11) else "RuntimeError"
    assert bare.startswith(expected)
