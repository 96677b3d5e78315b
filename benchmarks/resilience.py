"""Per-call cost of timeouts and circuit breakers, against plain calls timed in the same run.

Primitives (goal in parentheses):

* sync timeout: ``run_sync_attempt(f, timeout=...)`` (worker thread, pool reuse,
  abort controller) minus a plain ``f()`` call (<= 200 us).
* async sync-func timeout: ``arun_sync_attempt`` minus ``await`` of a coroutine
  returning ``f()`` (informational; same goal as the sync case).
* async timeout: ``arun_async_attempt(coro, timeout=...)`` minus a plain
  ``await coro()`` (<= 20 us).
* breaker check: ``before_call()`` + ``on_success()`` on a closed breaker minus a
  plain call (<= 1 us).

Through ``create_node``, each against the same ``create_node`` without the option
(the baseline), called directly as ``node(state)`` / ``await node(state)``:

* sync node, ``timeout=30`` (<= 200 us extra);
* async node, ``timeout=30`` (<= 20 us extra);
* sync node, ``circuit_breaker=CircuitBreakerConfig()`` (<= 1 us extra);
* informational: an async node with a breaker (same goal), and a sync node under
  ``await node.ainvoke(state)`` with and without ``timeout=`` (both run in a
  worker thread there, so the timeout adds only its timer).

Machines are noisy, so variants alternate round by round and medians are
reported; the garbage collector is off while timing (as ``timeit`` does).

    python benchmarks/resilience.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph_runner import CircuitBreakerConfig, create_node
from langgraph_runner._policies.abort import AbortController
from langgraph_runner._policies.circuit import CircuitBreaker
from langgraph_runner._policies.timeouts import (
    arun_async_attempt,
    arun_sync_attempt,
    run_sync_attempt,
)

NODE = "bench"


def work() -> int:
    return 42


async def awork() -> int:
    return 42


STATE: dict[str, Any] = {"x": 1}


def node_work(state: dict[str, Any]) -> dict[str, Any]:
    return {"x": 2}


async def anode_work(state: dict[str, Any]) -> dict[str, Any]:
    return {"x": 2}


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def aper_call_us(
    loop: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[Any]], calls: int
) -> float:
    async def many() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            await fn()
        return (time.perf_counter() - start) / calls * 1e6

    return loop.run_until_complete(many())


def alternate(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Run each variant once per round, in alternating order; median per variant."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(variants[name]())
    return {name: statistics.median(values) for name, values in samples.items()}


def report(case: str, base: float, measured: float, goal_us: float) -> None:
    extra = measured - base
    ok = "OK" if extra <= goal_us else "MISSED"
    print(
        f"{case:<32} baseline {base:9.3f} us  with {measured:9.3f} us  "
        f"overhead {extra:8.3f} us (ratio {measured / base:6.2f}x)  goal <= {goal_us:g} us  {ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rounds = args.rounds

    def sync_timeout() -> int:
        with AbortController() as controller:
            return run_sync_attempt(work, node=NODE, attempt=1, timeout=30.0, controller=controller)

    breaker = CircuitBreaker("bench")

    def plain_call() -> int:
        return work()

    def breaker_call() -> int:
        breaker.before_call(NODE)
        result = work()
        breaker.on_success()
        return result

    loop = asyncio.new_event_loop()

    async def async_timeout() -> int:
        with AbortController() as controller:
            return await arun_async_attempt(
                awork, node=NODE, attempt=1, timeout=30.0, controller=controller
            )

    async def async_sync_timeout() -> int:
        with AbortController() as controller:
            return await arun_sync_attempt(
                work, node=NODE, attempt=1, timeout=30.0, controller=controller
            )

    async def async_plain_sync() -> int:
        return work()

    gc.disable()
    try:
        sync = alternate(
            {
                "plain": lambda: per_call_us(work, 2_000),
                "timeout": lambda: per_call_us(sync_timeout, 2_000),
            },
            rounds,
        )
        asyn = alternate(
            {
                "plain": lambda: aper_call_us(loop, awork, 20_000),
                "timeout": lambda: aper_call_us(loop, async_timeout, 20_000),
                "plain_sync": lambda: aper_call_us(loop, async_plain_sync, 2_000),
                "sync_timeout": lambda: aper_call_us(loop, async_sync_timeout, 2_000),
            },
            rounds,
        )
        brk = alternate(
            {
                "plain": lambda: per_call_us(plain_call, 200_000),
                "breaker": lambda: per_call_us(breaker_call, 200_000),
            },
            rounds,
        )
        nodes = measure_nodes(loop, rounds)
    finally:
        gc.enable()
        loop.close()

    print("primitives (timeouts.py, circuit.py), against a plain call:")
    report("sync timeout (thread)", sync["plain"], sync["timeout"], 200)
    report("async timeout (coroutine)", asyn["plain"], asyn["timeout"], 20)
    report("async sync-func (thread)", asyn["plain_sync"], asyn["sync_timeout"], 200)
    report("breaker before+on_success", brk["plain"], brk["breaker"], 1)
    print("create_node, against the same create_node without the option:")
    report("sync node timeout=", nodes["sync"], nodes["sync_timeout"], 200)
    report("async node timeout=", nodes["async"], nodes["async_timeout"], 20)
    report("sync node circuit_breaker=", nodes["sync_b"], nodes["sync_breaker"], 1)
    report("async node circuit_breaker=", nodes["async_b"], nodes["async_breaker"], 1)
    report("sync node ainvoke timeout=", nodes["ainvoke"], nodes["ainvoke_timeout"], 200)
    print("for scale: a bare fn call takes", f"{nodes['bare']:.3f} us")


def measure_nodes(loop: asyncio.AbstractEventLoop, rounds: int) -> dict[str, float]:
    """Per-call medians of create_node variants; see the module docstring."""
    breaker = CircuitBreakerConfig()
    sync_plain = create_node(node_work)
    sync_timeout = create_node(node_work, timeout=30.0)
    sync_breaker = create_node(node_work, circuit_breaker=breaker)
    async_plain = create_node(anode_work)
    async_timeout = create_node(anode_work, timeout=30.0)
    async_breaker = create_node(anode_work, circuit_breaker=breaker)
    for node in (sync_plain, sync_timeout, sync_breaker):
        assert node(STATE) == {"x": 2}
    for anode in (async_plain, async_timeout, async_breaker):
        assert loop.run_until_complete(anode(STATE)) == {"x": 2}

    def sync_call(node: Callable[[Any], Any]) -> Callable[[], Any]:
        return lambda: node(STATE)

    def async_call(node: Callable[[Any], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        return lambda: node(STATE)

    def ainvoke_call(node: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: node.ainvoke(STATE)

    out: dict[str, float] = {}
    out |= alternate(
        {
            "sync": lambda: per_call_us(sync_call(sync_plain), 2_000),
            "sync_timeout": lambda: per_call_us(sync_call(sync_timeout), 2_000),
        },
        rounds,
    )
    out |= alternate(
        {
            "async": lambda: aper_call_us(loop, async_call(async_plain), 20_000),
            "async_timeout": lambda: aper_call_us(loop, async_call(async_timeout), 20_000),
        },
        rounds,
    )
    out |= alternate(
        {
            "sync_b": lambda: per_call_us(sync_call(sync_plain), 100_000),
            "sync_breaker": lambda: per_call_us(sync_call(sync_breaker), 100_000),
            "bare": lambda: per_call_us(lambda: node_work(STATE), 100_000),
        },
        rounds,
    )
    out |= alternate(
        {
            "async_b": lambda: aper_call_us(loop, async_call(async_plain), 50_000),
            "async_breaker": lambda: aper_call_us(loop, async_call(async_breaker), 50_000),
        },
        rounds,
    )
    out |= alternate(
        {
            "ainvoke": lambda: aper_call_us(loop, ainvoke_call(sync_plain), 2_000),
            "ainvoke_timeout": lambda: aper_call_us(loop, ainvoke_call(sync_timeout), 2_000),
        },
        rounds,
    )
    return out


if __name__ == "__main__":
    main()
