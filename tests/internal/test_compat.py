"""The private LangGraph API we depend on (_internal.compat) still behaves as we assume,
and no other module of the package touches it.

If one of these fails after a LangGraph upgrade, _internal/compat.py needs updating first.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph._internal._constants import CONFIG_KEY_SCRATCHPAD
from langgraph.checkpoint.memory import InMemorySaver
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


# --- Only compat touches LangGraph's private API --------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "langgraph_runner"
COMPAT = Path("_internal") / "compat.py"
# Reserved names of langgraph._internal._constants (and graph.state) that are not public:
# a module spelling one out depends on LangGraph's internals as much as an import does.
PRIVATE_LITERALS = (
    "__pregel_",
    "__error__",
    "__error_source_node__",
    "__resume__",
    "__no_writes__",
    "__return__",
    "__previous__",
    "__input__",
    "__snapshot_bumps__",
    "__default_error_handler__",
)
# Underscore attributes of the standard library (namedtuple, enum, sys, logging) we may read
# (logging: _startTime, and a Logger's level cache _cache, what isEnabledFor reads).
STDLIB_PRIVATE = frozenset(
    {
        *("_replace", "_asdict", "_fields", "_make", "_value_", "_getframe", "_startTime"),
        *("_cache", "_exit"),  # os._exit: the documented way to end a process at once
    }
)


def _langgraph_private_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            pairs = [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            pairs = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in pairs:
            if module != "langgraph" and not module.startswith("langgraph."):
                continue
            private_name = name.startswith("_") and not name.startswith("__")
            if private_name or any(part.startswith("_") for part in module.split(".")):
                found.append(f"line {node.lineno}: {module} {name}".rstrip())
    return found


def _private_literals(tree: ast.AST) -> list[str]:
    return [
        f"line {node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(PRIVATE_LITERALS)
    ]


def _our_names(trees: dict[Path, ast.AST]) -> set[str]:
    """Every name the package itself defines: functions, classes, assigned names,
    attributes of ``self``/``cls``, keyword arguments and ``__slots__`` strings."""
    ours: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ours.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                ours.add(node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"self", "cls"}
            ):
                ours.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                ours.add(node.value)  # __slots__ entries, setattr/getattr names
            elif isinstance(node, ast.keyword) and node.arg:
                ours.add(node.arg)  # obj.__dict__.update(_name=...)
    return ours


def _foreign_private_attributes(tree: ast.AST, ours: set[str]) -> list[str]:
    return [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and node.attr not in ours
        and node.attr not in STDLIB_PRIVATE
    ]


def _violations(root: Path) -> dict[str, list[str]]:
    trees = {
        path.relative_to(root): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(root.rglob("*.py"))
    }
    ours = _our_names(trees)
    found: dict[str, list[str]] = {}
    for rel, tree in trees.items():
        if rel == COMPAT:
            continue
        hits = [
            *_langgraph_private_imports(tree),
            *_private_literals(tree),
            *_foreign_private_attributes(tree, ours),
        ]
        if hits:
            found[str(rel)] = hits
    return found


def test_only_compat_uses_langgraph_private_api() -> None:
    """No module but _internal/compat imports a private LangGraph module or name, spells
    one of its reserved private constants, or reads another package's private attribute."""
    assert _violations(SRC) == {}


@pytest.mark.parametrize(
    "line",
    [
        "from langgraph._internal._constants import CONF",
        "from langgraph.pregel._algo import local_read",
        "import langgraph.pregel._messages",
        "from langgraph.graph.state import _DEFAULT_ERROR_HANDLER_NODE",
        "KEY = '__pregel_read'",
        "def f(node):\n    return node._wrap_tool_call",
    ],
)
def test_the_scan_catches_each_kind_of_private_use(tmp_path: Path, line: str) -> None:
    """A module planted with one private use is reported; compat itself may have it."""
    (tmp_path / "_internal").mkdir()
    (tmp_path / "_internal" / "compat.py").write_text(line + "\n", encoding="utf-8")
    assert _violations(tmp_path) == {}
    (tmp_path / "planted.py").write_text(line + "\n", encoding="utf-8")
    assert list(_violations(tmp_path)) == ["planted.py"]


