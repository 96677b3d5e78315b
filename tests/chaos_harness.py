"""The chaos test's harness: it builds and runs one seeded plan and checks it against the model."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import (
    AbortController,
    CircuitBreaker,
    CircuitBreakerConfig,
    NodeAbortedError,
    NodeError,
    NodeTimeoutError,
    RetryConfig,
    create_node,
    get_circuit_breaker,
    get_node_context,
)
from langgraph_runner._policies.timeouts import abandoned_thread_count
from langgraph_runner.testing import FlakyNode, hang, no_wait
from tests.chaos_model import (
    ABORT_TIMER_S,
    CLOCK_RECOVERY,
    HONOURING_HANG_S,
    IGNORING_HANG_S,
    KEY_RECOVERY,
    LEGAL,
    NODES,
    RETRY_ON,
    SINK,
    STEP_OF,
    STEPS,
    TICK,
    ChaosState,
    Expect,
    NodePlan,
    Prediction,
    RunPlan,
    draw_plan,
    predict,
)
from tests.fakes import FakeClock


class Capture:
    """A structlog-style logger keeping the warning events (thread-safe appends)."""

    def __init__(self) -> None:
        self.warnings: list[dict[str, Any]] = []

    def debug(self, event: str, **kw: Any) -> None:
        pass

    info = debug
    error = debug

    def warning(self, event: str, **kw: Any) -> None:
        self.warnings.append({"event": event, **kw})


class SyncNodeFn:
    """A node's function: plays its planned outcome for each call.

    An object rather than a closure: LangGraph walks a node function's closure and
    bytecode looking for subgraphs, which costs more than a whole small run.
    """

    def __init__(self, run: Run, p: NodePlan) -> None:
        self.run, self.p = run, p
        self.__name__ = self.__qualname__ = p.name

    def __call__(self, state: ChaosState) -> Any:
        run, p = self.run, self.p
        kind = run._next(p)
        if kind == "hang":
            return run.hangs[p.name](state)
        if kind == "abort_timer":
            run._start_timer()
            return run.waiters[p.name](state)
        return run._immediate(p, kind)


class AsyncNodeFn(SyncNodeFn):
    async def __call__(self, state: ChaosState) -> Any:  # type: ignore[override]
        run, p = self.run, self.p
        kind = run._next(p)
        if kind == "hang":
            return await run.hangs[p.name](state)
        if kind == "abort_timer":
            run._start_timer()
            return await run.waiters[p.name](state)
        await asyncio.sleep(0)
        return run._immediate(p, kind)


class Run:
    """One run's graph, breakers and everything observed while it runs."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.lock = threading.Lock()
        self.controller = AbortController() if plan.signal else None
        self.clock = FakeClock(0.0)
        self.calls: Counter[str] = Counter()
        self.late: dict[str, set[int]] = {n: set() for n in NODES}
        self.deadline_hit: dict[str, int] = {}  # node -> the attempt its deadline ended
        self.timed_out: Counter[str] = Counter()  # node -> attempts the engine timed out
        self.failures: Counter[str] = Counter()
        self.fallback_seen: dict[str, list[str]] = {n: [] for n in NODES}
        self.timers: list[threading.Timer] = []
        self.log = Capture()
        self.hangs: dict[str, FlakyNode] = {}
        self.waiters: dict[str, FlakyNode] = {}
        self.transitions: dict[str, list[tuple[str, str]]] = {}
        self.breakers: dict[str, CircuitBreaker] = {}
        if plan.key_threshold:
            cfg = CircuitBreakerConfig(
                failure_threshold=plan.key_threshold, recovery_timeout=KEY_RECOVERY
            )
            self._watch("key", get_circuit_breaker(f"chaos-{plan.seed}-key", cfg))
        if plan.clock_cfg:
            threshold, probes = plan.clock_cfg
            cfg = CircuitBreakerConfig(
                failure_threshold=threshold,
                recovery_timeout=timedelta(seconds=CLOCK_RECOVERY),
                half_open_max_calls=probes,
            )
            self._watch("clock", CircuitBreaker(f"chaos-{plan.seed}-clock", cfg, clock=self.clock))
        if plan.group:
            cfg = CircuitBreakerConfig(
                failure_threshold=plan.group_threshold, recovery_timeout=KEY_RECOVERY
            )
            self._watch("group", get_circuit_breaker(f"chaos-{plan.seed}-group", cfg))
        self.graph = self._build()

    def _watch(self, kind: str, breaker: CircuitBreaker) -> None:
        seen = self.transitions[kind] = []
        self.breakers[kind] = breaker
        breaker.add_listener(lambda old, new: seen.append((old.value, new.value)))

    # -- node functions

    def _next(self, p: NodePlan) -> str:
        """The planned outcome of this attempt, chosen by its attempt number.

        By attempt, not by arrival order: under load the thread of a timed-out attempt
        can start after the next attempt's thread, and an arrival counter would then
        hand the first attempt's outcome to the second.
        """
        ctx = get_node_context()
        with self.lock:
            n = self.calls[p.name]
            self.calls[p.name] += 1
            attempt = ctx.attempt if ctx is not None else n + 1
            if ctx is not None and isinstance(ctx.abort_signal.reason, NodeTimeoutError):
                # The attempt timed out before its body started (a starved thread): the
                # engine has already recorded a timeout for it, whatever the body does.
                self.late[p.name].add(attempt)
        if p.tick and n == 0:
            self.clock.now += TICK
        return p.outcomes[min(attempt - 1, len(p.outcomes) - 1)]

    def _start_timer(self) -> None:
        assert self.controller is not None
        timer = threading.Timer(ABORT_TIMER_S, self.controller.abort, args=("chaos timer",))
        with self.lock:
            self.timers.append(timer)
        timer.start()

    def _immediate(self, p: NodePlan, kind: str) -> Any:
        """The outcomes that need no waiting; returns the update or raises."""
        if kind == "ok":
            return {"visits": [p.name]}
        if kind == "conn":
            raise ConnectionError(f"{p.name}: upstream down (api_key=sk-chaos-secret)")
        if kind == "value":
            raise ValueError(f"{p.name}: bad input")
        if kind == "abort":
            assert self.controller is not None
            self.controller.abort(f"chaos abort in {p.name}")
            return {"visits": [p.name]}  # must be discarded: the node writes nothing
        if kind == "abort_wait":  # the timer starts in on_retry_attempt (see _build)
            raise ConnectionError(f"{p.name}: down; the abort will come during the wait")
        raise AssertionError(kind)

    def node_fn(self, p: NodePlan) -> Any:
        result = {"visits": [p.name]}
        if "hang" in p.outcomes:
            seconds = HONOURING_HANG_S if p.honour else IGNORING_HANG_S
            self.hangs[p.name] = hang(
                seconds, result=result, honour_abort=p.honour, is_async=p.is_async, name=p.name
            )
        if "abort_timer" in p.outcomes:
            seconds = HONOURING_HANG_S if p.honour else IGNORING_HANG_S
            self.waiters[p.name] = hang(
                seconds, result=result, honour_abort=p.honour, is_async=p.is_async, name=p.name
            )

        return (AsyncNodeFn if p.is_async else SyncNodeFn)(self, p)

    def fallback_fn(self, p: NodePlan) -> Any:
        def body() -> Any:
            ctx = get_node_context()
            assert ctx is not None
            self.fallback_seen[p.name].append(type(ctx.primary_error).__name__)
            if p.fallback == "raise":
                raise RuntimeError(f"fallback of {p.name} is down too")
            return {"visits": [f"{p.name}:fb"]} if p.fallback == "ok" else None

        def sync_fb(state: ChaosState) -> Any:
            return body()

        async def async_fb(state: ChaosState) -> Any:
            await asyncio.sleep(0)
            return body()

        return async_fb if p.fallback_async else sync_fb

    def note_timeouts(self) -> None:
        """Mark as late every attempt the engine timed out whose planned outcome is immediate.

        An immediate outcome takes microseconds: it times out only when its thread was not
        scheduled before the timeout (a loaded machine), possibly after the run ended.
        """
        for w in self.log.warnings:
            if w["event"] != "node.timed_out" or w.get("node") not in self.plan.nodes:
                continue
            p, attempt = self.plan.nodes[w["node"]], int(w["attempt"])
            self.timed_out[p.name] += 1
            if p.outcomes[min(attempt - 1, len(p.outcomes) - 1)] in ("ok", "conn", "value"):
                self.late[p.name].add(attempt)

    def on_failure(self, record: NodeError, state: Any) -> None:
        with self.lock:
            self.failures[record.node] += 1
            if record.code == "NODE_TIMEOUT" and "exceeded its deadline" in record.message:
                self.deadline_hit[record.node] = record.attempts

    def _retry(self, p: NodePlan) -> RetryConfig | int | None:
        if p.retry_kind == "none":
            return None
        if p.outcomes[0] == "abort_wait":  # a real 30 s wait that the abort must end
            return RetryConfig(
                max_attempts=p.max_attempts, initial_interval=30.0, retry_on=RETRY_ON
            )
        if p.retry_kind == "int":
            if not self.plan.real_waits:
                return p.max_attempts
            return RetryConfig(max_attempts=p.max_attempts, initial_interval=0.0)
        return RetryConfig(max_attempts=p.max_attempts, initial_interval=0.0, retry_on=RETRY_ON)

    def _breaker(self, p: NodePlan) -> Any:
        seed = self.plan.seed
        return {
            None: None,
            "key": f"chaos-{seed}-key",
            "group": f"chaos-{seed}-group",
            "clock": self.breakers.get("clock"),
            "local": CircuitBreakerConfig(failure_threshold=p.local_threshold),
        }[p.breaker]

    def _build(self) -> Any:
        g = StateGraph(ChaosState)
        for name in NODES:
            p = self.plan.nodes[name]
            fallback: Any = p.fallback
            if fallback not in (None, "sink"):
                fallback = self.fallback_fn(p)
            node = create_node(
                self.node_fn(p),
                retry=self._retry(p),
                timeout=p.timeout,
                deadline=p.deadline,
                circuit_breaker=self._breaker(p),
                fallback=fallback,
                on_failure=self.on_failure,
                # An abort_wait's abort starts once the failure is counted, just before
                # the wait: from the node body, a starved worker thread could let it
                # land before the attempt's own ConnectionError reached the engine.
                on_retry_attempt=(
                    (lambda _info: self._start_timer()) if "abort_wait" in p.outcomes else None
                ),
                logger=self.log,
            )
            g.add_node(name, node)

        def sink(state: ChaosState) -> Any:
            return {"visits": [SINK]}

        async def async_sink(state: ChaosState) -> Any:
            return {"visits": [SINK]}

        g.add_node(SINK, create_node(async_sink if self.plan.sink_async else sink))
        g.add_edge(START, STEPS[0][0])
        for before, after in itertools.pairwise(STEPS):
            for x in before:
                for y in after:
                    g.add_edge(x, y)
        g.add_edge(STEPS[-1][0], END)
        return g.compile(checkpointer=InMemorySaver() if self.plan.signal else None)

    # -- running

    def config(self) -> Any:
        if self.controller is None:
            return None
        return {
            "configurable": {
                "thread_id": f"chaos-{self.plan.seed}",
                "abort_signal": self.controller.signal if self.plan.seed % 2 else self.controller,
            }
        }

    def execute(self, loop: asyncio.AbstractEventLoop) -> tuple[Any, BaseException | None]:
        waits = contextlib.nullcontext() if self.plan.real_waits else no_wait()
        with waits:
            try:
                if self.plan.mode == "invoke":
                    return self.graph.invoke({}, self.config()), None
                return loop.run_until_complete(self.graph.ainvoke({}, self.config())), None
            except Exception as exc:
                return None, exc

    def settle(self, aborted: bool) -> list[str]:
        """Wait for what the run left behind; complain about abort-honouring leftovers."""
        problems = []
        for timer in self.timers:
            timer.join()
        for name, fn in {**self.hangs, **self.waiters}.items():
            p = self.plan.nodes[name]
            if (p.honour or p.is_async) and not fn.wait_idle(0.5):
                problems.append(f"{name}: an abort-honouring call is still running: {fn!r}")
            if aborted:  # LangGraph leaves failed supersteps' siblings running: let them end
                fn.wait_idle(2.0)
        return problems


