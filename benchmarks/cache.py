"""NodeCache costs and pay-off, against baselines timed in the same run.

1. Hit cost: a cached node served from each backend (InMemoryCache, SqliteCache,
   RedisCache) against executing the trivial node, bare and through
   ``create_node`` without a cache; plus the key alone against a bare
   ``json.dumps`` + SHA-256 of the same data (the floor of any canonical-JSON key),
   and the key of a node that reads config (a graph task's config: graph identity
   and configurable values are keyed). Every hit verifies the entry's HMAC.
2. Partial re-run: a 50-node generated DAG, one root input changed, re-run
   without a cache (every node executes) against re-run with every node cached
   (only the nodes whose declared inputs changed execute; early cutoff stops the
   rest). Node bodies sleep ``--work-ms`` to stand in for I/O (0 = trivial nodes).
   LangGraph runs a superstep's nodes in parallel, so the wall-time speedup is
   bounded by the supersteps that still execute a node; ``--serial-work-ms`` also
   runs with ``max_concurrency=1`` (one node at a time, like a rate-limited API),
   where the time follows the number of nodes executed.

Variants are interleaved round by round (order flipped every round) and medians
reported, because these machines are noisy. Needs Redis on 127.0.0.1:6379 for the
Redis rows (``--no-redis`` skips them).

    python benchmarks/cache.py [--rounds 15] [--calls 2000] [--dag-rounds 7]
                               [--work-ms 0 5] [--serial-work-ms 5] [--no-redis]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.cache.base import BaseCache
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._cache.node_cache import NodeCache, code_fingerprint

SMALL = {"url": "https://example.com/a", "lang": "en", "attempt": 3}
MESSAGES = [{"role": "user" if i % 2 else "ai", "content": f"message {i} " * 8} for i in range(20)]
MEDIUM = {**SMALL, "messages": MESSAGES, "errors": [], "scores": [0.5] * 20}
DAG_NODES = 50
SIGNING_KEY = "benchmark-signing-key-0123456789"
# What a graph task's config holds besides internals: a user id and a run id (not keyed).
TASK_CONFIG: Any = {"configurable": {"user_id": "alice", "thread_id": "t1", "tenant": "acme"}}


def trivial_node(state: dict[str, Any]) -> dict[str, Any]:
    return {"attempt": state["attempt"] + 1}


FP = code_fingerprint(trivial_node)


# --- timing helpers -----------------------------------------------------------


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median of each variant's sample, variants run round-robin, order flipped each round."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_no in range(rounds):
        order = list(variants.items())
        if round_no % 2:
            order.reverse()
        for name, sample in order:
            samples[name].append(sample())
    return {name: statistics.median(values) for name, values in samples.items()}


@contextmanager
def backends(use_redis: bool) -> Iterator[dict[str, Callable[[], BaseCache[Any]]]]:
    """Factories of fresh backends per kind; Redis keys are deleted on exit."""
    cleanups: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        made: dict[str, Callable[[], BaseCache[Any]]] = {
            "InMemoryCache": InMemoryCache,
            "SqliteCache": lambda: SqliteCache(path=str(Path(tmp) / f"{uuid.uuid4().hex}.db")),
        }
        if use_redis:
            try:
                import redis
                from langgraph.cache.redis import RedisCache

                client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5)
                client.ping()
                prefix = f"lgr-bench-{uuid.uuid4().hex}:"

                def drop() -> None:
                    keys = list(client.scan_iter(f"{prefix}*"))
                    if keys:
                        client.delete(*keys)

                cleanups.append(drop)
                made["RedisCache"] = lambda: RedisCache(client, prefix=prefix)
            except Exception as exc:  # a benchmark without Redis still reports the rest
                print(f"(RedisCache skipped: {exc!r})")
        try:
            yield made
        finally:
            for cleanup in cleanups:
                cleanup()


# --- 1. hit cost ----------------------------------------------------------------


def hit_cost(args: argparse.Namespace, made: dict[str, Callable[[], BaseCache[Any]]]) -> None:
    declared = NodeCache(inputs=["url", "lang"], signing_key=SIGNING_KEY)
    whole = NodeCache(signing_key=SIGNING_KEY)
    plain = create_node(trivial_node)

    def timed(fn: Callable[[], Any]) -> Callable[[], float]:
        return lambda: per_call_us(fn, args.calls)

    variants: dict[str, Callable[[], float]] = {
        "trivial node fn, bare call": timed(lambda: trivial_node(MEDIUM)),
        "create_node(fn), no cache": timed(lambda: plain(MEDIUM)),
        "floor: json+sha256, 2 fields": timed(
            lambda: floor_key({"url": SMALL["url"], "lang": "en"})
        ),
        "floor: json+sha256, medium state": timed(lambda: floor_key(MEDIUM)),
        "key only, inputs=[2 fields]": timed(
            lambda: declared.key("fetch", MEDIUM, thread_id=None, fingerprint=FP)
        ),
        "key only, inputs=None, medium": timed(
            lambda: whole.key("fetch", MEDIUM, thread_id=None, fingerprint=FP)
        ),
        "key only, inputs=[2 fields], node reads config": timed(
            lambda: declared.key(
                "fetch", MEDIUM, thread_id=None, fingerprint=FP, config=TASK_CONFIG
            )
        ),
    }
    caches: list[NodeCache] = []
    for name, make in made.items():
        cache = NodeCache(inputs=["url", "lang"], backend=make(), signing_key=SIGNING_KEY)
        caches.append(cache)
        node = create_node(trivial_node, cache=cache)
        node(MEDIUM)  # prime: the miss stores the result
        assert cache.lookup(cache.key("trivial_node", MEDIUM, thread_id=None, fingerprint=FP)).hit
        variants[f"create_node(fn, cache) hit, {name}"] = timed(lambda node=node: node(MEDIUM))
    med = interleaved(variants, args.rounds)
    for cache in caches:
        cache.clear("trivial_node")

    bare, wrapped = med["trivial node fn, bare call"], med["create_node(fn), no cache"]
    print(f"1. Hit cost ({args.rounds} rounds x {args.calls} calls, median us per call)")
    print(f"   {'variant':<48} {'us/call':>8} {'x bare fn':>10} {'x node':>8} {'x floor':>8}")
    for name, us in med.items():
        floor = ""
        if name.startswith("key only, inputs=["):
            floor = f"{us / med['floor: json+sha256, 2 fields']:8.1f}"
        elif name.startswith("key only, inputs=None"):
            floor = f"{us / med['floor: json+sha256, medium state']:8.1f}"
        print(f"   {name:<48} {us:8.2f} {us / bare:10.1f} {us / wrapped:8.2f} {floor:>8}")
    print(
        "   'x node' is against executing the same trivial node through create_node without a "
        "cache;\n   a hit pays off once the node body costs more than the hit (an HTTP or LLM "
        "call: milliseconds).\n"
    )


def floor_key(state: dict[str, Any]) -> str:
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- 2. partial re-run on a 50-node DAG ----------------------------------------


def random_dag(rng: random.Random, n: int) -> list[list[int]]:
    """parents[i]: 0-3 earlier nodes (the first three are roots)."""
    return [
        sorted(rng.sample(range(i), rng.randint(0, min(3, i)) if i > 2 else 0)) for i in range(n)
    ]


def node_value(i: int, inputs: tuple[int, ...]) -> int:
    # Lossy, so some changed inputs give an unchanged output and the re-run is cut off early.
    return (sum(inputs) + i) // 2 % 3


def build_dag(
    parents: list[list[int]], executed: list[int], work_s: float, cache: NodeCache | None
) -> Any:
    roots = [i for i, ps in enumerate(parents) if not ps]
    fields = {f"v{i}": int for i in range(len(parents))} | {f"seed{i}": int for i in roots}
    State = TypedDict("State", fields, total=False)  # type: ignore[misc]

    def make(i: int) -> Any:
        declared = [f"seed{i}"] if not parents[i] else [f"v{p}" for p in parents[i]]

        def fn(state: dict[str, Any]) -> dict[str, Any]:
            executed.append(i)
            if work_s:
                time.sleep(work_s)
            return {f"v{i}": node_value(i, tuple(state[f] for f in declared))}

        fn.__name__ = f"n{i}"
        node_cache = None
        if cache is not None:
            node_cache = NodeCache(
                inputs=declared,
                backend=cache.backend,
                version=cache.version,
                signing_key=SIGNING_KEY,
            )
        return create_node(fn, cache=node_cache)

    g = StateGraph(State)
    children = {p for ps in parents for p in ps}
    for i, ps in enumerate(parents):
        g.add_node(f"n{i}", make(i))
        g.add_edge([f"n{p}" for p in ps] if ps else START, f"n{i}")
        if i not in children:
            g.add_edge(f"n{i}", END)
    return g.compile()


def dag_variants(
    parents: list[list[int]],
    inputs: tuple[dict[str, int], dict[str, int]],
    work_ms: float,
    made: dict[str, Callable[[], BaseCache[Any]]],
    max_concurrency: int | None,
) -> tuple[dict[str, Callable[[], float]], dict[str, int]]:
    """Timed re-runs (ms) with the changed input, and how many nodes each executed."""
    seeds, changed = inputs
    config: Any = {"max_concurrency": max_concurrency} if max_concurrency else None
    executed: list[int] = []
    counts: dict[str, int] = {}
    uncached = build_dag(parents, executed, work_ms / 1000, None)
    uncached.invoke(seeds)  # warm up imports and thread pools

    def full() -> float:
        executed.clear()
        start = time.perf_counter()
        uncached.invoke(changed, config)
        counts["full re-run, no cache"] = len(executed)
        return (time.perf_counter() - start) * 1000

    def partial(name: str, backend: BaseCache[Any]) -> Callable[[], float]:
        def run() -> float:
            # A fresh version is an empty cache: prime it with the old input, untimed.
            cache = NodeCache(backend=backend, version=uuid.uuid4().hex, signing_key=SIGNING_KEY)
            graph = build_dag(parents, executed, work_ms / 1000, cache)
            graph.invoke(seeds)
            executed.clear()
            start = time.perf_counter()
            graph.invoke(changed, config)
            counts[name] = len(executed)
            return (time.perf_counter() - start) * 1000

        return run

    variants = {"full re-run, no cache": full}
    for kind, make in made.items():
        name = f"cached partial re-run, {kind}"
        variants[name] = partial(name, make())
    return variants, counts


def rerun(args: argparse.Namespace, made: dict[str, Callable[[], BaseCache[Any]]]) -> None:
    rng = random.Random(2024)
    parents = random_dag(rng, DAG_NODES)
    roots = [i for i, ps in enumerate(parents) if not ps]
    reach = {r: {r} for r in roots}
    for nodes in reach.values():
        for i, ps in enumerate(parents):
            if nodes & set(ps):
                nodes.add(i)
    seeds = {f"seed{i}": rng.randint(0, 100) for i in roots}
    by_reach = sorted(roots, key=lambda r: len(reach[r]))
    scenarios = {
        "the root reaching the most nodes": by_reach[-1],
        "a root of median reach": by_reach[len(by_reach) // 2],
    }
    print(
        f"2. Partial re-run: {DAG_NODES}-node generated DAG ({len(roots)} roots), one root input "
        f"changed, median of {args.dag_rounds} rounds (ms per invoke; nodes sleep the work time)"
    )
    for label, root in scenarios.items():
        changed = {**seeds, f"seed{root}": seeds[f"seed{root}"] + 2}
        print(f"   change: {label} (n{root}, {len(reach[root])} nodes downstream)")
        modes = [(w, None) for w in args.work_ms] + [(w, 1) for w in args.serial_work_ms]
        for work_ms, concurrency in modes:
            variants, counts = dag_variants(parents, (seeds, changed), work_ms, made, concurrency)
            med = interleaved(variants, args.dag_rounds)
            base = med["full re-run, no cache"]
            how = "one node at a time (max_concurrency=1)" if concurrency else "parallel supersteps"
            print(f"     node work {work_ms:g} ms, {how}")
            for name, ms in med.items():
                print(
                    f"       {name:<38} {ms:8.2f} ms {base / ms:6.1f}x"
                    f"   nodes executed {counts[name]:>2}/{DAG_NODES}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--dag-rounds", type=int, default=7)
    parser.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 5.0])
    parser.add_argument("--serial-work-ms", type=float, nargs="*", default=[5.0])
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    with backends(not args.no_redis) as made:
        hit_cost(args, made)
        rerun(args, made)


if __name__ == "__main__":
    main()
