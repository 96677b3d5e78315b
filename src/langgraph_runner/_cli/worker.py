"""``langgraph-runner worker MODULE[:APP]``: execute queued runs, without serving HTTP.

``MODULE[:APP]`` names the same app ``serve`` serves (made by
``langgraph_runner.service.create_app``): its workflows, checkpointer and queue. The
command starts ``--threads`` worker threads on the app's run queue and runs until it is
stopped (Ctrl-C or SIGTERM), then lets the running runs finish. Start one per machine
(or several) on a PostgreSQL checkpointer; serve the API with ``create_app(workers=0)``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from langgraph_runner._cli.serve import add_app_target, load_app, whole_number
from langgraph_runner._records.exceptions import CommandError

__all__ = ["add_worker_command"]


def add_worker_command(commands: Any) -> None:
    """Register ``worker`` on the CLI's subparsers."""
    worker = commands.add_parser(
        "worker",
        help="execute the runs service's queued runs (no HTTP)",
        description="Start worker threads on the run queue of an app made by "
        "langgraph_runner.service.create_app, and execute its queued runs until stopped.",
    )
    add_app_target(worker)
    worker.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help="worker threads (default: the app's workers=, or 1 if that is 0)",
    )
    worker.set_defaults(handler=_work)


_threads = whole_number("a number of threads", 1, 256)


def _work(args: argparse.Namespace) -> tuple[str, int]:
    app = load_app(args.target)
    workers = getattr(getattr(app, "state", None), "workers", None)
    if workers is None or not callable(getattr(workers, "start", None)):
        raise CommandError(f"{args.target} is not an app made by create_app (no run queue)")
    threads = args.threads or workers.threads or 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers.start(threads)
    print(
        f"worker: {threads} thread(s) on run queue {workers.queue.queue!r}; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        workers.close()
    return "", 0
