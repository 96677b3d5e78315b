"""``langgraph-runner worker MODULE[:APP]``: execute queued runs, without serving HTTP.

``MODULE[:APP]`` names the same app ``serve`` serves (made by
``langgraph_runner.service.create_app``): its workflows, checkpointer and queue. The
command starts ``--threads`` worker threads on the app's run queue and runs until it is
stopped (Ctrl-C or SIGTERM). Start one per machine (or several) on a PostgreSQL
checkpointer; serve the API with ``create_app(workers=0)``.

Stopping drains (``_service.drain``): the process takes no more runs (``GET /workers``
reads ``draining``), gives the runs under way ``--grace`` seconds to end, asks the rest
to stop at their next superstep boundary and hands them back to the queue (another
worker resumes each from its checkpoint), waiting ``--step-wait`` seconds more for the
steps under way, then exits 0. A step stuck past that is given up (its run handed back
all the same, the step run again elsewhere): the process exits within
``grace + step_wait + EXIT_SLACK`` seconds of the signal, whatever its threads do.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from typing import Any

from langgraph_runner._cli.serve import add_app_command, load_app, whole_number
from langgraph_runner._records.exceptions import CommandError
from langgraph_runner._service.drain import drain

__all__ = ["EXIT_SLACK", "add_worker_command"]

_SECONDS = re.compile(r"\d{1,4}(\.\d{1,6})?")
EXIT_SLACK = 5.0
"""Seconds past ``grace + step_wait`` after which a draining worker exits unconditionally."""


def add_worker_command(commands: Any) -> None:
    """Register ``worker`` on the CLI's subparsers."""
    worker = add_app_command(
        commands,
        "worker",
        "execute the runs service's queued runs (no HTTP)",
        "Start worker threads on the run queue of an app made by "
        "langgraph_runner.service.create_app, and execute its queued runs until stopped.",
    )
    worker.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help="worker threads (default: the app's workers=, or 1 if that is 0)",
    )
    worker.add_argument(
        "--grace",
        type=_seconds,
        default=10.0,
        help="on SIGTERM, seconds the running runs may take to end before they are "
        "handed back at their next step boundary (default: 10)",
    )
    worker.add_argument(
        "--step-wait",
        type=_seconds,
        default=10.0,
        help="seconds more for the steps under way to end before the worker exits "
        "anyway (default: 10)",
    )
    worker.set_defaults(handler=_work)


def _seconds(text: str) -> float:
    if not _SECONDS.fullmatch(text) or float(text) > 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, got {text!r}")
    return float(text)


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
        _drain(workers, args.grace, args.step_wait)
    return "", 0


def _drain(workers: Any, grace: float, step_wait: float) -> None:
    """Drain, then close; a process whose threads, drain or shutdown hang exits all the same."""
    bound = grace + step_wait + EXIT_SLACK
    drained = threading.Event()
    watchdog = threading.Timer(bound, _watch, args=(drained,))
    watchdog.daemon = True  # it outlives the main thread: it also bounds the interpreter's exit
    watchdog.start()
    print(f"worker: draining (exits within {bound:g} s)", file=sys.stderr, flush=True)
    stuck = drain(workers, grace=grace, handback=step_wait)
    workers.close(timeout=1.0)
    if stuck or any(t.is_alive() for t in workers.threads_started()):
        _exit_now(f"handed back {len(stuck)} run(s) whose step did not end")
    drained.set()


def _watch(drained: threading.Event) -> None:
    """The bound passed: exit, unless the drain ended and the caller lives on (``main()``
    called in a process that goes on, not the command's own exit hanging)."""
    if drained.is_set() and threading.main_thread().is_alive():
        return
    _exit_now("the drain or the exit took too long")


def _exit_now(why: str) -> None:
    print(f"worker: exiting: {why}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(0)
