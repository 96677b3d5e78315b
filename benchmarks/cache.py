"""Cost of NodeCache keys and cache hits, against a trivial node function timed in the same run.

A hit replaces running the node, so it pays off when the node costs more than
the hit path (key + lookup). This prints that break-even point per backend, and
the key cost next to a bare ``json.dumps`` + SHA-256 of the same data (the floor
for any canonical-JSON key). Variants are interleaved round by round and the
median per-call time is reported, because these machines are noisy.

    python benchmarks/cache.py [--rounds 15] [--calls 2000] [--no-redis]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.cache.base import BaseCache
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.sqlite import SqliteCache

from langgraph_runner.cache import NodeCache, code_fingerprint

SMALL = {"url": "https://example.com/a", "lang": "en", "attempt": 3}
MESSAGES = [{"role": "user" if i % 2 else "ai", "content": f"message {i} " * 8} for i in range(20)]
MEDIUM = {**SMALL, "messages": MESSAGES, "errors": [], "scores": [0.5] * 20}
RESULT = {"text": "fetched " * 20, "status": 200}


def trivial_node(state: dict[str, Any]) -> dict[str, Any]:
    return {"attempt": state["attempt"] + 1}


FP = code_fingerprint(trivial_node)


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def floor_key(state: dict[str, Any]) -> str:
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def hit_path(cache: NodeCache, node: str, state: dict[str, Any]) -> Callable[[], Any]:
    key = cache.key(node, state, thread_id=None, fingerprint=FP)
    assert cache.store(key, RESULT), "could not prime the cache"

    def run() -> Any:
        found = cache.lookup(cache.key(node, state, thread_id=None, fingerprint=FP))
        assert found.hit
        return found.value

    return run


def backends(use_redis: bool, tmp: Path) -> dict[str, BaseCache[Any]]:
    out: dict[str, BaseCache[Any]] = {
        "InMemoryCache": InMemoryCache(),
        "SqliteCache": SqliteCache(path=str(tmp / "bench.db")),
    }
    if use_redis:
        try:
            import redis
            from langgraph.cache.redis import RedisCache

            client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5)
            client.ping()
            out["RedisCache"] = RedisCache(client, prefix=f"lgr-bench-{uuid.uuid4().hex}:")
        except Exception as exc:  # a benchmark without Redis still reports the rest
            print(f"(RedisCache skipped: {exc!r})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    declared = NodeCache(inputs=["url", "lang"])
    whole = NodeCache()
    with tempfile.TemporaryDirectory() as tmp:
        variants: dict[str, Callable[[], Any]] = {
            "trivial node fn": lambda: trivial_node(SMALL),
            "floor: json+sha256, 2 fields": lambda: floor_key({"url": SMALL["url"], "lang": "en"}),
            "floor: json+sha256, medium state": lambda: floor_key(MEDIUM),
            "key, inputs=[2 fields]": lambda: declared.key(
                "fetch", MEDIUM, thread_id=None, fingerprint=FP
            ),
            "key, inputs=None, medium state": lambda: whole.key(
                "fetch", MEDIUM, thread_id=None, fingerprint=FP
            ),
        }
        caches = backends(not args.no_redis, Path(tmp))
        for name, backend in caches.items():
            cache = NodeCache(inputs=["url", "lang"], backend=backend)
            variants[f"hit (key+lookup), {name}"] = hit_path(cache, "fetch", MEDIUM)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for round_no in range(args.rounds):
            order = list(variants.items())
            if round_no % 2:
                order.reverse()
            for name, fn in order:
                samples[name].append(per_call_us(fn, args.calls))
        for backend in caches.values():
            NodeCache(backend=backend).clear("fetch")

    med = {name: statistics.median(values) for name, values in samples.items()}
    base = med["trivial node fn"]
    print(f"{'variant':<36} {'us/call':>9} {'x trivial fn':>13} {'x floor':>8}")
    for name, us in med.items():
        floor = ""
        if name.startswith("key, inputs=["):
            floor = f"{us / med['floor: json+sha256, 2 fields']:8.1f}"
        elif name.startswith("key, inputs=None"):
            floor = f"{us / med['floor: json+sha256, medium state']:8.1f}"
        print(f"{name:<36} {us:9.2f} {us / base:13.0f} {floor:>8}")
    print(
        "\nA hit pays off once the node costs more than the hit time above; an HTTP or LLM call "
        "(milliseconds) is 100-1000x that."
    )


if __name__ == "__main__":
    main()
