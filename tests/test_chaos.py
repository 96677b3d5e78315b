"""Chaos: 1,000 seeded runs of a 10-node graph of create_node nodes, checked against a model.

Every run draws, from ``random.Random(seed)``, how it is run (invoke with sync nodes, or
ainvoke with sync and async nodes; with or without a run abort signal) and, per node, its
options (retries, timeout, deadline, circuit breaker, fallback) and its behaviour, one
outcome per call: succeed, fail retryably (ConnectionError), fail with a ValueError, hang
past the timeout (honouring the abort signal or not), or abort the run (inline, from a
threading.Timer, or during a real retry wait). A small model written from the spec, not
from the code, predicts every node's outcome; the run must match it:

* one error record per terminal failure (two when the callable fallback fails too), none
  for a success; codes, attempts, ``recovered`` and ``retry_after`` as predicted; every
  record is plain JSON that ``NodeError.model_validate`` accepts;
* ``routing_flags["blocked"]`` is set iff a failure was not recovered by a fallback;
* ``on_failure`` once per terminal failure; a fallback sees the primary error; a routed
  fallback runs the fallback node once per superstep that routed to it;
* each timed-out attempt logs ``node.timed_out`` and a sync one abandons one thread;
  late results are discarded;
* an aborted run raises ``NodeAbortedError``; the aborting node writes nothing and the
  state holds exactly the earlier supersteps (plus siblings that finished first);
* breaker transitions (listeners) are legal, continuous and the ones predicted;
* afterwards no abort-honouring call is still running; abandoned ones are waited for.

Shared breakers are used by at most one node per superstep, so their order is fixed,
except in one "group" pattern where a whole parallel step shares one breaker and only
order-independent facts are checked. A fake clock, advanced by nodes of other supersteps,
drives one breaker through half-open.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import operator
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_runner import (
    AbortController,
    CircuitBreaker,
    CircuitBreakerConfig,
    GraphState,
    NodeAbortedError,
    NodeError,
    NodeTimeoutError,
    RetryConfig,
    create_node,
    get_circuit_breaker,
    get_node_context,
)
from langgraph_runner.circuit import reset_circuit_breakers
from langgraph_runner.testing import FlakyNode, hang, no_wait
from langgraph_runner.timeouts import abandoned_thread_count, wait_for_abandoned_threads

SEEDS = 1_000
BLOCKS = 10
STEPS: tuple[tuple[str, ...], ...] = (("a",), ("b", "c", "d"), ("e",), ("f",), ("g", "h"), ("i",))
NODES = [n for step in STEPS for n in step]
STEP_OF = {n: k for k, step in enumerate(STEPS) for n in step}
SINK = "sink"  # the 10th node: reached only through fallback="sink"
TIMEOUTS: tuple[float | timedelta, ...] = (0.015, 0.02, timedelta(milliseconds=15))
IGNORING_HANG_S = 0.05  # how long an abandoned, abort-ignoring call keeps its thread
HONOURING_HANG_S = 5.0  # never reached: the abort signal ends these calls
ABORT_TIMER_S = 0.002
KEY_RECOVERY = 3600.0  # real-clock breakers stay open for the whole run
CLOCK_RECOVERY = 10.0
TICK = CLOCK_RECOVERY + 1.0
LEGAL = {("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")}
RETRY_ON = (ConnectionError, NodeTimeoutError)


class ChaosState(GraphState, total=False):
    visits: Annotated[list[str], operator.add]


# ---------------------------------------------------------------------------------- plans


@dataclass
class NodePlan:
    name: str
    outcomes: list[str]  # one per call; the last one repeats
    is_async: bool = False
    retry_kind: str = "cfg"  # "cfg" (ValueError not retried), "int", "none"
    max_attempts: int = 1
    timeout: float | timedelta | None = None
    deadline: float | None = None
    honour: bool = True
    breaker: str | None = None  # "key", "clock", "local", "group"
    local_threshold: int = 1
    fallback: str | None = None  # None, "sink", "ok", "none", "raise"
    fallback_async: bool = False
    tick: bool = False  # advances the fake clock on its first call

    @property
    def value_retryable(self) -> bool:
        return self.retry_kind != "cfg"


@dataclass
class RunPlan:
    seed: int
    mode: str  # "invoke" (sync nodes) or "ainvoke" (sync and async nodes)
    signal: bool
    real_waits: bool
    nodes: dict[str, NodePlan]
    sink_async: bool = False
    key_threshold: int | None = None
    clock_cfg: tuple[int, int] | None = None  # failure_threshold, half_open_max_calls
    group: tuple[str, ...] = ()
    group_threshold: int = 1


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _draw_outcomes(rng: random.Random, p: NodePlan) -> list[str]:
    menu = ["ok"] * 9 + ["flaky"] * 4 + ["down"] * 2 + ["value"] * 2
    if p.timeout is not None:
        menu += ["slow"] * 3
    kind = rng.choice(menu)
    if kind == "flaky":
        return ["conn"] * rng.randint(1, 3) + ["ok"]
    if kind == "down":
        return ["conn"]
    if kind == "value":
        return rng.choice([["value"], ["conn", "value"]])
    if kind == "slow":
        if p.deadline is not None:
            return rng.choice([["hang"], ["hang", "ok"]])
        p.max_attempts = min(p.max_attempts, 2)  # every hang costs a whole timeout
        return rng.choice([["hang"], ["hang", "ok"], ["conn", "hang", "ok"]])
    return ["ok"]


def draw_plan(seed: int) -> RunPlan:
    """Everything about run ``seed``, from ``random.Random(seed)`` only."""
    rng = random.Random(seed)
    mode = rng.choice(["invoke", "ainvoke"])
    signal = rng.random() < 0.5
    plan = RunPlan(seed, mode, signal, real_waits=signal and rng.random() < 0.1, nodes={})
    plan.sink_async = mode == "ainvoke" and rng.random() < 0.5
    if rng.random() < 0.15:
        plan.group = rng.choice([("b", "c", "d"), ("g", "h")])
        plan.group_threshold = rng.randint(1, 5)
    if rng.random() < 0.35:
        plan.key_threshold = rng.choice([1, 2])
    if rng.random() < 0.35:
        plan.clock_cfg = (rng.choice([1, 2]), rng.choice([1, 2]))
    breakers: dict[str, str] = {}
    clock_steps: set[int] = set()
    for k, step in enumerate(STEPS):
        free = [n for n in step if n not in plan.group]
        for kind, on in (("key", plan.key_threshold), ("clock", plan.clock_cfg)):
            if on and free and rng.random() < 0.7:
                name = rng.choice(free)
                free.remove(name)
                breakers[name] = kind
                if kind == "clock":
                    clock_steps.add(k)
    for name in NODES:
        p = NodePlan(name, ["ok"])
        p.is_async = mode == "ainvoke" and rng.random() < 0.5
        p.retry_kind = rng.choice(["none"] + ["int"] * 2 + ["cfg"] * 5)
        p.max_attempts = 1 if p.retry_kind == "none" else rng.randint(1, 4)
        p.honour = rng.random() < 0.5
        if name in plan.group:
            p.breaker = "group"
        elif name in breakers:
            p.breaker = breakers[name]
        elif rng.random() < 0.12:
            p.breaker, p.local_threshold = "local", rng.randint(1, 2)
        if rng.random() < 0.3:
            p.timeout = rng.choice(TIMEOUTS)
            if p.breaker is None and rng.random() < 0.25:
                p.deadline = 2.5 * _seconds(p.timeout)
                p.retry_kind, p.max_attempts = "cfg", 4
        if name in plan.group:
            p.outcomes = ["hang"] if p.timeout is not None and rng.random() < 0.5 else ["conn"]
            if p.outcomes == ["hang"]:
                p.max_attempts = min(p.max_attempts, 2)
        else:
            p.outcomes = _draw_outcomes(rng, p)
            if p.breaker == "clock" and rng.random() < 0.4:
                p.outcomes = ["ok"]  # successful probes, so half-open also closes
        r = rng.random()
        p.fallback = (
            "sink" if r < 0.12 else rng.choice(["ok", "ok", "none", "raise"]) if r < 0.35 else None
        )
        p.fallback_async = rng.random() < 0.5
        p.tick = (
            plan.clock_cfg is not None
            and p.breaker is None
            and STEP_OF[name] not in clock_steps
            and rng.random() < 0.7
        )
        plan.nodes[name] = p
    if signal and rng.random() < 0.4:
        candidates = [n for n in NODES if n not in plan.group]
        p = plan.nodes[rng.choice(candidates)]
        if plan.real_waits:  # the abort lands in a 30 s retry wait, which it must end
            p.outcomes, p.deadline = ["abort_wait", "ok"], None
            p.retry_kind, p.max_attempts = "cfg", max(2, p.max_attempts)
        else:
            kinds = [["abort"], ["conn", "abort"]]
            if p.timeout is None:  # a timer racing a timeout would make the outcome vary
                kinds += [["abort_timer"], ["abort_timer"]]
            p.outcomes = rng.choice(kinds)
            p.deadline = None
            if p.outcomes[0] == "conn":
                p.max_attempts = max(2, p.max_attempts)
                p.retry_kind = "cfg"
    return plan


# ---------------------------------------------------------------------------------- model


class BreakerModel:
    """The breaker as the spec describes it (consecutive failures, probes, recovery)."""

    def __init__(self, threshold: int, recovery: float, probes: int, now: Any) -> None:
        self.threshold, self.recovery, self.max_probes, self.now = threshold, recovery, probes, now
        self.state, self.failures, self.opened_at = "closed", 0, 0.0
        self.probes = self.successes = 0
        self.probing = False
        self.transitions: list[tuple[str, str, str]] = []  # old, new, node

    def _go(self, new: str, node: str) -> None:
        self.transitions.append((self.state, new, node))
        self.state = new

    def admit(self, node: str) -> float | None:
        """None when the call may run, else the rejection's retry_after."""
        if self.state == "open":
            left = self.opened_at + self.recovery - self.now()
            if left > 0:
                return left
            self._go("half_open", node)
            self.probes = self.successes = 0
        if self.state == "half_open":
            if self.probes >= self.max_probes:
                return 0.0
            self.probes += 1
            self.probing = True
        return None

    def success(self, node: str) -> None:
        if self.state == "closed":
            self.failures = 0
        elif self.state == "half_open" and self.probing:
            self.successes += 1
            if self.successes >= self.max_probes:
                self._go("closed", node)
                self.failures = 0
        self.probing = False

    def failure(self, node: str) -> None:
        if self.state == "closed":
            self.failures += 1
            if self.failures >= self.threshold:
                self._go("open", node)
                self.opened_at = self.now()
        elif self.state == "half_open" and self.probing:
            self._go("open", node)
            self.opened_at = self.now()
        self.probing = False

    def ignored(self, node: str) -> None:
        if self.state == "half_open" and self.probing:
            self.probes -= 1
        self.probing = False


