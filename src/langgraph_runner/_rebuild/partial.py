"""Planned partial rebuilds: a change as data, a plan that runs nothing, a rebuild from a base run.

A *base run* is the last run of a thread in the graph's checkpointer (or the run
ending at a given ``checkpoint_id``). A ``Change`` names new values of graph
input fields and new ``NodeCache`` versions. ``plan`` reads the base run's
checkpoints and the graph's node caches, without executing anything, and sorts
the nodes the base run executed:

- ``rerun``: will certainly execute again: no ``NodeCache`` (or a thread-scoped
  one, which a new thread never hits), a changed version, or a declared input
  that the change sets to a new value;
- ``maybe``: reads a field that a re-executed node writes: it executes again only
  if that value comes out different (early cutoff: equal inputs hit the cache);
- ``reused``: nothing it reads can change: its cached result is served.

``rebuild`` then starts a new run (a new thread) on the base run's input with the
change applied, linked to the base run in its checkpoint metadata, and reports
each node as executed or ``reused`` from the base run. It relies on the node
caches of the base run still holding their entries (a shared, durable backend
and ``scope="global"``).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from typing_extensions import Unpack

from langgraph_runner._rebuild.history import ABSENT, RunNotCompletedError, read_base_run
from langgraph_runner._records.sanitize import escape_controls
from langgraph_runner._runs.lifecycle import _run_async, _run_sync
from langgraph_runner._runs.run_options import RebuildOptions, own_options
from langgraph_runner._runs.session import RunResult, RunSession
from langgraph_runner._runs.tenancy import check_tenant, config_tenant

__all__ = [
    "BASE_CHECKPOINT_KEY",
    "BASE_THREAD_KEY",
    "Change",
    "Plan",
    "RebuildResult",
    "RunNotCompletedError",
    "arebuild",
    "plan",
    "rebuild",
]

BASE_THREAD_KEY = "langgraph_runner_base_thread_id"
"""Checkpoint metadata key of a rebuild's base thread id."""
BASE_CHECKPOINT_KEY = "langgraph_runner_base_checkpoint_id"
"""Checkpoint metadata key of the base run's last checkpoint id."""


def _frozen(value: Mapping[str, Any], field: str, *, str_values: bool) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"Change: {field} must be a mapping, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"Change: {field} keys must be non-empty strings, got {key!r}")
        if str_values and (not isinstance(item, str) or not item):
            raise TypeError(f"Change: {field}[{key!r}] must be a non-empty string, got {item!r}")
    return types.MappingProxyType(dict(value))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Change:
    """A change to rebuild a base run with, as data.

    Args:
        inputs: Graph input fields and their new values (merged over the base
            run's input).
        versions: Node name to its new ``NodeCache(version=...)``; the graph
            given to ``rebuild`` must already carry these versions.

    Raises:
        TypeError: A field has the wrong type.
    """

    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    versions: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _frozen(self.inputs, "inputs", str_values=False))
        object.__setattr__(self, "versions", _frozen(self.versions, "versions", str_values=True))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """What a rebuild will do, computed without executing anything.

    Attributes:
        base_thread_id: The base run's thread.
        base_checkpoint_id: The base run's last checkpoint.
        input: The new run's input (the base input with the change applied).
        rerun: Nodes that will certainly execute again, in run order.
        maybe: Nodes that execute again only if an input comes out different.
        reused: Nodes whose cached result the rebuild serves.
        reasons: Why each node in ``rerun`` or ``maybe`` is there.
    """

    base_thread_id: str
    base_checkpoint_id: str
    input: Mapping[str, Any]
    rerun: tuple[str, ...]
    maybe: tuple[str, ...]
    reused: tuple[str, ...]
    reasons: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON data."""
        return {
            "base_thread_id": self.base_thread_id,
            "base_checkpoint_id": self.base_checkpoint_id,
            "input": dict(self.input),
            "rerun": list(self.rerun),
            "maybe": list(self.maybe),
            "reused": list(self.reused),
            "reasons": dict(self.reasons),
        }

    def to_table(self) -> str:
        """A text table: one line per node with what happens to it and why."""
        thread = escape_controls(self.base_thread_id)
        head = f"plan from thread {thread} (checkpoint {self.base_checkpoint_id})"
        rows = [(n, "rerun", self.reasons[n]) for n in self.rerun]
        rows += [(n, "maybe", self.reasons[n]) for n in self.maybe]
        rows += [(n, "reused", "") for n in self.reused]
        width = max([4, *(len(r[0]) for r in rows)])
        lines = [head, f"{'NODE':<{width}}  {'WILL':<6}  WHY"]
        lines += [f"{n:<{width}}  {w:<6}  {why}".rstrip() for n, w, why in rows]
        return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RebuildResult:
    """A rebuild's plan and what actually happened.

    Attributes:
        plan: The plan made before the run.
        run: The new run (its ``nodes`` say ``reused`` for served nodes).
        executed: Nodes that executed in the new run.
        reused: Nodes served from the base run's cache entries.
    """

    plan: Plan
    run: RunResult
    executed: tuple[str, ...]
    reused: tuple[str, ...]


# ---------------------------------------------------------------------- the base run


def _node_cache(graph: Any, node: str) -> tuple[bool, Any]:
    """``(known, cache)``: whether ``node`` is in the graph, and its NodeCache if any."""
    found = graph.nodes.get(node)
    if found is None:
        return False, None
    spec = getattr(found.bound, "langgraph_runner_spec", None)
    return True, getattr(spec, "cache", None)


def _input_fields(graph: Any) -> set[str] | None:
    """The graph's input fields (its input schema's properties), None if unknown."""
    builder = getattr(graph, "builder", None)
    schemas = getattr(builder, "schemas", None)
    schema_type = getattr(builder, "input_schema", None)
    if isinstance(schemas, Mapping) and schema_type in schemas:
        return {str(k) for k in schemas[schema_type]} or None
    try:
        schema = graph.get_input_jsonschema()
    except Exception:  # not a graph that describes its input: nothing to check against
        return None
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    return set(props) if isinstance(props, Mapping) and props else None


def _check_names(graph: Any, change: Change) -> None:
    """Every input field and step a ``Change`` names must be the graph's; name the others."""
    problems = []
    fields = _input_fields(graph)
    if fields is not None:
        unknown = sorted(set(change.inputs) - fields)
        if unknown:
            problems.append(
                f"Change.inputs: unknown input field(s) {', '.join(map(repr, unknown))}"
                f" (the graph's input fields: {', '.join(sorted(fields))})"
            )
    nodes = [n for n in getattr(graph, "nodes", {}) if not str(n).startswith("__")]
    steps = sorted(n for n in change.versions if not _node_cache(graph, n)[0])
    if steps:
        problems.append(
            f"Change.versions: no node {', '.join(map(repr, steps))} in the graph"
            f" (its steps: {', '.join(nodes)})"
        )
    if problems:
        raise ValueError("; ".join(problems))