# ---------------------------------------------------------------------------------- checks

SECRET = "sk-chaos-secret"
PLAIN = (str, int, float, bool, type(None))


def _plain_json(value: Any) -> bool:
    if isinstance(value, PLAIN):
        return True
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


def check_records(values: dict[str, Any]) -> list[str]:
    problems = []
    for rec in values.get("errors") or []:
        if not _plain_json(rec) or json.loads(json.dumps(rec)) != rec:
            problems.append(f"record is not plain JSON: {rec!r}")
            continue
        try:
            NodeError.model_validate(rec)
        except Exception as exc:
            problems.append(f"record does not validate ({exc}): {rec!r}")
        if SECRET in json.dumps(rec):
            problems.append(f"record leaks a secret: {rec!r}")
    return problems


def check_node(
    name: str, p: NodePlan, e: Expect, recs: list[dict[str, Any]], run: Run
) -> list[str]:
    """One node's records, calls, hooks and fallback against its expectation."""
    out = []
    if len(recs) != e.records:
        out.append(f"{name}: {len(recs)} record(s), expected {e.records}: {recs!r}")
    if e.failed and recs:
        rec = recs[0]
        if rec["code"] not in e.codes:
            out.append(f"{name}: code {rec['code']}, expected one of {sorted(e.codes)}")
        if rec["code"] == "NODE_TIMEOUT" and rec["category"] != "timeout":
            out.append(f"{name}: NODE_TIMEOUT with category {rec['category']}")
        if e.attempts is not None and rec["attempts"] != e.attempts:
            out.append(f"{name}: {rec['attempts']} attempt(s) recorded, expected {e.attempts}")
        if rec["recovered"] is not e.recovered:
            out.append(f"{name}: recovered={rec['recovered']}, expected {e.recovered}")
        if rec["code"] == "CIRCUIT_OPEN":
            ra, want = rec["retry_after"], e.retry_after
            real_clock = p.breaker != "clock"
            if ra is None or (
                not (want is None or want - 60 < ra <= want) if real_clock else ra != want
            ):
                out.append(f"{name}: CIRCUIT_OPEN retry_after={ra}, expected {want}")
        if e.records == 2 and not recs[1]["message"].startswith(f"Fallback of node '{name}'"):
            out.append(f"{name}: second record is not the fallback's: {recs[1]!r}")
    # The thread of a timed-out attempt may not have reached the body when the run ends.
    unsure = run.timed_out[name]
    if e.calls is not None and not e.calls - unsure <= run.calls[name] <= e.calls:
        want = e.calls if not unsure else f"{e.calls - unsure} to {e.calls}"
        out.append(f"{name}: fn called {run.calls[name]} time(s), expected {want}")
    if run.failures[name] != int(e.failed):
        out.append(f"{name}: on_failure called {run.failures[name]} time(s), failed={e.failed}")
    seen = run.fallback_seen[name]
    if p.fallback in ("ok", "none", "raise") and e.failed:
        if len(seen) != 1 or seen[0] not in e.exc_types:
            out.append(f"{name}: fallback saw primary errors {seen}, expected one of {e.exc_types}")
    elif seen:
        out.append(f"{name}: fallback ran ({seen}) although the node did not fail")
    return out


