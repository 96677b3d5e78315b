"""rebuild: a Change as data; plan() runs nothing; rebuild() re-executes what changed."""

from __future__ import annotations

import asyncio
import random
from typing import Any, NamedTuple, TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from langgraph_runner import NodeCache, RunNotCompletedError, create_node
from langgraph_runner._rebuild.partial import BASE_CHECKPOINT_KEY, BASE_THREAD_KEY
from langgraph_runner.runs import Change, arebuild, plan, rebuild

N_NODES = 16
DAG_SEEDS = range(1, 13)


def _random_dag(rng: random.Random, n: int) -> list[list[int]]:
    """parents[i] for node i; parents are earlier nodes (a DAG in topological order)."""
    parents: list[list[int]] = []
    for i in range(n):
        k = rng.randint(0, min(3, i)) if i > 2 else 0
        parents.append(sorted(rng.sample(range(i), k)))
    return parents


def _value(i: int, inputs: tuple[int, ...], version: str) -> int:
    # Lossy on purpose (early cutoff); a new version computes something else.
    return ((sum(inputs) + i) // 2 + int(version) - 1) % 3


def _simulate(
    parents: list[list[int]], seeds: dict[int, int], versions: dict[int, str]
) -> dict[int, tuple[int, ...]]:
    """Each node's input tuple for a full run (no graph, no cache)."""
    values: dict[int, int] = {}
    inputs: dict[int, tuple[int, ...]] = {}
    for i, ps in enumerate(parents):
        inputs[i] = (seeds[i],) if not ps else tuple(values[p] for p in ps)
        values[i] = _value(i, inputs[i], versions.get(i, "1"))
    return inputs


class _Case(NamedTuple):
    parents: list[list[int]]
    seeds: dict[int, int]
    new_seeds: dict[int, int]
    versions: dict[int, str]
    rerun: set[int]  # a changed seed or version: certainly executes
    maybe: set[int]  # downstream of rerun: executes only if its inputs change
    executed: set[int]  # what a full simulation says must execute


def _case(seed: int) -> _Case:
    rng = random.Random(seed)
    parents = _random_dag(rng, N_NODES)
    roots = [i for i, ps in enumerate(parents) if not ps]
    seeds = {i: rng.randint(0, 100) for i in roots}
    new_seeds = dict(seeds)
    for root in rng.sample(roots, rng.randint(1, len(roots))):
        new_seeds[root] = seeds[root] + rng.choice([1, 2, 3])
    versions = dict.fromkeys(rng.sample(range(N_NODES), rng.randint(0, 2)), "2")
    rerun = {i for i in roots if new_seeds[i] != seeds[i]} | set(versions)
    maybe: set[int] = set()
    for i, ps in enumerate(parents):
        if i not in rerun and (rerun | maybe) & set(ps):
            maybe.add(i)
    before = _simulate(parents, seeds, {})
    after = _simulate(parents, new_seeds, versions)
    executed = {i for i in after if after[i] != before[i]} | set(versions)
    return _Case(parents, seeds, new_seeds, versions, rerun, maybe, executed)


def _dag(
    case: _Case, versions: dict[int, str], backend: Any, saver: Any, executed: list[int]
) -> Any:
    parents = case.parents
    roots = [i for i, ps in enumerate(parents) if not ps]
    fields = {f"v{i}": int for i in range(len(parents))} | {f"seed{i}": int for i in roots}
    State = TypedDict("State", fields, total=False)  # type: ignore[misc]

    def make(i: int) -> Any:
        declared = [f"seed{i}"] if not parents[i] else [f"v{p}" for p in parents[i]]
        version = versions.get(i, "1")

        def fn(state: dict[str, Any]) -> dict[str, Any]:
            executed.append(i)
            return {f"v{i}": _value(i, tuple(state[f] for f in declared), version)}

        fn.__name__ = f"n{i}"
        return create_node(fn, cache=NodeCache(inputs=declared, backend=backend, version=version))

    g = StateGraph(State)
    for i, ps in enumerate(parents):
        g.add_node(f"n{i}", make(i))
        g.add_edge([f"n{p}" for p in ps] if ps else START, f"n{i}")
    children = {p for ps in parents for p in ps}
    for i in range(len(parents)):
        if i not in children:
            g.add_edge(f"n{i}", END)
    return g.compile(checkpointer=saver)


def _names(nodes: set[int]) -> set[str]:
    return {f"n{i}" for i in nodes}


def test_generated_cases_cover_cutoff_versions_and_full_propagation() -> None:
    """The seeds include early cutoff, version changes and re-runs that reach everything."""
    cases = [_case(seed) for seed in DAG_SEEDS]
    assert all(c.rerun <= c.executed <= c.rerun | c.maybe for c in cases)
    assert any(c.executed < c.rerun | c.maybe for c in cases)  # early cutoff
    assert any(c.versions for c in cases) and any(not c.versions for c in cases)
    assert any(c.executed == c.rerun | c.maybe and len(c.maybe) > 2 for c in cases)


@pytest.mark.parametrize("seed", DAG_SEEDS)
def test_plan_and_rebuild_match_the_computed_expectation(seed: int) -> None:
    """On a random DAG: plan == expectation, executed == simulation, the rest reused."""
    case = _case(seed)
    backend: InMemoryCache[Any] = InMemoryCache()
    saver = InMemorySaver()
    ran: list[int] = []
    base_graph = _dag(case, {}, backend, saver, ran)
    base = {"configurable": {"thread_id": f"base-{seed}"}}
    base_graph.invoke({f"seed{i}": v for i, v in case.seeds.items()}, base)
    assert sorted(ran) == list(range(N_NODES))

    ran.clear()
    graph = _dag(case, case.versions, backend, saver, ran)
    change = Change(
        inputs={f"seed{i}": v for i, v in case.new_seeds.items() if v != case.seeds[i]},
        versions={f"n{i}": v for i, v in case.versions.items()},
    )
    planned = plan(graph, base, change)
    assert ran == []  # planning executes nothing
    assert set(planned.rerun) == _names(case.rerun)
    assert set(planned.maybe) == _names(case.maybe)
    assert set(planned.reused) == _names(set(range(N_NODES)) - case.rerun - case.maybe)

    done = rebuild(graph, base, change, {"configurable": {"thread_id": f"new-{seed}"}})
    assert set(ran) == case.executed and len(ran) == len(case.executed)
    assert set(done.executed) == _names(case.executed)
    assert set(done.reused) == _names(set(range(N_NODES)) - case.executed)
    assert all(done.run.nodes[n] == "reused" for n in done.reused)
    assert done.run.status == "completed"
    assert done.plan == planned


def _small(saver: Any, backend: Any, *, fail: bool = False, ask: bool = False) -> Any:
    class S(TypedDict, total=False):
        x: int
        a: int
        b: int

    def a(state: S) -> S:
        if fail:
            raise KeyError("a broke")
        return {"a": interrupt("ok?") if ask else state["x"] + 1}

    def b(state: S) -> S:
        return {"b": state["a"] * 2}

    cache = NodeCache(inputs=["x"], backend=backend, version="1")
    g = StateGraph(S)
    g.add_node("a", create_node(a, cache=cache, on_error="raise"))
    g.add_node("b", create_node(b, cache=NodeCache(inputs=["a"], backend=backend, version="1")))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver)