@dataclass
class Expect:
    """What one node call must do."""

    ran: bool = True
    failed: bool = False
    aborted: bool = False
    codes: set[str] = field(default_factory=set)
    attempts: int | None = None  # None: timing decides (deadline) or order does (group)
    calls: int | None = 0
    retry_after: float | None = None
    exc_types: set[str] = field(default_factory=set)
    recovered: bool = False
    records: int = 0
    visits: list[str] = field(default_factory=list)
    routed: bool = False


def _fail(p: NodePlan, e: Expect, codes: set[str], exc_types: set[str]) -> Expect:
    e.failed, e.codes, e.exc_types = True, codes, exc_types
    e.records = 2 if p.fallback == "raise" else 1
    e.recovered = p.fallback in ("ok", "none")
    e.routed = p.fallback == "sink"
    if p.fallback == "ok":
        e.visits.append(f"{p.name}:fb")
    return e


def simulate(p: NodePlan, breaker: BreakerModel | None, clock: list[float]) -> Expect:
    """One node call under the model."""
    e = Expect()
    for attempt in range(1, p.max_attempts + 1):
        if breaker is not None:
            left = breaker.admit(p.name)
            if left is not None:
                e.attempts, e.retry_after = attempt, left
                return _fail(p, e, {"CIRCUIT_OPEN"}, {"CircuitOpenError"})
        kind = p.outcomes[min(e.calls or 0, len(p.outcomes) - 1)]
        e.calls = (e.calls or 0) + 1
        if p.tick and e.calls == 1:
            clock[0] += TICK
        if kind == "ok":
            if breaker is not None:
                breaker.success(p.name)
            e.attempts = attempt
            e.visits.append(p.name)
            return e
        if kind in ("abort", "abort_timer", "abort_wait"):
            if breaker is not None:  # an abort_wait's ConnectionError counts, the abort not
                (breaker.failure if kind == "abort_wait" else breaker.ignored)(p.name)
            e.aborted, e.attempts = True, attempt
            return e
        retryable = kind in ("conn", "hang") or p.value_retryable
        if breaker is not None:
            (breaker.failure if retryable else breaker.ignored)(p.name)
        e.attempts = attempt
        exc = {"conn": "ConnectionError", "hang": "NodeTimeoutError"}.get(kind, "ValueError")
        if kind == "hang" and p.deadline is not None and attempt >= 2:
            e.attempts = e.calls = None  # the deadline ends it after 2 or 3 attempts
            return _fail(p, e, {"NODE_TIMEOUT"}, {exc})
        if not retryable or attempt == p.max_attempts:
            code = {"hang": "NODE_TIMEOUT"}.get(
                kind, "RETRY_EXHAUSTED" if retryable else "NON_RETRYABLE"
            )
            return _fail(p, e, {code}, {exc})
    raise AssertionError("unreachable")