def check_breakers(plan: RunPlan, pred: Prediction, run: Run, abort_node: str | None) -> list[str]:
    out = []
    k = pred.abort_step
    for kind, seen in run.transitions.items():
        prev = "closed"
        for old, new in seen:
            if old != prev or (old, new) not in LEGAL:
                out.append(f"breaker {kind}: illegal transition {old}->{new} after {prev}: {seen}")
            prev = new
        if kind == "group":
            group_ran = k is None or STEP_OF[plan.group[0]] < k
            want = [("closed", "open")] if pred.group_opens and group_ran else []
            if seen != want:
                out.append(f"breaker group: transitions {seen}, expected {want}")
            continue
        model = pred.transitions[kind]
        full = [(o, n) for o, n, _ in model]
        if k is None:
            if seen != full:
                out.append(f"breaker {kind}: transitions {seen}, expected {full}")
            continue
        lower = [(o, n) for o, n, node in model if STEP_OF[node] < k or node == abort_node]
        if seen != full[: len(seen)] or len(seen) < len(lower):
            out.append(f"breaker {kind}: transitions {seen}, expected {lower} up to {full}")
    # reset() is the one other transition there is: state -> closed, whatever the state
    for kind, breaker in run.breakers.items():
        before, count = breaker.state.value, len(run.transitions[kind])
        breaker.reset()
        want = [(before, "closed")] if before != "closed" else []
        if run.transitions[kind][count:] != want:
            out.append(
                f"breaker {kind}: reset gave {run.transitions[kind][count:]}, expected {want}"
            )
    return out