def test_rebuild_is_refused_unless_the_base_run_completed() -> None:
    """A failed, interrupted or unknown base run is refused with a clear error."""
    saver, backend = InMemorySaver(), InMemoryCache()
    new = {"configurable": {"thread_id": "refused-new"}}
    failing = _small(saver, backend, fail=True)
    with pytest.raises(KeyError):
        failing.invoke({"x": 1}, {"configurable": {"thread_id": "failed"}})
    asking = _small(saver, backend, ask=True)
    asking.invoke({"x": 1}, {"configurable": {"thread_id": "asked"}})
    for graph, thread, why in (
        (failing, "failed", "failed: a"),
        (asking, "asked", "interrupted: a"),
        (asking, "never-ran", "no checkpoint found"),
    ):
        base = {"configurable": {"thread_id": thread}}
        with pytest.raises(RunNotCompletedError, match=f"thread '{thread}'.*{why}"):
            rebuild(graph, base, Change(inputs={"x": 2}), new)  # type: ignore[arg-type]
    assert asking.get_state(new).values == {}  # nothing was started


def test_rebuild_links_the_new_run_to_its_base() -> None:
    """The new thread's checkpoints name the base thread and checkpoint; output is right."""
    saver, backend = InMemorySaver(), InMemoryCache()
    graph = _small(saver, backend)
    base: Any = {"configurable": {"thread_id": "link-base"}}
    graph.invoke({"x": 1}, base)
    new: Any = {"configurable": {"thread_id": "link-new"}}
    done = rebuild(graph, base, Change(inputs={"x": 5}), new)
    assert done.run.output == {"x": 5, "a": 6, "b": 12}
    assert done.executed == ("a", "b") and done.reused == ()
    metadata = graph.get_state(new).metadata
    assert metadata[BASE_THREAD_KEY] == "link-base"
    assert metadata[BASE_CHECKPOINT_KEY] == done.plan.base_checkpoint_id


