"""Rate-limit check cost and achieved rates, against baselines timed in the same run.

Part 1, per-call cost (medians of alternating rounds, garbage collector off):

* a bare Redis ``PING`` round trip on the same server (the baseline);
* ``RateLimit.acquire()`` with the in-process store (a lock and the GCRA arithmetic);
* ``RateLimit.acquire()`` with a ``RedisLimitStore`` (one Lua script round trip);
* informational: a sync ``create_node`` node with an in-process limit against the
  same node without one.

The limits are set far above the call rate, so no call waits: this is the cost
of the check itself.

Part 2, achieved rate: 1, 4 and 8 worker processes share one Redis limit of
``--rate`` calls per second (burst 1) for ``--seconds`` each; every start is counted
and the achieved rate (starts / seconds) is printed against the limit. The upper
bound is ``rate + burst / seconds``.

    python benchmarks/limits.py [--rounds 9] [--rate 50] [--seconds 5] [--url redis://...]
        [--check-only]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import time
import uuid
from typing import Any

import redis
from resilience import alternate, per_call_us

from langgraph_runner import InProcessLimitStore, RateLimit, RedisLimitStore, create_node

CALLS = 2000
SPAWN = multiprocessing.get_context("spawn")


def _worker(url: str, prefix: str, rate: float, start: float, end: float, out: Any) -> None:
    limit = RateLimit(
        key="bench", requests_per_second=rate, burst=1,
        store=RedisLimitStore(url, prefix=prefix, timeout=2.0),
    )  # fmt: skip
    while time.time() < start:
        time.sleep(min(0.05, max(0.0, start - time.time())))
    late = time.time() - start  # how late this worker began (a loaded machine)
    starts = 0
    while True:
        limit.acquire()
        if time.time() >= end:
            break
        starts += 1
    out.put((starts, late))


def achieved(url: str, workers: int, rate: float, seconds: float) -> tuple[float, float]:
    """Starts per second that ``workers`` processes sharing one limit of ``rate``/s made, and
    the latest a worker began after the common start (seconds)."""
    prefix = f"bench:lgr:limit:{uuid.uuid4().hex}:"
    queue = SPAWN.Queue()
    start = time.time() + 3.0 + workers  # spawned interpreters import LangGraph first
    procs = [
        SPAWN.Process(target=_worker, args=(url, prefix, rate, start, start + seconds, queue))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 90) for _ in procs]  # a dead worker: queue.Empty
    for p in procs:
        p.join(timeout=10)
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    return sum(r[0] for r in results) / seconds, max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--check-only", action="store_true", help="part 1 only (no processes)")
    args = parser.parse_args()

    prefix = f"bench:lgr:limit:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(args.url)
    local = RateLimit(key="bench", requests_per_second=1e9, burst=1e9, store=InProcessLimitStore())
    shared = RateLimit(
        key="bench", requests_per_second=1e9, burst=1e9,
        store=RedisLimitStore(args.url, prefix=prefix, timeout=2.0),
    )  # fmt: skip
    shared.acquire()  # loads the script

    def work(state: dict[str, Any]) -> dict[str, Any]:
        return {"x": 2}

    plain = create_node(work)
    limited = create_node(work, rate_limit=local)
    state = {"x": 1}

    gc.disable()
    try:
        medians = alternate(
            {
                "redis PING": lambda: per_call_us(client.ping, CALLS // 4),
                "in-process acquire": lambda: per_call_us(local.acquire, CALLS),
                "redis acquire": lambda: per_call_us(shared.acquire, CALLS // 4),
                "node": lambda: per_call_us(lambda: plain(state), CALLS),
                "node + in-process limit": lambda: per_call_us(lambda: limited(state), CALLS),
            },
            args.rounds,
        )
    finally:
        gc.enable()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    ping = medians["redis PING"]
    print(f"check cost (median of {args.rounds} rounds, us per call)")
    for name in ("redis PING", "in-process acquire", "redis acquire"):
        print(f"  {name:<26} {medians[name]:9.2f} us  ({medians[name] / ping:5.2f}x PING)")
    node, with_limit = medians["node"], medians["node + in-process limit"]
    print(
        f"  {'node / + in-process limit':<26} {node:9.2f} / {with_limit:.2f} us"
        f"  (+{with_limit - node:.2f} us)"
    )

    if args.check_only:
        return
    print(f"\nachieved rate, one Redis limit of {args.rate:g}/s (burst 1), {args.seconds:g} s each")
    for workers in (1, 4, 8):
        rate, late = achieved(args.url, workers, args.rate, args.seconds)
        bound = args.rate + 1 / args.seconds
        print(
            f"  {workers} process(es): {rate:7.2f}/s  ({rate / args.rate:6.1%} of the limit; "
            f"bound {bound:.2f}/s)  {'OK' if rate <= bound else 'OVER'}  "
            f"(last worker began {late * 1000:.0f} ms late)"
        )


if __name__ == "__main__":
    main()
