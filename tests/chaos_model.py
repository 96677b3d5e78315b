"""The chaos test's plan and model: what each seeded run does, and what the spec predicts.

See tests/integration/test_chaos.py for the invariants checked against these predictions.
"""

from __future__ import annotations

import operator
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from langgraph_runner import (
    GraphState,
    NodeTimeoutError,
)

SEEDS = 1_000
BLOCKS = 10
STEPS: tuple[tuple[str, ...], ...] = (("a",), ("b", "c", "d"), ("e",), ("f",), ("g", "h"), ("i",))
NODES = [n for step in STEPS for n in step]
STEP_OF = {n: k for k, step in enumerate(STEPS) for n in step}
SINK = "sink"  # the 10th node: reached only through fallback="sink"
TIMEOUTS: tuple[float | timedelta, ...] = (0.06, 0.08, timedelta(milliseconds=60))
IGNORING_HANG_S = 0.5  # how long an abandoned, abort-ignoring call keeps its thread (well past
# any timeout, so a timeout acted on late under load still finds it running)
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
                last = p.outcomes[min(p.max_attempts - 1, len(p.outcomes) - 1)]
                exhausted = "NODE_TIMEOUT" if last == "hang" else "RETRY_EXHAUSTED"
                exc = "NodeTimeoutError" if last == "hang" else "ConnectionError"
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