@dataclass
class Prediction:
    expects: dict[str, Expect]
    abort_step: int | None
    sink_steps: list[int]
    transitions: dict[str, list[tuple[str, str, str]]]  # breaker kind -> model transitions
    group_opens: bool


def predict(plan: RunPlan) -> Prediction:
    clock = [0.0]
    shared: dict[str, BreakerModel] = {}
    if plan.key_threshold:
        shared["key"] = BreakerModel(plan.key_threshold, KEY_RECOVERY, 1, lambda: 0.0)
    if plan.clock_cfg:
        threshold, probes = plan.clock_cfg
        shared["clock"] = BreakerModel(threshold, CLOCK_RECOVERY, probes, lambda: clock[0])
    expects: dict[str, Expect] = {}
    abort_step: int | None = None
    routed: set[int] = set()
    for k, step in enumerate(STEPS):
        for name in step:
            p = plan.nodes[name]
            if p.breaker == "group":
                exhausted = "NODE_TIMEOUT" if p.outcomes == ["hang"] else "RETRY_EXHAUSTED"
                exc = "NodeTimeoutError" if p.outcomes == ["hang"] else "ConnectionError"
                e = _fail(p, Expect(calls=None), {exhausted}, {exc})
                if sum(plan.nodes[n].max_attempts for n in plan.group) >= plan.group_threshold:
                    e.codes.add("CIRCUIT_OPEN")
                    e.exc_types.add("CircuitOpenError")
                expects[name] = e
            else:
                local = (
                    BreakerModel(p.local_threshold, 30.0, 1, lambda: 0.0)
                    if p.breaker == "local"
                    else None
                )
                expects[name] = e = simulate(p, shared.get(p.breaker or "", local), clock)
            if e.aborted:
                abort_step = k
            if e.routed:
                routed.add(k)
        if abort_step is not None:
            break
    for name in NODES:
        expects.setdefault(name, Expect(ran=False))
    last = abort_step if abort_step is not None else len(STEPS)
    group_opens = bool(plan.group) and (
        sum(plan.nodes[n].max_attempts for n in plan.group) >= plan.group_threshold
    )
    return Prediction(
        expects,
        abort_step,
        sorted(s + 1 for s in routed if s + 1 <= last),
        {kind: b.transitions for kind, b in shared.items()},
        group_opens,
    )


