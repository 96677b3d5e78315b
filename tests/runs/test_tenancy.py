"""Tenancy as a wall: entry point x backend x attacker move.

Tenant ``acme`` owns a completed thread, a blocked thread, a thread written by a plain
``graph.invoke`` (its checkpoints name acme, no owner row) and a thread first run
without a tenant. Tenant ``evil`` tries every entry point on them (the sync API, the
async API, the CLI) on SQLite and on a real PostgreSQL: each move is refused exactly as
a missing thread (or run) is, and acme's threads, runs and reports stay as they were.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langgraph.cache.memory import InMemoryCache
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, NodeCache, create_node
from langgraph_runner._cli.main import main
from langgraph_runner._rebuild.partial import Change, arebuild, plan, rebuild
from langgraph_runner._rebuild.rerun import (
    ablocked_nodes,
    afailed_items,
    arerun_blocked,
    blocked_nodes,
    failed_items,
    rerun_blocked,
)
from langgraph_runner._records.exceptions import RunNotCompletedError, ThreadNotFoundError
from langgraph_runner._reports.report import run_report
from langgraph_runner._runs.checkpoint import open_async_checkpointer, open_checkpointer
from langgraph_runner._runs.control import cancel_run, list_runs
from langgraph_runner._runs.lifecycle import arun, run
from langgraph_runner._runs.tenancy import (
    MAX_TENANT_LENGTH,
    THREADS_TABLE,
    admit,
    check_tenant,
    scoped_thread_id,
    shown_thread_id,
)
from tests import services


class State(GraphState, total=False):
    """The test graph's state: acme's document and what the nodes made of it."""

    doc: str
    out: str
    checked: str


class Calls:
    """How often each node ran (a cache hit does not run it)."""

    def __init__(self) -> None:
        self.read = 0


def _graph(saver: Any, calls: Calls, cache: NodeCache) -> Any:
    """read (cached on doc) -> check (fails for doc == "fail", recorded: blocks)."""

    def read(state: State) -> dict[str, Any]:
        calls.read += 1
        return {"out": f"read:{state['doc']}"}

    def check(state: State) -> dict[str, Any]:
        if state["doc"] == "fail":
            raise ConnectionError("upstream down")
        return {"checked": "ok"}

    builder = StateGraph(State)
    builder.add_node("read", create_node(read, cache=cache))
    builder.add_node("check", create_node(check, on_error="record"))
    builder.add_edge(START, "read")
    builder.add_edge("read", "check")
    builder.add_edge("check", END)
    return builder.compile(checkpointer=saver)


def _cfg(thread: str, **conf: Any) -> Any:
    return {"configurable": {"thread_id": thread, **conf}}


class World:
    """acme's threads in one database, and what acme sees of them."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = url
        self.prefix = f"tn-{uuid.uuid4().hex[:10]}"
        self.calls = Calls()
        self.cache = NodeCache(inputs=["doc"], backend=InMemoryCache(), version="1")
        self.done = self.thread("done")
        self.blocked = self.thread("blocked")
        self.legacy = self.thread("legacy")
        self.plain = self.thread("plain")
        self.missing = self.thread("missing")  # never written
        self.acme_runs: list[str] = []
        self.before: dict[str, Any] = {}

    def thread(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def graph(self, saver: Any) -> Any:
        return _graph(saver, self.calls, self.cache)

    def setup(self) -> None:
        with open_checkpointer(self.url) as saver:
            graph = self.graph(saver)
            done = run(graph, {"doc": "acme-secret"}, _cfg(self.done), tenant="acme")
            blocked = run(
                graph, {"doc": "fail"}, _cfg(self.blocked), tenant="acme", raise_on_error=False
            )
            assert (done.status, blocked.status) == ("completed", "failed")
            self.acme_runs = [done.run_id, blocked.run_id]
            graph.invoke({"doc": "acme-legacy"}, _cfg(self.legacy, tenant_id="acme"))
            run(graph, {"doc": "nobody's"}, _cfg(self.plain))
            assert blocked_nodes(graph, _cfg(self.blocked)) == ["check"]
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """What acme (and the operator) see: reports, runs, state."""
        with open_checkpointer(self.url) as saver:
            graph = self.graph(saver)
            reports = {
                t: run_report(saver, t).model_dump(mode="json")
                for t in (self.done, self.blocked, self.legacy, self.plain)
            }
            runs = [
                (r.run_id, r.thread_id, r.tenant, r.status, r.reason)
                for r in list_runs(saver, limit=10_000)
                if r.thread_id in reports
            ]
            values = {t: graph.get_state(_cfg(t)).values for t in reports}
        return {"reports": reports, "runs": sorted(runs, key=str), "values": values}

    def unchanged(self) -> None:
        assert self.snapshot() == self.before

    def cleanup(self) -> None:
        if self.backend != "postgres":
            return
        import psycopg

        like = f"{self.prefix}%"
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in (
                "checkpoints",
                "checkpoint_blobs",
                "checkpoint_writes",
                "langgraph_runner_runs",
                THREADS_TABLE,
            ):
                conn.execute(f"DELETE FROM {table} WHERE thread_id LIKE %s", (like,))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """acme's threads on SQLite (a file) or PostgreSQL (rows deleted afterwards)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('tenancy') / 'runs.db'}"
    else:
        pytest.importorskip("langgraph.checkpoint.postgres")
        url = services.postgres_url()
    found = World(request.param, url)
    found.setup()
    try:
        yield found
    finally:
        found.cleanup()


def _missing_message(world: World, thread: str) -> str:
    """What a read of a missing thread says, with the thread id of ``thread``."""
    with open_checkpointer(world.url) as saver, pytest.raises(ThreadNotFoundError) as missing:
        run_report(saver, world.missing, tenant="evil")
    return str(missing.value).replace(repr(world.missing), repr(thread))


def _same_as_missing(world: World, call: Callable[[str], Any], victim: str) -> None:
    """``call`` on acme's ``victim`` thread fails exactly as on a missing thread."""
    with pytest.raises((ThreadNotFoundError, RunNotCompletedError)) as on_missing:
        call(world.missing)
    with pytest.raises(type(on_missing.value)) as on_victim:
        call(victim)
    assert str(on_victim.value) == str(on_missing.value).replace(world.missing, victim)


# --------------------------------------------------------------------- runs and resumes

RUN_MOVES: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    # move: (victim thread attribute, config extras, run kwargs)
    "run another tenant's thread": ("done", {}, {"tenant": "evil"}),
    "run it with the tenant in the config": ("done", {"tenant_id": "evil"}, {}),
    "run a tenant's thread with no tenant": ("done", {}, {}),
    "resume a tenant's blocked thread": ("blocked", {}, {"tenant": "evil"}),
    "run a thread a plain invoke wrote": ("legacy", {}, {"tenant": "evil"}),
    "run a no-tenant thread as a tenant": ("plain", {}, {"tenant": "evil"}),
}


