"""Cost of a terminal failure: create_node against LangGraph's own cost of the same outcome.

One compiled one-node graph per variant, no checkpointer, no retries
(``retry=None``): what is measured is the failure path itself, with the default
log line. Unconfigured logging (``--logs default``) is what a new app has: every
failure writes one ``node.failed`` line through Python's last-resort handler
(the script points ``sys.stderr`` at the null device so the output stays readable;
the line is still built, formatted and written). ``--logs filtered`` sets the
package logger above ERROR, as an app that does not want node events would.

Each wrapped variant is compared with what LangGraph itself does for the same
outcome, in the same run, interleaved round by round (each round in a new order, see
below) because these machines are noisy; medians are compared:

* ``on_error="record"`` against a bare node that returns the same update (the
  error record and the blocked flag): LangGraph's own cost of writing it;
* ``on_error="raise"`` against a bare node that raises the same exception;
* ``on_error="record"`` also, in rounds of its own, against LangGraph's native way to
  turn a failure into state: ``add_node(..., error_handler=)`` whose handler returns the
  same update (the handler runs as a task of its own after the node fails);
* a succeeding wrapped node against the bare succeeding node, twice: with no
  config (the default: no metrics collector), and with a ``NodeMetricsCollector`` in
  the config, as every failing variant runs (the wrapped node then records each
  success, work the bare node does not do).

The cycle collector is paused while the rounds are timed and run after each round,
untimed: a raising graph leaves its exception's frames in reference cycles (LangGraph's
own raise as much as ours), and with the collector on, the pass they trigger lands in
whichever variant runs next, the same one every round (``on_error="record"``,
after the bare raise): a cost of the order of the variants, not of any of them. What
each variant leaves for the collector is printed instead (objects per invocation).

Each round runs the variants in a new random order (seeded: the same orders every
run), so each follows every other about equally often. Which variant ran just before
changes LangGraph's own part of an invocation (its time outside the node), collector
or not: the code and data the one before used push LangGraph's own out of the CPU
caches. Measured by predecessor, it is 5 to 20 us longer after a variant whose
exception went up through LangGraph or that wrote a log line (most after
``on_error="raise"``), than after a quiet success. With the order only flipped each
round (``--order flipped``, as earlier versions did), ``on_error="record"`` always ran
right after a raising variant (the bare raise or ``on_error="raise"``) and its
baseline never did: record mode's whole invocation carried 15-20 us of the order's
cost, and the bare success, right after ``on_error="raise"`` every other round, made
a success look cheaper than it is.

The log line alone is compared with a plain structlog line (a stdlib
``BoundLogger`` with ``KeyValueRenderer``, same fields, same handler). A
breakdown times the pieces the failure path runs, each alone.

    python benchmarks/error_path.py [--rounds 2000] [--logs default|filtered] [--clock wall|cpu]
                                    [--order shuffled|flipped]
    python benchmarks/error_path.py --instructions [--rounds 200] [--logs ...]

``--clock cpu`` times the invocations in the process's CPU time instead of wall
time: on a machine other jobs share, time spent waiting for a core is left out.
``--instructions`` counts instructions instead of timing anything (valgrind's
callgrind, one process per variant, ``PYTHONHASHSEED=0``): the same count on a
busy machine as on a quiet one, so small changes show. With
``PYTHONPATH=<an earlier checkout>/src`` the script measures that version (its
line is then ``emit``'s, every field sanitized).

Goals (issue 32): record and raise mode each within +60 us of LangGraph's own
cost, whole invocation; a success about +3 us per node.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import traceback
from collections.abc import Callable
from typing import Any, cast

import structlog
from langgraph.graph import END, START, StateGraph

from langgraph_runner import GraphState, RetryConfig, create_node
from langgraph_runner._engine import finish, records
from langgraph_runner._engine.records import (
    code_and_category,
    record_state,
    redact_exception,
)
from langgraph_runner._records.classify import classify_failure
from langgraph_runner._records.logs import get_event_logger
from langgraph_runner._records.sanitize import _sanitize, sanitize_message, sanitize_stack
from langgraph_runner.metrics import METRICS_COLLECTOR_KEY, NodeMetricsCollector

MESSAGE = "upstream returned 503 Service Unavailable for GET https://api.example.com/v1/items"


class S(GraphState, total=False):
    x: int


def failing(state: S) -> S:
    raise ConnectionError(MESSAGE)


def succeeding(state: S) -> S:
    return {"x": 2}


RECORD_UPDATE: dict[str, Any] = {}


def returns_a_record(state: S) -> Any:
    """A bare node returning what a record-mode failure returns: LangGraph's share of it."""
    return RECORD_UPDATE