def check_group(plan: RunPlan, pred: Prediction, run: Run, values: dict[str, Any]) -> list[str]:
    """Order-independent facts about a parallel step that shares one breaker."""
    out = []
    total = sum(run.calls[n] for n in plan.group)
    budget = sum(plan.nodes[n].max_attempts for n in plan.group)
    unsure = sum(run.timed_out[n] for n in plan.group)  # timed out, body maybe not yet run
    if pred.group_opens and total + unsure < plan.group_threshold:
        out.append(f"group: {total} call(s) opened a threshold-{plan.group_threshold} breaker")
    if not pred.group_opens and not budget - unsure <= total <= budget:
        out.append(f"group: {total} call(s), expected every attempt ({budget})")
    for name in plan.group:
        recs = [r for r in values.get("errors") or [] if r["node"] == name]
        exhausted = bool(recs) and recs[0]["code"] != "CIRCUIT_OPEN"
        most = plan.nodes[name].max_attempts
        if exhausted and not most - run.timed_out[name] <= run.calls[name] <= most:
            out.append(f"{name}: exhausted after {run.calls[name]} call(s)")
    return out


def check_run(
    plan: RunPlan,
    pred: Prediction,
    run: Run,
    out: Any,
    exc: BaseException | None,
    abandoned: int,
) -> list[str]:
    problems: list[str] = []
    k = pred.abort_step
    included = {n for n in NODES if pred.expects[n].ran}
    sinks = len(pred.sink_steps)
    abort_node = next((n for n in NODES if pred.expects[n].aborted), None)
    if k is None:
        if exc is not None:
            return [f"raised {exc!r}, expected the run to complete"]
        values = out
    else:
        if not isinstance(exc, NodeAbortedError):
            return [f"{exc!r} / {out!r}: expected NodeAbortedError from {abort_node}"]
        step_nodes = set(STEPS[k]) | ({SINK} if k in pred.sink_steps else set())
        if exc.node not in step_nodes:
            problems.append(f"NodeAbortedError names {exc.node}, not a node of step {k}")
        snap = run.graph.get_state(run.config())
        tasks = {t.name: t for t in snap.tasks}
        for name in step_nodes:
            task = tasks.get(name)
            if task is None or task.result is None:
                included.discard(name)
                sinks -= name == SINK
        if abort_node in included:
            problems.append(f"{abort_node} aborted the run but wrote {tasks[abort_node].result!r}")
        values = snap.values
    problems += check_records(values)
    recs_by_node: dict[str, list[dict[str, Any]]] = {n: [] for n in [*NODES, SINK]}
    for rec in values.get("errors") or []:
        recs_by_node.setdefault(rec.get("node"), []).append(rec)
    if recs_by_node[SINK]:
        problems.append(f"sink has records: {recs_by_node[SINK]!r}")
    want_visits: Counter[str] = Counter({SINK: sinks} if sinks else {})
    blocked = False
    for name in NODES:
        p, e = plan.nodes[name], pred.expects[name]
        if name not in included:
            sibling = k is not None and STEP_OF[name] == k
            if recs_by_node[name]:
                problems.append(f"{name}: did not write, but has records {recs_by_node[name]!r}")
            if not sibling and run.calls[name]:
                problems.append(f"{name}: fn called {run.calls[name]} time(s) after the abort")
            continue
        want_visits.update(e.visits)
        blocked |= e.failed and not e.recovered
        problems += check_node(name, p, e, recs_by_node[name], run)
        finished = k is None or STEP_OF[name] < k
        if name in run.hangs and finished:
            timed_out = sum(
                1 for w in run.log.warnings if w["event"] == "node.timed_out" and w["node"] == name
            )
            # Every hang that ran timed out; a timed-out hang's thread may not have run yet.
            hangs = run.hangs[name].calls + late_starts(run, name)
            if timed_out < hangs:
                problems.append(f"{name}: {timed_out} node.timed_out event(s) for {hangs} hang(s)")
    visits = sorted(values.get("visits") or [])
    if Counter(visits) != want_visits:
        problems.append(f"visits {visits}, expected {sorted(want_visits.elements())}")
    flags = values.get("routing_flags") or {}
    if bool(flags.get("blocked")) is not blocked:
        problems.append(f"routing_flags {flags}, expected blocked={blocked}")
    if plan.group and (k is None or STEP_OF[plan.group[0]] < k):
        problems += check_group(plan, pred, run, values)
    if k is None:
        # Each sync timeout abandons its thread, started or not.
        sync_hangs = sum(c for n, c in run.timed_out.items() if not plan.nodes[n].is_async)
        if abandoned != sync_hangs:
            problems.append(f"{abandoned} thread(s) abandoned for {sync_hangs} sync timeout(s)")
    problems += check_breakers(plan, pred, run, abort_node)
    return problems