@pytest.mark.parametrize("move", list(RUN_MOVES))
def test_sync_run_moves_are_refused_as_not_found(world: World, move: str) -> None:
    """run() on a thread someone else owns raises the missing thread's error; nothing runs."""
    victim_name, extra, kwargs = RUN_MOVES[move]
    victim = getattr(world, victim_name)
    reads = world.calls.read
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        with pytest.raises(ThreadNotFoundError) as refused:
            run(graph, {"doc": "evil"}, _cfg(victim, **extra), raise_on_error=False, **kwargs)
    assert str(refused.value) == _missing_message(world, victim)
    assert world.calls.read == reads
    world.unchanged()


@pytest.mark.parametrize("move", list(RUN_MOVES))
def test_async_run_moves_are_refused_as_not_found(world: World, move: str) -> None:
    """arun() (async savers) refuses the same moves the same way."""
    victim_name, extra, kwargs = RUN_MOVES[move]
    victim = getattr(world, victim_name)

    async def attempt() -> None:
        async with open_async_checkpointer(world.url) as saver:
            graph = world.graph(saver)
            await arun(graph, None, _cfg(victim, **extra), raise_on_error=False, **kwargs)

    with pytest.raises(ThreadNotFoundError) as refused:
        asyncio.run(attempt())
    assert str(refused.value) == _missing_message(world, victim)
    world.unchanged()