def test_task_id_is_the_id_langgraph_gives_the_task() -> None:
    """compat.task_id recomputes the id of a scheduled task of a saved checkpoint."""
    g = StateGraph(S)
    g.add_node("n", lambda s: {"x": 1})
    g.add_edge(START, "n")
    g.add_edge("n", END)
    graph = g.compile(checkpointer=InMemorySaver(), interrupt_before=["n"])
    config: RunnableConfig = {"configurable": {"thread_id": "t-task-id"}}
    graph.invoke({}, config)
    state = graph.get_state(config)
    saved = graph.checkpointer.get_tuple(state.config)  # type: ignore[union-attr]
    assert saved is not None
    cp, step = saved.checkpoint, state.metadata["step"] + 1  # type: ignore[index]
    ours = _compat.task_id(cp["id"], cp["v"], "n", str(step), "n", _compat.PULL, "branch:to:n")
    assert [t.id for t in state.tasks] == [ours]


def test_tool_node_parts_rebuild_the_same_tool_node() -> None:
    """The parts compat reads from a ToolNode are the ones it was built with."""
    from langgraph.prebuilt import ToolNode

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def wrap(request: Any, execute: Any) -> Any:
        return execute(request)

    node = ToolNode([add], messages_key="chat", handle_tool_errors=False, wrap_tool_call=wrap)
    parts = _compat.tool_node_parts(node)
    assert parts == _compat.ToolNodeParts(wrap, None, "chat", False)
    copy = ToolNode([add])
    _compat.copy_injected_args(node, copy)
    assert copy._injected_args == node._injected_args


def test_builder_helpers_match_state_graph() -> None:
    """node_defaults, add_schema and error_handler_node do what StateGraph does."""
    from langgraph.graph.state import _DEFAULT_ERROR_HANDLER_NODE

    class Extra(TypedDict, total=False):
        extra: str

    builder = StateGraph(S)
    assert "extra" not in builder.channels
    _compat.add_schema(builder, Extra)
    assert "extra" in builder.channels
    assert _compat.node_defaults(builder) is builder._node_defaults
    assert _compat.error_handler_node() == _DEFAULT_ERROR_HANDLER_NODE


def test_the_postgres_savers_cursor_is_what_pg_savers_replaces() -> None:
    """``_runs.pg_savers`` replaces the PostgreSQL savers' ``_cursor(*, pipeline=False)``
    on a pool (``_db.cursor``) and calls it through ``saver_cursor`` otherwise: an
    upgrade that renames it or changes how it is called fails here."""
    import inspect

    postgres = pytest.importorskip("langgraph.checkpoint.postgres")
    aio = pytest.importorskip("langgraph.checkpoint.postgres.aio")
    for saver_class in (postgres.PostgresSaver, aio.AsyncPostgresSaver):
        params = inspect.signature(saver_class._cursor).parameters
        assert list(params) == ["self", "pipeline"]
        assert params["pipeline"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["pipeline"].default is False
        source = inspect.getsource(saver_class._cursor)
        # what the replacement opens: a pipeline (else a transaction), a binary dict_row cursor
        for opened in ("conn.pipeline()", "conn.transaction()", "binary=True", "dict_row"):
            assert opened in source, opened


def test_langgraph_names_new_checkpoints_with_the_function_compat_wraps() -> None:
    """``wrap_checkpoint_ids`` finds what it wraps: ``uuid6`` of LangGraph's checkpoint module,
    called with ``clock_seq`` (else a replayed Temporal workflow names checkpoints anew)."""
    import inspect

    import langgraph.pregel._checkpoint as module

    assert "clock_seq" in inspect.signature(module.uuid6).parameters