# ---------------------------------------------------------------------------------- the test


def late_starts(run: Run, name: str) -> int:
    """Attempts of ``name`` that timed out before their body started, with a non-hang plan."""
    p = run.plan.nodes[name]
    return sum(1 for a in run.late[name] if p.outcomes[min(a - 1, len(p.outcomes) - 1)] != "hang")


def late_outcome(p: NodePlan, attempt: int, late: set[int]) -> str:
    """What an attempt's outcome was as the engine saw it: a timeout if its body started late."""
    if attempt in late:
        return "hang"
    return p.outcomes[min(attempt - 1, len(p.outcomes) - 1)]


def as_observed(plan: RunPlan, late: dict[str, set[int]], deadline_hit: dict[str, int]) -> RunPlan:
    """The plan as the wall clock played it: late starts and spent deadlines as timeouts.

    Timeouts and deadlines are real time, so a loaded machine decides two things the model
    cannot: an attempt whose thread starts after its timeout fired (the engine recorded a
    timeout, whatever the body then does), and the attempt at which a node's deadline runs
    out. The harness observes both (``Run.late``, ``Run.deadline_hit``); the model then
    predicts everything else from them, so load cannot flip a check.
    """
    nodes = dict(plan.nodes)
    for name in {n for n, a in late.items() if a} | set(deadline_hit):
        p = nodes[name]
        attempts = set(late[name])
        max_attempts = p.max_attempts
        if name in deadline_hit:
            max_attempts = min(max_attempts, deadline_hit[name])
            attempts.add(max_attempts)
        outcomes = [late_outcome(p, a, attempts) for a in range(1, max_attempts + 2)]
        nodes[name] = dataclasses.replace(
            p, outcomes=outcomes, max_attempts=max_attempts, deadline=None
        )
    return dataclasses.replace(plan, nodes=nodes)