def test_an_unchanged_rebuild_reuses_everything_async() -> None:
    """arebuild with an empty change executes nothing and reports every node reused."""
    saver, backend = InMemorySaver(), InMemoryCache()
    graph = _small(saver, backend)
    base: Any = {"configurable": {"thread_id": "same-base"}}
    graph.invoke({"x": 1}, base)
    done = asyncio.run(arebuild(graph, base, Change(), {"configurable": {"thread_id": "same-2"}}))
    assert done.plan.rerun == () and done.plan.maybe == ()
    assert done.run.nodes == {"a": "reused", "b": "reused"}
    assert done.run.output == {"x": 1, "a": 2, "b": 4}


def test_bad_configs_and_changes_are_refused() -> None:
    """Same thread, a thread in use, unknown nodes, versions the graph lacks: ValueError."""
    saver, backend = InMemorySaver(), InMemoryCache()
    graph = _small(saver, backend)
    base: Any = {"configurable": {"thread_id": "bad-base"}}
    graph.invoke({"x": 1}, base)
    with pytest.raises(ValueError, match="new thread"):
        rebuild(graph, base, Change(), base)
    with pytest.raises(ValueError, match="thread"):
        rebuild(graph, base, Change(), {"configurable": {}})
    graph.invoke({"x": 1}, {"configurable": {"thread_id": "bad-used"}})
    with pytest.raises(ValueError, match="already holds a run"):
        rebuild(graph, base, Change(), {"configurable": {"thread_id": "bad-used"}})
    with pytest.raises(ValueError, match="no node 'zz'"):
        plan(graph, base, Change(versions={"zz": "2"}))
    with pytest.raises(ValueError, match="should have version '2'"):
        rebuild(graph, base, Change(versions={"a": "2"}), {"configurable": {"thread_id": "v"}})
    with pytest.raises(ValueError, match="checkpointer"):
        plan(_small(None, backend), base, Change())


def test_change_is_frozen_and_validated() -> None:
    """Change copies its mappings read-only; bad keys or versions name the field."""
    inputs = {"x": 1}
    change = Change(inputs=inputs, versions={"a": "2"})
    inputs["x"] = 99
    assert change.inputs == {"x": 1}
    with pytest.raises(TypeError):
        change.inputs["x"] = 2  # type: ignore[index]
    with pytest.raises(TypeError, match="versions"):
        Change(versions={"a": 2})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="inputs"):
        Change(inputs={1: "x"})  # type: ignore[dict-item]


