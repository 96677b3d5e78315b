"""Where a failing node's time goes inside a graph: the failure path with pieces replaced.

``error_path.py`` shows that a recorded failure costs a node about 30 us inside a graph
invocation, while the same failing node called again and again outside a graph takes
about a third of that, and each piece of the failure path timed alone well under 2 us.
This script finds where the difference goes. Each variant runs in a process of its own,
with one or more pieces of ``loop.end`` replaced by a stand-in that costs nothing
measurable (a constant written, a constant copied): ``error_path.py``'s record-mode graph
is timed interleaved with its baseline (a bare node returning the same update) and the
other variants of ``error_path.py``, so the caches are as cold as there. The difference
from the unchanged run is what the piece costs inside a graph invocation.

* ``line``: the ``node.failed`` line written as a constant string;
* ``record``: the record a copy of a constant dict;
* ``count``: the failure not counted in the metrics collector;
* ``ids``: the run's ids a counter, no run scope or span lookup;
* ``checks``: the Send-task fields, the state-schema check and the loop guard's key
  skipped;
* ``all``: the five together;
* ``stand-in``: ``end`` replaced whole by a function that writes the constant line and
  returns a copy of the constant record: what LangGraph, the driver and one line on
  stderr cost.

Then the same failing node is called directly, again and again (warm), and with 1 and 16
MB written between calls (caches emptied): the node's time grows with what the calls in
between push out of the caches.

    python benchmarks/failure_pieces.py [--rounds 1500]

Stand-ins change behaviour (the record is a constant): this is a measurement, never a
configuration.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import error_path as ep

from langgraph_runner._engine import call as engine_call
from langgraph_runner._engine import loop
from langgraph_runner._policies import run_scope

VARIANTS = ("none", "line", "record", "count", "ids", "checks", "all", "stand-in")
LINE = (
    "node.failed node=n attempt=1 duration_ms=0.1 code=RETRY_EXHAUSTED category=network "
    f"error_type=ConnectionError message=Node 'n' failed after 1 attempt(s): {ep.MESSAGE}\n"
)


def _record() -> dict[str, Any]:
    return dict(ep.RECORD_UPDATE["errors"][0])


def _write_line(*_args: Any, **_kwargs: Any) -> None:
    sys.stderr.write(LINE)
    sys.stderr.flush()


def replace(pieces: set[str]) -> None:
    """Replace the named pieces of ``loop.end`` (after ``RECORD_UPDATE`` is known)."""
    if "line" in pieces:
        loop.log_failed = _write_line
    if "record" in pieces:
        loop.record_state = lambda *_a, **_k: _record()
    if "count" in pieces:
        engine_call.Call.count_failure = lambda *_a: None
    if "ids" in pieces:
        counter = itertools.count()

        def ids(self: Any) -> Any:
            found = self._ids
            if found is None:
                trace = str(next(counter))  # a new run each time: the loop guard never trips
                found = self._ids = (trace, trace, None, None, None)
            return found

        engine_call.Call.ids = ids
    if "checks" in pieces:
        loop.send_fields = lambda *_a: None
        loop._compat.missing_channels = lambda *_a: False
        loop.streak_key = lambda _config, node, trace: (trace, "", node)
    if "stand-in" in pieces:

        def end(spec: Any, call: Any, exc: BaseException, input_: Any) -> Any:
            call.failed = True
            _write_line()
            return {"errors": [_record()], "routing_flags": {"blocked": True}}

        loop.end = end


def in_graph(variant: str, rounds: int) -> dict[str, float]:
    """Record mode's node time and whole invocation against the bare update, interleaved."""
    kinds = ("record", "bare-update", "raise", "bare", "record-ok", "bare-ok")
    graphs = {kind: ep.build(kind) for kind in kinds}
    ep.RECORD_UPDATE.update(graphs["record"].invoke({"x": 1}))
    ep.RECORD_UPDATE.pop("x", None)
    pieces = {"line", "record", "count", "ids", "checks"} if variant == "all" else {variant}
    replace(pieces)
    whole, node = ep.measure(graphs, rounds)
    return {
        "node_us": node["record"],
        "ratio": whole["record"] / whole["bare-update"],
    }


def direct(megabytes: int, calls: int = 3000) -> float:
    """Median time of the record-mode node called directly, ``megabytes`` written between."""
    graph = ep.build("record")
    runnable = graph.nodes["n"].bound
    inner = runnable.invoke
    seen: list[tuple[Any, Any]] = []

    def capture(input_: Any, config: Any = None, **kwargs: Any) -> Any:
        seen.append((input_, config))
        return inner(input_, config, **kwargs)

    runnable.invoke = capture
    ep.once(graph)
    state, config = seen[0]
    buffer = bytearray(max(megabytes, 1) * 1024 * 1024)
    zeros = bytes(len(buffer[::64]))
    times: list[float] = []
    gc.disable()
    for i in range(calls + 300):
        run_scope._RUNS.clear()  # a new run each call, as in a graph: the guard never trips
        if megabytes:
            buffer[::64] = zeros  # one write per cache line
        start = time.perf_counter()
        inner(state, config)
        if i >= 300:
            times.append(time.perf_counter() - start)
    gc.enable()
    return statistics.median(times) * 1e6


def child(variant: str, rounds: int) -> None:
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole run, as error_path.py
    if variant.startswith("direct-"):
        result: dict[str, float] = {"node_us": direct(int(variant.removeprefix("direct-")))}
    else:
        result = in_graph(variant, rounds)
    print(json.dumps(result), file=sys.__stdout__)


def run(variant: str, rounds: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--rounds", str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    parsed: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1500)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rounds)
        return
    print(f"record mode inside a graph ({args.rounds} interleaved rounds, medians):")
    print(f"  {'replaced':<10} {'node time':>10} {'whole vs bare update':>22}")
    for variant in VARIANTS:
        got = run(variant, args.rounds)
        print(f"  {variant:<10} {got['node_us']:8.1f} us {'x' + format(got['ratio'], '.3f'):>22}")
    print("the same failing node called directly, again and again (median):")
    for megabytes in (0, 1, 16):
        got = run(f"direct-{megabytes}", args.rounds)
        between = "nothing" if not megabytes else f"{megabytes} MB written"
        print(f"  {between:<16} between calls: {got['node_us']:6.1f} us")


if __name__ == "__main__":
    main()