def run_seed(seed: int, loop: asyncio.AbstractEventLoop) -> list[str]:
    plan = draw_plan(seed)
    pred = predict(plan)
    run = Run(plan)
    before = abandoned_thread_count()
    started = time.monotonic()
    out, exc = run.execute(loop)
    elapsed = time.monotonic() - started
    problems = run.settle(aborted=pred.abort_step is not None)
    run.note_timeouts()
    if any(run.late.values()) or run.deadline_hit:
        pred = predict(as_observed(plan, run.late, run.deadline_hit))
    if elapsed > 10:  # the only slow thing a run may hold is a 30 s retry wait
        problems.append(f"run took {elapsed:.1f}s: a retry wait was not ended by the abort")
    problems += check_run(plan, pred, run, out, exc, abandoned_thread_count() - before)
    return problems


def describe(plan: RunPlan) -> str:
    def node(p: NodePlan) -> str:
        opts = [
            "async" if p.is_async else "sync",
            f"retry={p.retry_kind}/{p.max_attempts}",
            *(f"{k}={v}" for k, v in (
                ("timeout", p.timeout), ("deadline", p.deadline), ("breaker", p.breaker),
                ("fallback", p.fallback), ("tick", p.tick or None),
            ) if v is not None),
            "honour" if p.honour else "ignore",
        ]  # fmt: skip
        return f"{p.name}: {p.outcomes} {' '.join(opts)}"

    head = (
        f"seed {plan.seed}: {plan.mode} signal={plan.signal} real_waits={plan.real_waits} "
        f"key={plan.key_threshold} clock={plan.clock_cfg} group={plan.group}/{plan.group_threshold}"
    )
    return "\n".join([head, *("  " + node(p) for p in plan.nodes.values())])