@st.composite
def _cases(draw: st.DrawFn) -> _Case:
    n = draw(st.integers(min_value=1, max_value=9))
    parents = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(n)
    ]
    roots = [i for i, ps in enumerate(parents) if not ps]
    seeds = {i: draw(st.integers(0, 50)) for i in roots}
    new_seeds = {i: v + draw(st.sampled_from([0, 0, 1, 2])) for i, v in seeds.items()}
    versions = dict.fromkeys(draw(st.sets(st.integers(0, n - 1), max_size=2)), "2")
    rerun = {i for i in roots if new_seeds[i] != seeds[i]} | set(versions)
    before = _simulate(parents, seeds, {})
    after = _simulate(parents, new_seeds, versions)
    executed = {i for i in after if after[i] != before[i]} | set(versions)
    return _Case(parents, seeds, new_seeds, versions, rerun, set(), executed)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(case=_cases())
def test_plan_brackets_what_a_rebuild_executes(case: _Case) -> None:
    """For any DAG and change: rerun <= executed <= rerun + maybe, and the output is right."""
    backend: InMemoryCache[Any] = InMemoryCache()
    saver = InMemorySaver()
    ran: list[int] = []
    base: Any = {"configurable": {"thread_id": "base"}}
    _dag(case, {}, backend, saver, ran).invoke({f"seed{i}": v for i, v in case.seeds.items()}, base)
    ran.clear()
    graph = _dag(case, case.versions, backend, saver, ran)
    change = Change(
        inputs={f"seed{i}": v for i, v in case.new_seeds.items()},
        versions={f"n{i}": v for i, v in case.versions.items()},
    )
    done = rebuild(graph, base, change, {"configurable": {"thread_id": "new"}})
    rerun, maybe = set(done.plan.rerun), set(done.plan.maybe)
    assert rerun == _names(case.rerun)
    assert rerun <= set(done.executed) <= rerun | maybe
    assert set(done.executed) == _names(case.executed) and sorted(ran) == sorted(case.executed)
    assert not rerun & maybe and not (rerun | maybe) & set(done.plan.reused)
    values = {i: _value(i, ins, case.versions.get(i, "1")) for i, ins in
              _simulate(case.parents, case.new_seeds, case.versions).items()}  # fmt: skip
    assert done.run.output == {
        **{f"seed{i}": v for i, v in case.new_seeds.items()},
        **{f"v{i}": v for i, v in values.items()},
    }


def test_change_names_every_unknown_input_field_and_step(tmp_path: Any) -> None:
    """A typo'd input field or step is a ValueError at plan time naming the unknown ones."""

    class T(TypedDict, total=False):
        doc: str
        words: int

    def count(state: T) -> T:
        return {"words": len(state["doc"].split())}

    g = StateGraph(T)
    g.add_node(
        "count", create_node(count, cache=NodeCache(inputs=["doc"], backend=InMemoryCache()))
    )
    g.add_edge(START, "count")
    graph = g.compile(checkpointer=InMemorySaver())
    base = {"configurable": {"thread_id": "typo"}}
    graph.invoke({"doc": "a b"}, base)
    with pytest.raises(ValueError, match=r"unknown input field\(s\) 'dcc', 'wrds'.*doc") as err:
        plan(graph, base, Change(inputs={"dcc": "a b c", "wrds": 2, "doc": "x"}))
    assert "no node 'cuont'" not in str(err.value)
    with pytest.raises(
        ValueError, match=r"'dcc'.*no node 'cuont' in the graph \(its steps: count\)"
    ):
        plan(graph, base, Change(inputs={"dcc": 1}, versions={"cuont": "2"}))
    new = {"configurable": {"thread_id": "typo-2"}}
    with pytest.raises(ValueError, match="'dcc'"):
        rebuild(graph, base, Change(inputs={"dcc": "a b c"}), new)
    assert not graph.get_state(new).values  # nothing ran
