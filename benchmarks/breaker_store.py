"""Per-call cost of a breaker shared through Redis, against baselines timed in the same run.

Baselines: a local ``CircuitBreaker`` check (``before_call()`` + ``on_success()``
on a closed breaker), and a bare Redis ``PING`` round trip on the same server.

Measured (goal in parentheses):

* shared check, cache hot: ``before_call()`` + ``on_success()`` on a closed
  ``SharedCircuitBreaker`` whose closed state was read from Redis within
  ``cache_ttl`` (<= 5 us per call);
* shared check, uncached: ``before_call()`` with ``cache_ttl=0``, one Lua script
  round trip (<= 300 us per call);
* informational: the uncached ``before_call()`` + ``on_success()`` (two round
  trips), recording a failure (one round trip), and a sync ``create_node`` node
  with the shared breaker against the same node with a local breaker.

Machines are noisy, so variants alternate round by round and medians are
reported; the garbage collector is off while timing (as ``timeit`` does). Needs
a Redis server (``--url``, default the local one); its keys are deleted after.

    python benchmarks/breaker_store.py [--rounds 9] [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import gc
import uuid
from collections.abc import Callable
from typing import Any

import redis
from resilience import alternate, per_call_us

from langgraph_runner import CircuitBreakerConfig, create_node
from langgraph_runner._policies.circuit import CircuitBreaker
from langgraph_runner._policies.circuit_redis import RedisBreakerStore

STATE: dict[str, Any] = {"x": 1}
CONFIG = CircuitBreakerConfig(failure_threshold=1_000_000_000, recovery_timeout=60)


def node_work(state: dict[str, Any]) -> dict[str, Any]:
    return {"x": 2}


def report(case: str, measured: float, base_name: str, base: float, goal_us: float | None) -> None:
    verdict = "" if goal_us is None else f"  goal <= {goal_us:g} us  "
    if goal_us is not None:
        verdict += "OK" if measured <= goal_us else "MISSED"
    print(
        f"{case:<36} {measured:9.3f} us  ({measured / base:7.2f}x {base_name} {base:.3f} us)"
        f"{verdict}"
    )


def check(breaker: CircuitBreaker) -> Callable[[], None]:
    def call() -> None:
        breaker.before_call("bench")
        breaker.on_success()

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"bench:lgr:breaker:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(args.url)
    client.ping()

    local = CircuitBreaker("bench", CONFIG)
    hot = RedisBreakerStore(args.url, prefix=prefix, cache_ttl=60).breaker("hot", CONFIG)
    cold = RedisBreakerStore(args.url, prefix=prefix, cache_ttl=0).breaker("cold", CONFIG)
    failing = RedisBreakerStore(args.url, prefix=prefix, cache_ttl=0).breaker("fail", CONFIG)
    hot.before_call()  # read the closed state once: the cache is hot from here on
    assert hot.settled
    local_node = create_node(node_work, circuit_breaker=CircuitBreaker("node", CONFIG))
    shared_node = create_node(node_work, circuit_breaker=hot)
    assert local_node(STATE) == shared_node(STATE) == {"x": 2}

    gc.disable()
    try:
        fast = alternate(
            {
                "local": lambda: per_call_us(check(local), 100_000),
                "hot": lambda: per_call_us(check(hot), 100_000),
                "local_node": lambda: per_call_us(lambda: local_node(STATE), 20_000),
                "shared_node": lambda: per_call_us(lambda: shared_node(STATE), 20_000),
            },
            args.rounds,
        )
        slow = alternate(
            {
                "ping": lambda: per_call_us(client.ping, 1_000),
                "cold": lambda: per_call_us(cold.before_call, 1_000),
                "cold_both": lambda: per_call_us(check(cold), 500),
                "failure": lambda: per_call_us(failing.on_failure, 1_000),
            },
            args.rounds,
        )
    finally:
        gc.enable()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()

    print("baselines: local breaker check", f"{fast['local']:.3f} us,", end=" ")
    print("Redis PING round trip", f"{slow['ping']:.1f} us")
    report("shared check, cache hot", fast["hot"], "local", fast["local"], 5)
    report("shared check, uncached", slow["cold"], "PING", slow["ping"], 300)
    report("uncached check + on_success", slow["cold_both"], "PING", slow["ping"], None)
    report("recording a failure", slow["failure"], "PING", slow["ping"], None)
    report("node, shared breaker (cache hot)", fast["shared_node"], "local-breaker node",
           fast["local_node"], None)  # fmt: skip


if __name__ == "__main__":
    main()
