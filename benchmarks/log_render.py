"""Cost of one ``node.failed`` line rendered by ``configure_logging`` (JSON and console).

The line is emitted the way a failing node emits it (``emit_rendered``: fields built,
text rendered) to the ``langgraph_runner`` logger, whose only handler is the one
``configure_logging`` attaches, writing to a ``StringIO``. What is timed is the record,
its formatting and the write: the path an application that called ``configure_logging``
pays on every failure. The default, unconfigured path is ``benchmarks/error_path.py``'s.

Timed in this process's CPU time (steadier than wall time on a machine other jobs
share); the median of ``--repeats`` runs of ``--lines`` lines each, per line.

    python benchmarks/log_render.py [--lines 5000] [--repeats 7]
    PYTHONPATH=<an earlier checkout>/src python benchmarks/log_render.py   # an earlier version
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import time

from langgraph_runner import configure_logging
from langgraph_runner._records.logs import get_event_logger

FIELDS = {
    "node": "lookup",
    "attempt": 2,
    "duration_ms": 1.25,
    "code": "RETRY_EXHAUSTED",
    "category": "network",
    "error_type": "ConnectionError",
    "message": "Node 'lookup' failed after 2 attempt(s): ConnectionError: reset",
    "thread_id": "t-1",
    "run_id": None,
    "trace_id": "9075c8a896c88cc30000000000000001",
}
TAIL = " ".join(f"{k}={v}" for k, v in FIELDS.items() if v is not None)


def per_line(as_json: bool, lines: int, repeats: int) -> float:
    """Median CPU microseconds per rendered line."""
    stream = io.StringIO()
    configure_logging("INFO", json=as_json, stream=stream)
    log = get_event_logger()

    def one() -> None:
        log.emit_rendered(logging.ERROR, "node.failed", dict(FIELDS), TAIL)

    for _ in range(lines // 2):  # warm-up
        one()
    times = []
    for _ in range(repeats):
        stream.seek(0)
        stream.truncate()
        start = time.process_time()
        for _ in range(lines):
            one()
        times.append((time.process_time() - start) / lines * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for name, as_json in (("json", True), ("console", False)):
        cost = per_line(as_json, args.lines, args.repeats)
        print(f"configure_logging(json={as_json!s:5}) {name:8} {cost:6.2f} us per line")


if __name__ == "__main__":
    main()