PLAIN_LINE = structlog.stdlib.BoundLogger(
    logging.getLogger("plain_structlog_line"),
    processors=[structlog.processors.KeyValueRenderer()],
    context={},
)
"""A plain structlog line: stdlib BoundLogger, KeyValueRenderer, the same handler as ours."""


def returns_a_record_and_logs(state: S) -> Any:
    """``returns_a_record`` that also writes a plain structlog line with the same fields."""
    PLAIN_LINE.error("node.failed", **FIELDS)
    return RECORD_UPDATE


def handles_natively(state: S) -> Any:
    """LangGraph's own ``error_handler`` for ``failing``: what a record-mode failure returns."""
    return RECORD_UPDATE


def fails_and_logs(state: S) -> S:
    """``failing`` that also writes a plain structlog line with the same fields."""
    PLAIN_LINE.error("node.failed", **FIELDS)
    raise ConnectionError(MESSAGE)


def build(kind: str) -> Any:
    plain = kind.endswith("-plain")
    kind = kind.removesuffix("-plain")
    g = StateGraph(S)
    fn = succeeding if kind.endswith("-ok") else failing
    if kind == "bare-update":
        g.add_node("n", returns_a_record)
    elif kind == "bare-update-line":
        g.add_node("n", returns_a_record_and_logs)
    elif kind == "bare-line":
        g.add_node("n", fails_and_logs)
    elif kind == "bare-handler":
        g.add_node("n", failing, error_handler=handles_natively)
    elif kind.startswith("bare"):
        g.add_node("n", fn)
    else:
        g.add_node("n", create_node(fn, retry=None, on_error=cast(Any, kind.removesuffix("-ok"))))
    g.add_edge(START, "n")
    g.add_edge("n", END)
    graph = g.compile()
    CONFIGS[id(graph)] = {} if plain else CONFIG
    return graph


CONFIG: dict[str, Any] = {"configurable": {METRICS_COLLECTOR_KEY: NodeMetricsCollector()}}
"""The config of every variant but the ``-plain`` ones: a metrics collector in it."""

CONFIGS: dict[int, dict[str, Any]] = {}
"""Each graph's config: ``-plain`` variants run with none (no collector: the default)."""


def timed(graph: Any, sink: list[float]) -> Any:
    """Time every call LangGraph makes to the node's ``invoke`` into ``sink``."""
    runnable = graph.nodes["n"].bound
    inner = runnable.invoke

    def invoke(input: Any, config: Any = None, **kwargs: Any) -> Any:
        start = CLOCK[0]()
        try:
            return inner(input, config, **kwargs)
        finally:
            sink.append(CLOCK[0]() - start)

    runnable.invoke = invoke
    return graph


ORDER = ["shuffled"]
"""The order of the variants in a round: a new random one (seeded), or ``flipped`` each round."""

CLOCK: list[Callable[[], float]] = [time.perf_counter]
"""The invocations are timed with wall time, or with ``--clock cpu`` the process's CPU time."""


def once(graph: Any) -> float:
    start = CLOCK[0]()
    with contextlib.suppress(ConnectionError):
        graph.invoke({"x": 1}, CONFIGS[id(graph)])
    return CLOCK[0]() - start


FIELDS: dict[str, Any] = {
    "node": "n",
    "attempt": 1,
    "duration_ms": 0.123,
    "code": "RETRY_EXHAUSTED",
    "category": "network",
    "error_type": "ConnectionError",
    "message": f"Node 'n' failed after 1 attempt(s): ConnectionError: {MESSAGE}",
    "thread_id": None,
    "run_id": None,
    "trace_id": "0123456789abcdef0123456789abcdef",
}