@pytest.mark.parametrize("writer", ["acme", None])
def test_arun_first_on_a_thread_a_plain_invoke_wrote_follows_its_checkpoints(
    world: World, writer: str | None
) -> None:
    """A thread with checkpoints and no owner row, first reached by arun: it belongs to
    the tenant its latest checkpoint names (or to no tenant); anyone else is refused."""
    thread = world.thread(f"plain-{uuid.uuid4().hex[:6]}")
    other = "evil" if writer else "acme"
    extra = {"tenant_id": writer} if writer else {}
    with open_checkpointer(world.url) as saver:
        world.graph(saver).invoke({"doc": "written"}, _cfg(thread, **extra))

    async def attempt(tenant: str | None) -> Any:
        async with open_async_checkpointer(world.url) as saver:
            return await arun(world.graph(saver), None, _cfg(thread), tenant=tenant)

    with pytest.raises(ThreadNotFoundError):
        asyncio.run(attempt(other))
    assert asyncio.run(attempt(writer)).status == "completed"
    with pytest.raises(ThreadNotFoundError):
        asyncio.run(attempt(other))


def test_the_owner_still_runs_and_resumes_its_threads(world: World) -> None:
    """The wall lets the owner through: acme runs a new step on its own thread."""
    own = world.thread(f"own-{uuid.uuid4().hex[:6]}")
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        first = run(graph, {"doc": "mine"}, _cfg(own), tenant="acme")
        again = run(graph, {"doc": "mine again"}, _cfg(own, tenant_id="acme"))
        assert (first.status, again.status) == ("completed", "completed")
        assert run_report(saver, own, tenant="acme").tenant == "acme"