# ---------------------------------------------------------------------------------- the run


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
        self.clock = FakeClock()
        self.calls: Counter[str] = Counter()
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
        with self.lock:
            n = self.calls[p.name]
            self.calls[p.name] += 1
        if p.tick and n == 0:
            self.clock.now += TICK
        return p.outcomes[min(n, len(p.outcomes) - 1)]

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
        if kind == "abort_wait":
            self._start_timer()
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

    def on_failure(self, record: NodeError, state: Any) -> None:
        with self.lock:
            self.failures[record.node] += 1

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
    if e.calls is not None and run.calls[name] != e.calls:
        out.append(f"{name}: fn called {run.calls[name]} time(s), expected {e.calls}")
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
    if pred.group_opens and total < plan.group_threshold:
        out.append(f"group: {total} call(s) opened a threshold-{plan.group_threshold} breaker")
    if not pred.group_opens and total != budget:
        out.append(f"group: {total} call(s), expected every attempt ({budget})")
    for name in plan.group:
        recs = [r for r in values.get("errors") or [] if r["node"] == name]
        exhausted = bool(recs) and recs[0]["code"] != "CIRCUIT_OPEN"
        if exhausted and run.calls[name] != plan.nodes[name].max_attempts:
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
            hangs = run.hangs[name].calls
            if timed_out != hangs:
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
        sync_hangs = sum(fn.calls for n, fn in run.hangs.items() if not plan.nodes[n].is_async)
        if abandoned != sync_hangs:
            problems.append(f"{abandoned} thread(s) abandoned for {sync_hangs} sync timeout(s)")
    problems += check_breakers(plan, pred, run, abort_node)
    return problems


