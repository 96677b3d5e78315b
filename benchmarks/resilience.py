"""Per-call cost of timeouts and circuit breakers, against plain calls timed in the same run.

Cases (goal in parentheses):

* sync timeout: ``run_sync_attempt(f, timeout=...)`` (worker thread, pool reuse,
  abort controller) minus a plain ``f()`` call (<= 200 us).
* async sync-func timeout: ``arun_sync_attempt`` minus ``await`` of a coroutine
  returning ``f()`` (informational; same goal as the sync case).
* async timeout: ``arun_async_attempt(coro, timeout=...)`` minus a plain
  ``await coro()`` (<= 20 us).
* breaker check: ``before_call()`` + ``on_success()`` on a closed breaker minus a
  plain call (<= 1 us).

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

from langgraph_runner.abort import AbortController
from langgraph_runner.circuit import CircuitBreaker
from langgraph_runner.timeouts import arun_async_attempt, arun_sync_attempt, run_sync_attempt

NODE = "bench"


def work() -> int:
    return 42


async def awork() -> int:
    return 42


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
        f"{case:<30} baseline {base:9.3f} us  with {measured:9.3f} us  "
        f"overhead {extra:8.3f} us ({measured / base:7.1f}x)  goal <= {goal_us:g} us  {ok}"
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
    finally:
        gc.enable()
        loop.close()

    report("sync timeout (thread)", sync["plain"], sync["timeout"], 200)
    report("async timeout (coroutine)", asyn["plain"], asyn["timeout"], 20)
    report("async sync-func (thread)", asyn["plain_sync"], asyn["sync_timeout"], 200)
    report("breaker before+on_success", brk["plain"], brk["breaker"], 1)


if __name__ == "__main__":
    main()