def test_two_tenants_racing_for_a_new_thread_one_wins(world: World) -> None:
    """Eight tenants claim one new thread at once: exactly one owns it, the rest are refused."""
    contested = world.thread(f"race-{uuid.uuid4().hex[:6]}")
    barrier = threading.Barrier(8)
    outcomes: dict[str, str] = {}
    with open_checkpointer(world.url) as saver:

        def claim(tenant: str) -> None:
            barrier.wait()
            try:
                admit(saver, contested, tenant, None)
                outcomes[tenant] = "owner"
            except ThreadNotFoundError:
                outcomes[tenant] = "refused"

        workers = [threading.Thread(target=claim, args=(f"t{i}",)) for i in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert sorted(outcomes.values()) == ["owner"] + ["refused"] * 7


# --------------------------------------------------------------------- run ids


def test_another_tenants_run_id_is_refused_and_its_row_kept(world: World) -> None:
    """config["run_id"] of acme's run, reused by evil on evil's own thread: refused."""
    own = world.thread(f"evil-{uuid.uuid4().hex[:6]}")
    config: Any = {"run_id": world.acme_runs[0], **_cfg(own)}
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        with pytest.raises(ValueError, match="already used by a run"):
            run(graph, {"doc": "x"}, config, tenant="evil", raise_on_error=False)
        assert not graph.get_state(_cfg(own)).values  # nothing ran
    world.unchanged()


def test_a_finished_run_id_of_ones_own_is_refused(world: World) -> None:
    """A run id names one run: acme cannot start its finished run again under its id."""
    config: Any = {"run_id": world.acme_runs[0], **_cfg(world.done)}
    with (
        open_checkpointer(world.url) as saver,
        pytest.raises(ValueError, match="already used by a run"),
    ):
        run(world.graph(saver), {"doc": "x"}, config, tenant="acme", raise_on_error=False)
    world.unchanged()


def test_a_reused_run_id_is_refused_by_arun(world: World) -> None:
    """arun refuses a run id in the runs table too."""
    config: Any = {"run_id": world.acme_runs[1], **_cfg(world.thread("evil-async"))}

    async def attempt() -> None:
        async with open_async_checkpointer(world.url) as saver:
            await arun(world.graph(saver), {"doc": "x"}, config, tenant="evil")

    with pytest.raises(ValueError, match="already used by a run"):
        asyncio.run(attempt())
    world.unchanged()


# --------------------------------------------------------------------- reads


def test_reports_of_another_tenants_threads_read_as_missing(world: World) -> None:
    """run_report(tenant="evil"), from a saver or a graph, on each of acme's threads."""
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        for source in (saver, graph):

            def report(thread: str, source: Any = source) -> Any:
                return run_report(source, thread, tenant="evil")

            for victim in (world.done, world.blocked, world.legacy, world.plain):
                _same_as_missing(world, report, victim)
        assert run_report(saver, world.legacy, tenant="acme").thread_id == world.legacy
    world.unchanged()


def test_listing_shows_no_other_tenants_runs(world: World) -> None:
    """list_runs(tenant="evil") lists none of acme's runs; acme's lists its own."""
    with open_checkpointer(world.url) as saver:
        evil = list_runs(saver, tenant="evil", limit=10_000)
        acme = [r.run_id for r in list_runs(saver, tenant="acme", limit=10_000)]
    assert not [r for r in evil if (r.thread_id or "").startswith(world.prefix)]
    assert set(world.acme_runs) <= set(acme)


def test_cancel_of_another_tenants_run_reads_as_an_unknown_run(world: World) -> None:
    """cancel_run(tenant="evil") of acme's run fails as for a run id that never existed."""
    unknown = str(uuid.uuid4())
    with open_checkpointer(world.url) as saver:
        with pytest.raises(ThreadNotFoundError) as on_unknown:
            cancel_run(saver, unknown, "stop", tenant="evil")
        for run_id in world.acme_runs:
            with pytest.raises(ThreadNotFoundError) as on_victim:
                cancel_run(saver, run_id, "stop", tenant="evil")
            assert str(on_victim.value) == str(on_unknown.value).replace(unknown, run_id)
    world.unchanged()


def test_plan_and_rebuild_from_another_tenants_run_read_as_missing(world: World) -> None:
    """plan/rebuild(tenant="evil") from acme's completed run: the missing base run's error."""
    new = world.thread(f"evil-rebuild-{uuid.uuid4().hex[:6]}")
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        _same_as_missing(world, lambda t: plan(graph, _cfg(t), Change(), tenant="evil"), world.done)
        _same_as_missing(
            world,
            lambda t: rebuild(graph, _cfg(t), Change(), _cfg(new), tenant="evil"),
            world.done,
        )
        assert not graph.get_state(_cfg(new)).values
        assert plan(graph, _cfg(world.done), Change(), tenant="acme").reused == ("read",)
    world.unchanged()


def test_arebuild_from_another_tenants_run_reads_as_missing(world: World) -> None:
    """arebuild refuses the same way (the base run is read with the sync saver API)."""
    new = world.thread(f"evil-arebuild-{uuid.uuid4().hex[:6]}")
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        with pytest.raises(RunNotCompletedError, match="no checkpoint found"):
            asyncio.run(arebuild(graph, _cfg(world.done), Change(), _cfg(new), tenant="evil"))
    world.unchanged()


def test_blocked_nodes_and_items_of_another_tenant_read_as_missing(world: World) -> None:
    """blocked_nodes/failed_items with evil's tenant_id list nothing, as for a missing thread."""
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        evil = _cfg(world.blocked, tenant_id="evil")
        missing = _cfg(world.missing, tenant_id="evil")
        assert blocked_nodes(graph, evil) == blocked_nodes(graph, missing) == []
        assert failed_items(graph, evil) == failed_items(graph, missing) == []
        assert blocked_nodes(graph, _cfg(world.blocked, tenant_id="acme")) == ["check"]

    async def async_reads() -> tuple[Any, ...]:
        async with open_async_checkpointer(world.url) as asaver:
            agraph = world.graph(asaver)
            return (
                await ablocked_nodes(agraph, evil),
                await afailed_items(agraph, evil),
                await ablocked_nodes(agraph, _cfg(world.blocked, tenant_id="acme")),
            )

    assert asyncio.run(async_reads()) == ([], [], ["check"])
    world.unchanged()


def test_rerun_blocked_of_another_tenants_thread_is_refused(world: World) -> None:
    """rerun_blocked/arerun_blocked with evil's tenant_id: the missing thread's error."""
    config = _cfg(world.blocked, tenant_id="evil")
    with open_checkpointer(world.url) as saver, pytest.raises(ThreadNotFoundError) as refused:
        rerun_blocked(world.graph(saver), config)
    assert str(refused.value) == _missing_message(world, world.blocked)

    async def attempt() -> None:
        async with open_async_checkpointer(world.url) as asaver:
            await arerun_blocked(world.graph(asaver), config, nodes=["check"])

    with pytest.raises(ThreadNotFoundError):
        asyncio.run(attempt())
    world.unchanged()


# --------------------------------------------------------------------- the node cache


def test_a_tenant_never_reads_another_tenants_cache_entry(world: World) -> None:
    """Same input as acme's cached run: evil's run executes the node; acme's next run hits."""
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        reads = world.calls.read
        tag = uuid.uuid4().hex[:6]
        evil = run(graph, {"doc": "acme-secret"}, _cfg(world.thread(f"e-{tag}")), tenant="evil")
        assert evil.nodes["read"] == "succeeded" and world.calls.read == reads + 1
        acme = run(graph, {"doc": "acme-secret"}, _cfg(world.thread(f"a-{tag}")), tenant="acme")
        assert acme.nodes["read"] == "cached" and world.calls.read == reads + 1


def test_a_cache_shared_across_tenants_is_shared() -> None:
    """NodeCache(shared_across_tenants=True): the opt-in serves one tenant's entry to another."""
    from langgraph.checkpoint.memory import InMemorySaver

    calls = Calls()
    shared = NodeCache(
        inputs=["doc"], backend=InMemoryCache(), version="1", shared_across_tenants=True
    )
    graph = _graph(InMemorySaver(), calls, shared)
    first = run(graph, {"doc": "public"}, _cfg("s-1"), tenant="acme")
    second = run(graph, {"doc": "public"}, _cfg("s-2"), tenant="globex")
    assert (first.nodes["read"], second.nodes["read"], calls.read) == ("succeeded", "cached", 1)
    with pytest.raises(TypeError, match="shared_across_tenants"):
        NodeCache(shared_across_tenants="yes")  # type: ignore[arg-type]


# --------------------------------------------------------------------- the CLI


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_report_runs_and_cancel_of_another_tenant_read_as_missing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """report/runs/cancel --tenant evil: exit 2 with a missing thread's (or run's) words."""
    url = world.url
    missing = _cli(
        ["report", "--checkpointer", url, "--thread", world.missing, "--tenant", "evil"], capsys
    )
    for victim in (world.done, world.legacy):
        code, out, err = _cli(
            ["report", "--checkpointer", url, "--thread", victim, "--tenant", "evil"], capsys
        )
        assert (code, out, err) == (
            missing[0],
            missing[1],
            missing[2].replace(world.missing, victim),
        )
    unknown = str(uuid.uuid4())
    gone = _cli(["cancel", "--checkpointer", url, "--run", unknown, "--tenant", "evil"], capsys)
    for run_id in world.acme_runs:
        code, out, err = _cli(
            ["cancel", "--checkpointer", url, "--run", run_id, "--tenant", "evil"], capsys
        )
        assert (code, err) == (gone[0], gone[2].replace(unknown, run_id)) and code == 2
    code, out, _ = _cli(
        ["runs", "--checkpointer", url, "--tenant", "evil", "--json", "--limit", "10000"], capsys
    )
    acme = (world.done, world.blocked, world.legacy, *world.acme_runs)
    assert code == 0 and not [x for x in acme if x in out]
    world.unchanged()


def test_cli_plan_from_another_tenants_run_reads_as_missing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan --tenant evil on acme's completed run: what plan says of a missing thread."""
    module = tmp_path / "tenancy_graph.py"
    module.write_text(
        "from tests.runs.test_tenancy import Calls, _graph\n"
        "from langgraph.cache.memory import InMemoryCache\n"
        "from langgraph_runner import NodeCache\n"
        "graph = _graph(None, Calls(), NodeCache(inputs=['doc'], backend=InMemoryCache(),"
        " version='1'))\n"
    )
    base = ["plan", "--graph", f"{module}:graph", "--checkpointer", world.url, "--tenant"]
    missing = _cli([*base, "evil", "--thread", world.missing], capsys)
    refused = _cli([*base, "evil", "--thread", world.done], capsys)
    assert refused[0] == missing[0] == 2
    assert refused[2] == missing[2].replace(world.missing, world.done)
    assert _cli([*base, "acme", "--thread", world.done], capsys)[0] == 0


# --------------------------------------------------------------------- tenant ids


@pytest.mark.parametrize(
    "bad",
    ["", "a\x00b", "acme\x1b[2J", "ac\nme", "acme\u202e", "x" * (MAX_TENANT_LENGTH + 1)],
    ids=["empty", "nul", "esc", "newline", "bidi", "too-long"],
)
def test_bad_tenant_ids_are_refused_before_anything_runs(world: World, bad: str) -> None:
    """Empty, NUL (which PostgreSQL cannot store), ESC, newline, U+202E, too long: ValueError."""
    thread = world.thread(f"bad-{uuid.uuid4().hex[:6]}")
    with open_checkpointer(world.url) as saver:
        graph = world.graph(saver)
        with pytest.raises(ValueError, match="run: tenant"):
            run(graph, {"doc": "x"}, _cfg(thread), tenant=bad)
        with pytest.raises(ValueError, match="run: tenant"):
            run(graph, {"doc": "x"}, _cfg(thread, tenant_id=bad))
        with pytest.raises(ValueError, match="run_report: tenant"):
            run_report(saver, world.done, tenant=bad)
        assert not graph.get_state(_cfg(thread)).values


@given(st.text(max_size=MAX_TENANT_LENGTH + 8))
def test_a_tenant_id_is_accepted_exactly_when_printable_and_bounded(text: str) -> None:
    """check_tenant accepts a str iff it is non-empty, at most 256 long and printable."""
    valid = bool(text) and len(text) <= MAX_TENANT_LENGTH and text.isprintable()
    if valid:
        assert check_tenant(text, owner="run") == text
    else:
        with pytest.raises(ValueError, match=r"^run: tenant"):
            check_tenant(text, owner="run")


def test_a_tenant_id_must_be_a_str() -> None:
    """An int or bytes tenant is a TypeError naming the entry point."""
    for bad in (5, b"acme"):
        with pytest.raises(TypeError, match="list_runs: tenant must be a str"):
            check_tenant(bad, owner="list_runs")


def test_the_operator_view_lists_every_run_with_its_tenant(world: World) -> None:
    """The operator's view (no --tenant) lists every thread's owner as it ran."""
    with open_checkpointer(world.url) as saver:
        owners = {
            r.thread_id: r.tenant
            for r in list_runs(saver, limit=10_000)
            if (r.thread_id or "").startswith(world.prefix)
        }
    assert owners[world.done] == owners[world.blocked] == "acme"
    assert owners[world.plain] is None
    assert json.dumps(owners)  # plain data


@given(
    st.tuples(st.text(min_size=1, max_size=20), st.text(max_size=20)),
    st.tuples(st.text(min_size=1, max_size=20), st.text(max_size=20)),
)
def test_scoped_thread_ids_never_collide_and_show_the_thread_id(
    one: tuple[str, str], two: tuple[str, str]
) -> None:
    """The service's per-tenant thread ids: one per (tenant, thread id), thread id back."""
    for tenant, thread in (one, two):
        assert shown_thread_id(scoped_thread_id(tenant, thread)) == thread
    assert (scoped_thread_id(*one) == scoped_thread_id(*two)) == (one == two)


def test_a_thread_id_without_a_tenant_is_stored_and_shown_as_given() -> None:
    assert scoped_thread_id(None, "t-1") == "t-1"
    assert shown_thread_id("t-1") == "t-1"
    assert scoped_thread_id("a/b", "c") != scoped_thread_id("a", "b/c")


def test_two_tenants_scoped_threads_of_one_name_are_each_their_own(world: World) -> None:
    """In process, the wall keeps a thread its first tenant's; scoped ids never meet it."""
    thread = f"scoped-{uuid.uuid4().hex}"
    mine, theirs = scoped_thread_id("acme", thread), scoped_thread_id("evil", thread)
    try:
        with open_checkpointer(world.url) as saver:
            graph = _graph(saver, Calls(), NodeCache(inputs=["doc"], backend=InMemoryCache()))
            a = run(graph, {"doc": "a"}, _cfg(mine), tenant="acme")
            b = run(graph, {"doc": "b"}, _cfg(theirs), tenant="evil")
            assert (a.status, b.status) == ("completed", "completed")
            assert run_report(saver, mine, tenant="acme").run_id == a.run_id
            assert run_report(saver, theirs, tenant="evil").run_id == b.run_id
            with pytest.raises(ThreadNotFoundError):
                run(graph, {"doc": "c"}, _cfg(mine), tenant="evil")
    finally:
        with open_checkpointer(world.url) as saver:
            saver.delete_thread(mine)
            saver.delete_thread(theirs)