def log_lines() -> tuple[float, float, float]:
    """Median us per line, same handler: our node.failed line as the failure path
    writes it, the same line through ``emit`` (every field sanitized), a plain
    structlog line."""
    ours = get_event_logger()
    plain = structlog.wrap_logger(
        logging.getLogger("plain_structlog_line"),
        processors=[structlog.processors.KeyValueRenderer()],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # The line's parts are in records (earlier versions: finish).
    line = records if hasattr(records, "_line_parts") else finish
    clean = getattr(line, "_FAILED_CLEAN_OURS", None)  # None: an earlier version
    quoted = getattr(line, "_FAILED_QUOTED", ())
    parts = getattr(line, "_line_parts", None)  # None: a version without emit_rendered

    def as_the_path_writes_it() -> None:
        """What ``records.log_failed`` does for FIELDS (the site's text kept, the ids added)."""
        assert parts is not None
        f = FIELDS
        found = parts(f["node"], 1, f["code"], f["category"], f["error_type"], f["message"])
        assert found is not None
        tail = f"{found[0]}{f['duration_ms']}{found[1]} trace_id={f['trace_id']}"
        ours.emit_rendered(logging.ERROR, "node.failed", dict(FIELDS), tail)

    def emitted_checked() -> None:  # the version before emit_rendered
        ours.emit_checked(logging.ERROR, "node.failed", dict(FIELDS), clean or frozenset(), quoted)

    def every_field() -> None:  # an earlier version still: every field sanitized
        ours.emit(logging.ERROR, "node.failed", **FIELDS)

    written = as_the_path_writes_it if parts is not None else emitted_checked
    if clean is None:
        written = every_field
    lines: list[list[float]] = [[], [], []]
    for i in range(14):  # interleaved
        trio: list[tuple[list[float], Callable[[], Any]]] = [
            (lines[0], written),
            (lines[1], every_field),
            (lines[2], lambda: plain.error("node.failed", **FIELDS)),
        ]
        for sink, fn in trio if i % 2 else reversed(trio):
            sink.append(timeit.timeit(fn, number=2000) / 2000 * 1e6)
    checked, emitted, theirs = (statistics.median(t) for t in lines)
    return checked, emitted, theirs


def caught() -> BaseException:
    try:
        failing({})
    except ConnectionError as exc:
        return exc
    raise AssertionError("unreachable")


def micro(fn: Callable[[], Any], number: int = 2000) -> float:
    """Median of 7 repeats, per call, in microseconds."""
    return statistics.median(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def breakdown() -> dict[str, float]:
    exc = caught()
    code, category = code_and_category(exc, None)
    return {
        "sanitize_message (text seen before: cached)": micro(
            lambda: sanitize_message(exc, max_length=400)
        ),
        "sanitize_message (first sight of the text)": micro(lambda: _sanitize(MESSAGE, 400)),
        "sanitize_stack": micro(lambda: sanitize_stack(exc)),
        "code and category (kept per class)": micro(lambda: code_and_category(exc, None)),
        "code and category (read from the exception)": micro(
            lambda: (
                classify_failure(exc),
                code_and_category(exc, RetryConfig(retry_on=(OSError,)))[0],
            )
        ),
        "record_state (site seen before: kept)": micro(
            lambda: record_state(exc, code, category, "n", 1, 1.0, "t", "g", time.time())
        ),
        "record_message (raise mode's log line)": micro(
            (lambda: records.record_message(exc, code, "n", 1))
            if hasattr(records, "record_message")
            else lambda: record_state(exc, code, category, "n", 1, 1.0, "t", "g", 0.0)["message"]
        ),
        "redact_exception (raise mode)": micro(lambda: redact_exception(caught())),
        "  of which: raising a fresh exception": micro(caught),
        "traceback.format_exception (not on the path)": micro(
            lambda: traceback.format_exception(exc), number=200
        ),
    }


def marked(kind: str, rounds: int) -> None:
    """Run one variant ``rounds`` times between two ``os.getppid()`` calls.

    Under ``valgrind --tool=callgrind --dump-before=getppid`` the second dump holds
    the instructions of exactly those rounds.
    """
    graph = build(kind)
    if kind.startswith("bare-update"):
        RECORD_UPDATE.update(build("record").invoke({"x": 1}))
        RECORD_UPDATE.pop("x", None)
    for _ in range(30):
        once(graph)
    gc.collect()
    gc.disable()  # as the timed rounds: a collection's place would be noise in the count
    os.getppid()
    for _ in range(rounds):
        once(graph)
    os.getppid()
    gc.enable()


def instructions(kinds: tuple[str, ...], args: argparse.Namespace) -> dict[str, float]:
    """Instructions per invocation of each variant, counted by callgrind."""
    counts: dict[str, float] = {}
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--dump-before=getppid",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    __file__,
                    f"--logs={args.logs}",
                    f"--rounds={args.rounds}",
                    f"--marked={kind}",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            with open(f"{out}.2") as dump:
                total = next(
                    int(line.split()[1])
                    for line in dump
                    if line.startswith(("summary:", "totals:"))
                )
        counts[kind] = total / args.rounds
    return counts


def report_instructions(args: argparse.Namespace, kinds: tuple[str, ...]) -> None:
    counts = instructions(kinds, args)
    out = sys.__stdout__
    assert out is not None
    print(
        f"logs: {args.logs}; instructions per invocation (callgrind, {args.rounds} rounds):",
        file=out,
    )
    rows = [
        ("on_error='record'", "record", "bare-update"),
        ("on_error='raise'", "raise", "bare"),
        ("a success", "record-ok-plain", "bare-ok-plain"),
        ("a success, metrics collected", "record-ok", "bare-ok"),
    ]
    if args.logs == "default":
        rows += [
            ("record, vs + a plain structlog line", "record", "bare-update-line"),
            ("raise, vs + a plain structlog line", "raise", "bare-line"),
        ]
    for label, kind, base in rows:
        delta = counts[kind] - counts[base]
        print(
            f"  {label:<37} {counts[kind]:11,.0f} vs {counts[base]:11,.0f} ({base}): "
            f"{delta:+9,.0f}, x{counts[kind] / counts[base]:.3f}",
            file=out,
        )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=None, help="2000; 200 with --instructions")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions with valgrind's callgrind instead of timing",
    )
    parser.add_argument("--marked", help=argparse.SUPPRESS)  # one variant, for callgrind
    parser.add_argument("--logs", choices=("default", "filtered"), default="default")
    parser.add_argument(
        "--order",
        choices=("shuffled", "flipped"),
        default="shuffled",
        help="each round in a new random order (seeded), or the first order flipped each round",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: time the invocations in this process's CPU time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 200 if args.instructions else 2000
    return args


def main() -> None:
    args = arguments()
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    ORDER[0] = args.order
    if args.logs == "filtered":
        logging.getLogger("langgraph_runner").setLevel(logging.CRITICAL)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    kinds: tuple[str, ...] = (
        "bare",
        "record",
        "raise",
        "bare-ok",
        "record-ok",
        "bare-ok-plain",
        "record-ok-plain",
        "bare-update",
    )
    if args.logs == "default":
        kinds += ("bare-update-line", "bare-line")
    if args.marked:
        marked(args.marked, args.rounds)
        return
    if args.instructions:
        report_instructions(args, kinds)
        return
    graphs = {kind: build(kind) for kind in kinds}
    RECORD_UPDATE.update(graphs["record"].invoke({"x": 1}))  # errors + routing_flags
    RECORD_UPDATE.pop("x", None)
    whole, node = measure(graphs, args.rounds)
    report(args, whole, node)
    native, _ = measure({kind: build(kind) for kind in ("record", "bare-handler")}, 300)
    print(
        "in rounds of their own (300), against LangGraph's native error_handler returning "
        f"the same update: on_error='record' {native['record']:.1f} us vs "
        f"{native['bare-handler']:.1f} us, x{native['record'] / native['bare-handler']:.3f}",
        file=sys.__stdout__,
    )
    print("left for the cycle collector, objects per invocation:", file=sys.__stdout__)
    for kind, graph in graphs.items():
        print(f"  {kind:<19} {garbage(graph):6.1f}", file=sys.__stdout__)


def measure(graphs: dict[str, Any], rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median whole invocation and node time of each graph, in us, interleaved."""
    node_times: dict[str, list[float]] = {kind: [] for kind in graphs}
    for kind, graph in graphs.items():
        timed(graph, node_times[kind])
    times: dict[str, list[float]] = {kind: [] for kind in graphs}
    for _ in range(50):  # warm-up: imports, caches, compiled regexes
        for graph in graphs.values():
            once(graph)
    for sink in node_times.values():
        sink.clear()
    order = list(graphs)
    shuffle = random.Random(32).shuffle
    gc.collect()
    gc.disable()  # collected after each round, untimed (see the module docstring)
    try:
        for i in range(rounds):
            if ORDER[0] == "shuffled":
                shuffle(order)
            for kind in order if ORDER[0] == "shuffled" or i % 2 else reversed(order):
                times[kind].append(once(graphs[kind]))
            gc.collect(0)
    finally:
        gc.enable()
    assert all(len(t) == rounds for t in node_times.values()), "one node call per run"
    whole = {kind: statistics.median(t) * 1e6 for kind, t in times.items()}
    node = {kind: statistics.median(t) * 1e6 for kind, t in node_times.items()}
    return whole, node


def garbage(graph: Any, rounds: int = 20) -> float:
    """Objects in reference cycles an invocation leaves behind (what the collector frees)."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            once(graph)
        return gc.collect() / rounds
    finally:
        gc.enable()


def report(args: argparse.Namespace, whole: dict[str, float], node: dict[str, float]) -> None:
    out = sys.__stdout__
    assert out is not None
    print(
        f"logs: {args.logs}; clock: {args.clock}; {args.rounds} rounds, interleaved "
        f"({args.order}), medians",
        file=out,
    )
    print("whole invocation of a one-node graph, against LangGraph's own cost:", file=out)
    rows = (
        ("on_error='record'", "record", "bare-update", "a bare node returning the same update"),
        ("on_error='raise'", "raise", "bare", "a bare node raising the same error"),
        ("a success", "record-ok-plain", "bare-ok-plain", "the bare succeeding node"),
        ("  metrics collected", "record-ok", "bare-ok", "the same, collector ignored"),
    )
    for label, kind, base, what in rows:
        delta = whole[kind] - whole[base]
        print(
            f"  {label:<19} {whole[kind]:8.1f} us vs {whole[base]:8.1f} us ({what}): "
            f"{delta:+7.1f} us, x{whole[kind] / whole[base]:.3f}",
            file=out,
        )
    print("the node's own time (LangGraph's call of its invoke), same rounds:", file=out)
    for label, kind, base, _what in rows:
        delta = node[kind] - node[base]
        print(
            f"  {label:<19} {node[kind]:8.1f} us vs {node[base]:8.1f} us: {delta:+7.1f} us",
            file=out,
        )
    if args.logs == "default":
        print(
            "against LangGraph's own cost plus a plain structlog line (same fields, same "
            "handler) written by the bare node:",
            file=out,
        )
        for label, kind, base in (
            ("on_error='record'", "record", "bare-update-line"),
            ("on_error='raise'", "raise", "bare-line"),
        ):
            print(
                f"  {label:<19} whole invocation {whole[kind] - whole[base]:+7.1f} us, "
                f"node's own time {node[kind] - node[base]:+7.1f} us",
                file=out,
            )
    checked, emitted, theirs = log_lines()
    print(
        f"the node.failed log line alone: {checked:.2f} us as the failure path writes it "
        f"(x{checked / theirs:.2f}), {emitted:.2f} us with every field sanitized "
        f"(x{emitted / theirs:.2f}); a plain structlog line with the same fields and "
        f"handler: {theirs:.2f} us",
        file=out,
    )
    print("breakdown (each alone, median per call):", file=out)
    for label, value in breakdown().items():
        print(f"  {label:<46} {value:8.2f} us", file=out)
    big = "password=" + "x" * 100_000_000
    cost = statistics.median(timeit.repeat(lambda: sanitize_message(big), number=1, repeat=7))
    print(f"sanitize_message of a 100 MB message: {cost * 1e3:.3f} ms (bound: 50 ms)", file=out)


if __name__ == "__main__":
    main()