# ---------------------------------------------------------------------- plan


def plan(
    graph: Any, base_config: RunnableConfig, change: Change, *, tenant: str | None = None
) -> Plan:
    """List what a rebuild from the base run would execute; executes nothing.

    Args:
        graph: The compiled graph (with its checkpointer) the rebuild will run.
        base_config: Names the base run: ``{"configurable": {"thread_id": ...}}``,
            optionally with a ``checkpoint_id``.
        change: What changed.
        tenant: Read the base run only if its thread is this tenant's (else
            ``base_config["configurable"]["tenant_id"]``); another tenant's thread
            raises ``RunNotCompletedError`` as a missing one does.

    Returns:
        The plan.

    Raises:
        ValueError: No checkpointer, no thread id, ``change.inputs`` names a field
            that is not one of the graph's input fields, or ``change.versions`` names
            a node that is not in the graph or has no ``NodeCache`` (the message
            names every unknown one).
        RunNotCompletedError: The base run is not completed (or not ``tenant``'s).
    """
    tenant = _tenant(tenant, base_config, "plan")
    _check_names(graph, change)
    for node in change.versions:
        _known, cache = _node_cache(graph, node)
        if cache is None:
            raise ValueError(f"Change.versions: node {node!r} has no NodeCache to version")
    base = read_base_run(graph, base_config, tenant)
    new_input = {**base.input, **change.inputs}
    certain = {f for f, v in change.inputs.items() if base.input.get(f, ABSENT) != v}
    maybe_fields: dict[str, str] = {}  # field -> a re-executed node that writes it
    will: dict[str, str] = {}  # node -> rerun | maybe | reused, the strongest over its runs
    reasons: dict[str, str] = {}
    rank = {"reused": 0, "maybe": 1, "rerun": 2}
    for step in base.steps:
        written_now: dict[str, str] = {}
        for node, written in step:
            what, why = _decide(graph, node, change, certain, maybe_fields)
            if rank[what] > rank[will.get(node, "reused")] or node not in will:
                will[node] = what
                if why:
                    reasons[node] = why
            if what != "reused":
                written_now.update(dict.fromkeys(written, node))
        maybe_fields.update(written_now)  # writes are seen from the next step on
    rerun = [n for n, w in will.items() if w == "rerun"]
    maybe = [n for n, w in will.items() if w == "maybe"]
    reused = [n for n, w in will.items() if w == "reused"]
    return Plan(
        base_thread_id=base.thread_id,
        base_checkpoint_id=base.checkpoint_id,
        input=types.MappingProxyType(new_input),
        rerun=tuple(rerun),
        maybe=tuple(maybe),
        reused=tuple(reused),
        reasons=types.MappingProxyType(reasons),
    )


