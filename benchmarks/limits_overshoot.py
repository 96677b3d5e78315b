"""How far budgets and token windows overshoot under concurrency (fake clock, nothing sleeps).

Part 1, budget: ``Budget(calls=N)`` with 1, 4 and 32 overlapping callers (threads, then
asyncio tasks), in process and, when Redis answers, on a ``RedisLimitStore``. A caller
that got in stays inside the node until every caller has got in or been refused, so the
calls that ran all overlap. Printed: calls that ran / N.

Part 2, token window: ``RateLimit(tokens_per_minute=60_000)`` shared by 1, 4 and 32
callers whose calls cost 500-1500 tokens, known only when a call ends (0.05-0.5 s
later). Events run in time order on a fake clock against the real in-process store.
Printed: the most tokens started in any 60-second window over the limit, the worst of
``--seeds`` runs of 10 simulated minutes, without reservations (the protocol before:
start on one token, spend after) and with them (reserve the key's mean, settle after).

    python benchmarks/limits_overshoot.py [--calls 5] [--seeds 20] [--part all|budget|window]
        [--url redis://...]
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers

import redis
from tests.limits_fakes import admitted_calls, token_window_overshoot

from langgraph_runner import Budget, InProcessLimitStore, RedisLimitStore

CALLERS = (1, 4, 32)


def budget_rows(calls: int, url: str) -> None:
    stores: list[tuple[str, object]] = [("in process", None)]
    prefix = f"bench:lgr:overshoot:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        client.ping()
        stores.append(("redis", prefix))
    except redis.RedisError:
        print("  (Redis does not answer: in process only)")
    print(f"budget overshoot: calls that ran with Budget(calls={calls}) (more than {calls}: over)")
    print(f"  {'store':<11} {'mode':<8} " + " ".join(f"{c:>3} callers" for c in CALLERS))
    try:
        for name, shared in stores:
            for mode in ("threads", "asyncio"):
                cells = []
                for callers in CALLERS:
                    store = (
                        InProcessLimitStore()
                        if shared is None
                        else RedisLimitStore(url, prefix=str(shared), timeout=5.0)
                    )
                    budget = Budget(name="bench", per="thread", calls=calls, store=store)  # type: ignore[arg-type]
                    ran = admitted_calls(budget, callers, mode, f"t-{uuid.uuid4().hex}")
                    cells.append(f"{ran:10d}")
                print(f"  {name:<11} {mode:<8} " + "  ".join(cells))
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


def window_rows(seeds: int) -> None:
    print(
        "\ntoken window overshoot: worst 60 s window / limit, 60k tokens/min, "
        f"costs 500-1500 known after, worst of {seeds} seeds"
    )
    print(f"  {'callers':<8} {'before':>8} {'after':>8}")
    for callers in CALLERS:
        before = max(token_window_overshoot(callers, reserve=False, seed=s) for s in range(seeds))
        after = max(token_window_overshoot(callers, seed=s) for s in range(seeds))
        print(f"  {callers:<8} {before:7.3f}x {after:7.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--part", choices=("all", "budget", "window"), default="all")
    args = parser.parse_args()
    logging.getLogger("langgraph_runner").setLevel(logging.CRITICAL)  # refusals are expected
    if args.part in ("all", "budget"):
        budget_rows(args.calls, args.url)
    if args.part in ("all", "window"):
        window_rows(args.seeds)


if __name__ == "__main__":
    main()