# ---------------------------------------------------------------------------------- the test


def run_seed(seed: int, loop: asyncio.AbstractEventLoop) -> list[str]:
    plan = draw_plan(seed)
    pred = predict(plan)
    run = Run(plan)
    before = abandoned_thread_count()
    started = time.monotonic()
    out, exc = run.execute(loop)
    elapsed = time.monotonic() - started
    problems = run.settle(aborted=pred.abort_step is not None)
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


@pytest.fixture
def chaos_loop() -> Any:
    loop = asyncio.new_event_loop()
    reset_circuit_breakers()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    reset_circuit_breakers()


@contextlib.contextmanager
def collect_between_runs() -> Iterator[None]:
    """No automatic garbage collection while a run is timed: collect between runs instead.

    Building 1,000 graphs makes full collections that pause every thread for 10-90 ms
    on this machine, longer than the 15 ms timeouts: fast calls would time out for real.
    With collection off during a run, one young-generation pass after it frees the
    run's cycles (nothing of it was promoted meanwhile).
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.mark.parametrize("block", range(BLOCKS))
def test_chaos_runs(block: int, chaos_loop: asyncio.AbstractEventLoop) -> None:
    """100 seeded chaos runs match the model; nothing abort-honouring is left running."""
    per_block = SEEDS // BLOCKS
    failures = []
    with collect_between_runs():
        for seed in range(block * per_block, (block + 1) * per_block):
            problems = run_seed(seed, chaos_loop)
            gc.collect(0)
            if problems:
                failures.append(describe(draw_plan(seed)) + "\n    " + "\n    ".join(problems))
    leftovers = wait_for_abandoned_threads(5.0)
    if failures:
        pytest.fail(f"{len(failures)} run(s) broke an invariant:\n\n" + "\n\n".join(failures))
    assert leftovers, "abandoned worker threads still running 5 s after the block"


def test_model_is_deterministic() -> None:
    """The same seed draws the same plan and the same prediction."""
    for seed in (0, 1, 999):
        assert describe(draw_plan(seed)) == describe(draw_plan(seed))
        assert predict(draw_plan(seed)) == predict(draw_plan(seed))