def _decide(
    graph: Any, node: str, change: Change, certain: set[str], maybe_fields: Mapping[str, str]
) -> tuple[str, str]:
    _known, cache = _node_cache(graph, node)
    if cache is None:
        return "rerun", "no NodeCache: always executes"
    if cache.scope == "thread":
        return "rerun", "thread-scoped NodeCache: a new thread never hits"
    if node in change.versions:
        return "rerun", f"version changed to {change.versions[node]!r}"
    reads = None if cache.inputs is None else set(cache.inputs)
    changed = sorted(certain if reads is None else certain & reads)
    if changed:
        return "rerun", "input changed: " + ", ".join(changed)
    upstream = sorted(f for f in maybe_fields if reads is None or f in reads)
    if upstream:
        writers = sorted({maybe_fields[f] for f in upstream})
        return "maybe", f"reads {', '.join(upstream)} from re-executed {', '.join(writers)}"
    return "reused", ""


# ---------------------------------------------------------------------- rebuild


def _tenant(tenant: str | None, config: RunnableConfig, owner: str) -> str | None:
    """``tenant``, else the config's (both validated)."""
    given = check_tenant(tenant, owner=owner)
    return given if given is not None else config_tenant(config, owner=owner)


def _prepare(
    graph: Any,
    base_config: RunnableConfig,
    change: Change,
    new_config: RunnableConfig,
    tenant: str | None,
) -> tuple[Plan, RunnableConfig]:
    for node, version in change.versions.items():
        _known, cache = _node_cache(graph, node)
        if cache is not None and cache.version != version:
            raise ValueError(
                f"Change.versions: node {node!r} should have version {version!r} but the graph's "
                f"NodeCache has {cache.version!r}: rebuild with the changed graph"
            )
    the_plan = plan(graph, base_config, change, tenant=tenant)
    new_conf = dict(new_config.get("configurable") or {})
    new_thread = new_conf.get("thread_id")
    if not new_thread:
        raise ValueError("new_config must name the new run's thread: {'configurable': {...}}")
    if str(new_thread) == the_plan.base_thread_id:
        raise ValueError("new_config must name a new thread, not the base run's")
    if graph.get_state(new_config).values:
        raise ValueError(f"new_config's thread {new_thread!r} already holds a run")
    link = {
        BASE_THREAD_KEY: the_plan.base_thread_id,
        BASE_CHECKPOINT_KEY: the_plan.base_checkpoint_id,
    }
    cfg: RunnableConfig = {**new_config, "metadata": {**(new_config.get("metadata") or {}), **link}}
    return the_plan, cfg


def _session(
    graph: Any,
    base_config: RunnableConfig,
    change: Change,
    new_config: RunnableConfig,
    options: dict[str, Any],
    owner: str,
) -> tuple[Plan, RunSession, bool]:
    """The plan, the new run's session and ``raise_on_error``, for ``rebuild``/``arebuild``."""
    own, _ = own_options(options, owner=owner, rebuild=True)
    tenant = _tenant(own["tenant"], new_config, "rebuild")
    the_plan, cfg = _prepare(graph, base_config, change, new_config, tenant)
    extra = {"base_thread_id": the_plan.base_thread_id}
    state = RunSession(graph, cfg, own["time_limit"], own["logger"], True, extra, tenant=tenant)
    return the_plan, state, bool(own["raise_on_error"])


def _result(the_plan: Plan, result: RunResult) -> RebuildResult:
    executed = tuple(n for n, s in result.nodes.items() if s != "reused")
    reused = tuple(n for n, s in result.nodes.items() if s == "reused")
    return RebuildResult(plan=the_plan, run=result, executed=executed, reused=reused)


def rebuild(
    graph: Any,
    base_config: RunnableConfig,
    change: Change,
    new_config: RunnableConfig,
    **options: Unpack[RebuildOptions],
) -> RebuildResult:
    """Run the base run again with ``change`` applied, as a new run on a new thread.

    Args:
        graph: The compiled graph (with its checkpointer), carrying the changed code.
        base_config: Names the completed base run (see ``plan``).
        change: What changed.
        new_config: The new run's config; its thread must be new.
        time_limit: As for ``runs.run``.
        logger: As for ``runs.run``.
        raise_on_error: As for ``runs.run``.
        tenant: The new run's tenant (else ``new_config["configurable"]["tenant_id"]``):
            the base run must be on its thread (else ``RunNotCompletedError``, as for a
            missing one) and the new thread is claimed for it.

    Returns:
        The plan, the new run's result, and the executed and reused nodes.

    Raises:
        RunNotCompletedError: The base run is not completed (or not ``tenant``'s).
        ThreadNotFoundError: The new thread is another tenant's.
        ValueError: A bad config, or the graph does not carry ``change.versions``.
    """
    the_plan, state, raise_on_error = _session(
        graph, base_config, change, new_config, dict(options), "rebuild"
    )
    result = _run_sync(graph, dict(the_plan.input), state, raise_on_error, {})
    return _result(the_plan, result)


async def arebuild(
    graph: Any,
    base_config: RunnableConfig,
    change: Change,
    new_config: RunnableConfig,
    **options: Unpack[RebuildOptions],
) -> RebuildResult:
    """The async ``rebuild`` (``graph.ainvoke``); reading the base run stays sync."""
    the_plan, state, raise_on_error = _session(
        graph, base_config, change, new_config, dict(options), "arebuild"
    )
    result = await _run_async(graph, dict(the_plan.input), state, raise_on_error, {})
    return _result(the_plan, result)
