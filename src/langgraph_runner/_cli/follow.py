"""``langgraph-runner report --follow``: watch a thread's report until its run ends.

The checkpointer is polled every ``interval`` seconds. On a terminal the view is a
rich ``Live`` table updated in place; otherwise (a pipe, a log file, CI) one line
is printed per node change, so the output reads node by node. The run has ended
when its status is anything but ``running`` (completed, failed, blocked,
interrupted, cancelled).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from langgraph_runner._records.exceptions import FollowTimeoutError
from langgraph_runner._records.sanitize import escape_controls
from langgraph_runner._reports.report import NodeStatus, RunReport, RunStatus, ThreadNotFoundError

__all__ = ["FollowTimeoutError", "follow", "wait_for_file"]

_STYLES = {
    "succeeded": "green",
    "cached": "blue",
    "reused": "magenta",
    "failed": "bold red",
    "cancelled": "red",
    "interrupted": "yellow",
    "pending": "cyan",
    "skipped": "dim",
}


def _view(report: RunReport | None, thread: str) -> Group:
    if report is None:
        return Group(Text(f"waiting for thread {thread} ..."))
    title = escape_controls(_headline(report, thread))
    table = Table(title=Text(title))
    for col in ("node", "status", "attempts", "runs", "step", "error"):
        table.add_column(col)
    for n in report.nodes:
        err = n.cause or n.error or (str(n.errors[-1].get("code", "")) if n.errors else "")
        status = _shown(report, n)
        table.add_row(
            Text(escape_controls(n.name)),  # Text: never read as rich markup
            Text(status, style=_STYLES.get(str(n.status), "")),
            str(n.attempts),
            str(n.runs),
            "" if n.step is None else str(n.step),
            Text(escape_controls(err[:60])),
        )
    counts = ", ".join(f"{c} {s}" for s, c in report.summary.items() if c)
    return Group(table, Text(f"summary: {counts}"))


def _headline(report: RunReport, thread: str) -> str:
    """``thread t: running at step 3, 4 of 13 steps done`` (x of N when known)."""
    line = f"thread {thread}: {report.status} at step {report.step}"
    if report.steps_total:
        line += f", {report.steps_done} of {report.steps_total} steps done"
    return line + (f" ({report.reason})" if report.reason else "")


def _shown(report: RunReport, n: Any) -> str:
    """A pending node scheduled in the latest step of a live run is ``running``."""
    live = report.status is RunStatus.RUNNING
    if n.status is NodeStatus.PENDING and live and n.name in report.next:
        return "running"
    return str(n.status)


def _changes(report: RunReport, seen: dict[str, tuple[Any, ...]]) -> list[str]:
    lines = []
    for n in report.nodes:
        key = (n.status, n.runs, n.step)
        if seen.get(n.name) != key:
            seen[n.name] = key
            status = _shown(report, n)
            extra = f" ({n.attempts} attempts)" if n.attempts > 1 else ""
            lines.append(f"{escape_controls(n.name)}: {status}{extra}")
    return lines


def follow(
    read: Callable[[], RunReport],
    thread: str,
    *,
    out: TextIO,
    interval: float = 1.0,
    timeout: float | None = None,
    statuses: Iterable[NodeStatus] | None = None,
    live: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunReport:
    """Poll ``read()`` until the run is no longer ``running``; show each change on ``out``.

    Args:
        read: Builds the thread's current report (raises ThreadNotFoundError until
            the thread's first checkpoint exists).
        thread: The thread id (for the headings).
        out: Where the view goes.
        interval: Seconds between polls.
        timeout: Give up after this many seconds (None: follow until the run ends).
        statuses: Only show nodes with these statuses.
        live: Update a table in place (default: when ``out`` is a terminal).
        sleep: The wait between polls.

    Returns:
        The final report.

    Raises:
        FollowTimeoutError: ``timeout`` ran out while the run was still going.
    """
    console = Console(file=out, highlight=False, soft_wrap=True, force_terminal=live)
    use_live = console.is_terminal if live is None else live
    wanted = None if statuses is None else list(statuses)
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: dict[str, tuple[Any, ...]] = {}
    waiting_said = False

    def poll() -> RunReport | None:
        try:
            report = read()
        except ThreadNotFoundError:
            return None
        return report if wanted is None else report.filter(*wanted)

    with Live(console=console, auto_refresh=False) if use_live else _NoLive() as view:
        while True:
            report = poll()
            if use_live:
                view.update(_view(report, thread), refresh=True)
            elif report is None and not waiting_said:
                out.write(f"waiting for thread {thread} ...\n")
                waiting_said = True
            elif report is not None:
                for line in _changes(report, seen):
                    out.write(f"  {line}\n")
                out.flush()
            if report is not None and report.status is not RunStatus.RUNNING:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise FollowTimeoutError(f"thread {thread!r} still running after {timeout} s")
            sleep(interval)
    if not use_live:
        out.write(escape_controls(_headline(report, thread)) + "\n")
    return report


def wait_for_file(
    path: Path,
    *,
    out: TextIO,
    interval: float = 1.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> float | None:
    """Wait until the database file ``path`` exists (a run about to start creates it).

    Args:
        path: The SQLite database file.
        out: Where "waiting for database ..." is said, once.
        interval: Seconds between looks.
        timeout: Give up after this many seconds (None: wait as long as it takes).
        sleep: The wait between looks (default ``time.sleep``).
        clock: Monotonic seconds (default ``time.monotonic``).

    Returns:
        What is left of ``timeout`` for following the thread (None without one).

    Raises:
        FollowTimeoutError: ``timeout`` ran out before the file appeared.
    """
    if path.exists():
        return timeout
    clock = clock or time.monotonic
    start = clock()
    said = False
    while not path.exists():
        if timeout is not None and clock() - start >= timeout:
            raise FollowTimeoutError(f"no SQLite database at {path} after {timeout} s")
        if not said:
            out.write(f"waiting for database {escape_controls(str(path))} ...\n")
            out.flush()
            said = True
        (sleep or time.sleep)(interval)
    return None if timeout is None else max(0.0, timeout - (clock() - start))


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - never called
        return None
