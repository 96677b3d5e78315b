"""The private LangGraph API we depend on (_internal.compat) still behaves as we assume.

If one of these fails after a LangGraph upgrade, _internal/compat.py needs updating first.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._constants import CONFIG_KEY_SCRATCHPAD
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.pregel._algo import local_read
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.types import StreamWriter
from typing_extensions import TypedDict

from langgraph_runner._internal import compat as _compat


class S(TypedDict, total=False):
    x: int
    errors: list[Any]


def _run_one(node: Any) -> None:
    """Invoke a one-node graph on S."""
    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    g.add_edge("n", END)
    g.compile().invoke({})


def test_func_accepts_follows_langgraph_injection_rules() -> None:
    """func_accepts reports the kwargs LangGraph injects, by name and annotation."""

    def full(
        state: Any,
        config: RunnableConfig,
        *,
        runtime: Runtime[Any],
        store: BaseStore,
        writer: StreamWriter,
    ) -> Any:
        return None

    def bare(state: Any) -> Any:
        return None

    assert set(_compat.func_accepts(full)) == {"config", "runtime", "store", "writer"}
    assert _compat.func_accepts(bare) == {}


def test_runnable_callable_and_async_detection() -> None:
    """RunnableCallable keeps func/afunc; is_async_callable tells coroutine functions apart."""

    async def a(state: Any) -> Any:
        return None

    def s(state: Any) -> Any:
        return None

    rc = _compat.RunnableCallable(s, a, name="n", trace=False)
    assert (rc.func, rc.afunc) == (s, a)
    assert _compat.is_async_callable(a) and not _compat.is_async_callable(s)


def test_runnable_callable_invoke_is_what_the_sync_node_shortcut_mirrors() -> None:
    """Our sync node's invoke/ainvoke skip RunnableCallable's: check what they replace."""
    import inspect as _inspect

    def s(state: Any, config: RunnableConfig) -> Any:
        return {"seen": config["configurable"]["k"]}

    rc = _compat.RunnableCallable(s, name="n", trace=False)
    assert (rc.trace, rc.recurse, rc.explode_args, rc.kwargs) == (False, True, False, {})
    assert rc.invoke({}, {"configurable": {"k": 1}}) == {"seen": 1}
    params = list(_inspect.signature(_compat.RunnableCallable.invoke).parameters)
    assert params == ["self", "input", "config", "kwargs"]
    params = list(_inspect.signature(_compat.RunnableCallable.ainvoke).parameters)
    assert params == ["self", "input", "config", "kwargs"]


def test_runtime_scratchpad_and_channel_reader_inside_a_node() -> None:
    """Inside a node: runtime_of finds the Runtime, config_for_retry resets the interrupt counter,
    use_config changes what get_config() sees, missing_channels reads the graph's channels."""
    seen: dict[str, Any] = {}

    def node(state: S, config: RunnableConfig) -> dict[str, Any]:
        seen["runtime"] = isinstance(_compat.runtime_of(config), Runtime)
        pad = config["configurable"][CONFIG_KEY_SCRATCHPAD]
        assert dataclasses.is_dataclass(pad)
        pad.interrupt_counter()
        pad.interrupt_counter()
        retry_cfg = _compat.config_for_retry(config)
        assert retry_cfg is not None
        new_pad = retry_cfg["configurable"][CONFIG_KEY_SCRATCHPAD]
        seen["counter_after_reset"] = new_pad.interrupt_counter()
        seen["old_counter"] = pad.interrupt_counter()
        with _compat.use_config(retry_cfg):
            seen["get_config_patched"] = get_config() is retry_cfg
        seen["get_config_restored"] = get_config() is config
        seen["missing"] = _compat.missing_channels(config, ("errors", "routing_flags", "x"))
        return {"x": 1}

    _run_one(node)
    assert seen == {
        "runtime": True,
        "counter_after_reset": 0,
        "old_counter": 2,
        "get_config_patched": True,
        "get_config_restored": True,
        "missing": ("routing_flags",),
    }


def test_the_channel_reader_is_a_partial_whose_channels_answer_for_it() -> None:
    """LangGraph's reader is partial(local_read, ..., channels, ...): looking a name up in its
    channels gives what reading it would (the shortcut missing_channels takes), and a reader of
    another shape still gets the answer by reading."""
    seen: dict[str, Any] = {}
    names = ("errors", "routing_flags", "x", "nope")

    def node(state: S, config: RunnableConfig) -> dict[str, Any]:
        read = config["configurable"][_compat.CONFIG_KEY_READ]
        seen["shape"] = isinstance(read, functools.partial) and read.func is local_read
        seen["fast"] = _compat.missing_channels(config, names)
        seen["present"] = _compat.missing_channels(config, ("errors", "x"))
        wrapped = {**config, "configurable": {**config["configurable"]}}
        wrapped["configurable"][_compat.CONFIG_KEY_READ] = lambda name: read(name)
        seen["read"] = _compat.missing_channels(wrapped, names)
        return {"x": 1}

    _run_one(node)
    assert seen == {
        "shape": True,
        "fast": ("routing_flags", "nope"),
        "present": (),
        "read": ("routing_flags", "nope"),
    }


def test_outside_a_graph_everything_is_none() -> None:
    """Outside a graph the helpers degrade to no-ops."""
    assert _compat.runtime_of(None) is None
    assert _compat.config_for_retry(None) is None
    assert _compat.missing_channels({}, ("errors",)) == ()
    assert _compat.node_error_of(None) is None


def test_a_moved_private_helper_fails_at_import_naming_the_versions() -> None:
    """If a LangGraph release moves a helper the shim needs, importing the package says so."""
    import subprocess
    import sys

    code = (
        "import langgraph._internal._runnable as moved\n"
        "del moved.is_async_callable\n"
        "import langgraph_runner\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "ImportError: langgraph_runner needs LangGraph >=1.2.15,<1.3" in result.stderr
    assert "the installed LangGraph 1." in result.stderr
    assert "is_async_callable" in result.stderr
