"""``langgraph-runner runs`` and ``cancel``: the runs a checkpointer holds, and stopping one.

``runs`` lists what ``run()``/``arun()`` recorded in the checkpointer's runs table
(status, tenant, thread, start time), newest first, plus the threads the checkpoints
hold that no recorded run wrote (a plain ``graph.invoke``), as a rich table (or JSON).
``cancel`` sets a run's cancel flag: the run, in whatever process runs it, starts no
further step and ends ``cancelled``.
"""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime, timezone
from typing import Any

from langgraph_runner._records.exceptions import CommandError, ThreadNotFoundError
from langgraph_runner._records.sanitize import escape_controls
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner._runs.control import cancel_run, list_runs
from langgraph_runner._runs.store_registry import open_run_store
from langgraph_runner._runs.tenancy import check_tenant

__all__ = ["URL_HELP", "add_run_commands", "add_tenant_option", "tenant_arg"]

URL_HELP = "sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host:port/db"


def add_run_commands(commands: Any, check_url: Any) -> None:
    """Register ``runs`` and ``cancel`` on the CLI's subparsers.

    Args:
        commands: The CLI's subparsers.
        check_url: ``url -> None``, raising ``CommandError`` for a URL not to open.
    """
    runs = commands.add_parser(
        "runs",
        help="list the runs and threads a checkpointer holds, newest first",
        description="List the runs (status, tenant, thread, time) and threads a "
        "checkpointer holds, newest first.",
        epilog="example:\n  langgraph-runner runs --checkpointer sqlite:///runs.db --tenant acme",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runs.add_argument("--checkpointer", required=True, metavar="URL", help=URL_HELP)
    add_tenant_option(runs, "only this tenant's runs")
    runs.add_argument("--thread", metavar="ID", help="only this thread's runs")
    runs.add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="at most N rows (default 50)"
    )
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    runs.set_defaults(handler=lambda args: (_runs(args, check_url), 0))

    cancel = commands.add_parser(
        "cancel",
        help="stop a run by its id, in whatever process runs it",
        description="Stop a run by its id: it starts no further step and ends cancelled.",
        epilog="example:\n  langgraph-runner cancel --checkpointer sqlite:///runs.db "
        "--run 1f0c... --reason 'operator stop'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cancel.add_argument("--checkpointer", required=True, metavar="URL", help=URL_HELP)
    cancel.add_argument("--run", required=True, metavar="ID", help="the run id (see: runs)")
    cancel.add_argument("--reason", default="cancelled from the command line", help="why")
    add_tenant_option(cancel, "only if the run is this tenant's")
    cancel.set_defaults(handler=lambda args: (_cancel(args, check_url), 0))


def add_tenant_option(command: Any, text: str) -> None:
    """The ``--tenant ID`` option of ``command`` (checked by ``tenant_arg``), helped by ``text``."""
    command.add_argument("--tenant", type=tenant_arg, metavar="ID", help=text)


def tenant_arg(text: str) -> str:
    """A ``--tenant`` value: a valid tenant id (argparse names the option on error)."""
    try:
        return str(check_tenant(text, owner="--tenant"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--tenant: ")) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def rows_of(saver: Any, tenant: str | None, thread: str | None, limit: int) -> list[dict[str, Any]]:
    """Runs, then the threads no recorded run wrote, newest first (at most ``limit``)."""
    runs = list_runs(saver, tenant=tenant, thread_id=thread, limit=limit)
    rows: list[dict[str, Any]] = [
        {
            "started_at": r.started_at,
            "status": r.status,
            "tenant": r.tenant,
            "thread_id": r.thread_id,
            "run_id": r.run_id,
            "duration_s": round(r.updated_at - r.started_at, 3),
            "reason": r.reason,
        }
        for r in runs
    ]
    if tenant is None:  # a thread with no recorded run has no tenant to filter on
        store = open_run_store(saver)
        assert store is not None
        try:
            seen = {r.thread_id for r in runs}
            known = set(seen) if thread is None else set()
            for thread_id, at in store.threads(limit=limit + len(seen)):
                if thread_id in known or (thread is not None and thread_id != thread):
                    continue
                if thread_id in seen:
                    continue
                rows.append(
                    {
                        "started_at": at,
                        "status": "-",
                        "tenant": None,
                        "thread_id": thread_id,
                        "run_id": None,
                        "duration_s": None,
                        "reason": "no run() recorded (plain invoke)",
                    }
                )
        finally:
            store.close()
    rows.sort(key=lambda r: r["started_at"] or 0.0, reverse=True)
    return rows[:limit]


def _runs(args: argparse.Namespace, check_url: Any) -> str:
    check_url(args.checkpointer)
    with open_checkpointer(args.checkpointer) as saver:
        rows = rows_of(saver, args.tenant, args.thread, args.limit)
    if args.json:
        return json.dumps(rows, indent=2) + "\n"
    return render_runs(rows) + "\n"


def render_runs(rows: list[dict[str, Any]]) -> str:
    """A rich table of runs (plain text, no colour codes: it is printed as it is).

    Every cell is a ``Text`` with its control characters escaped: data (a tenant,
    thread id or reason) is never read as rich markup nor sent to the terminal raw.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} run(s), newest first", title_justify="left")
    for column in ("STARTED (UTC)", "STATUS", "TENANT", "THREAD", "RUN", "SECONDS", "REASON"):
        table.add_column(column, overflow="fold")
    for r in rows:
        cells = (
            _when(r["started_at"]),
            r["status"],
            r["tenant"] or "",
            r["thread_id"] or "",
            r["run_id"] or "",
            "" if r["duration_s"] is None else f"{r['duration_s']:.3f}",
            r["reason"] or "",
        )
        table.add_row(*(Text(escape_controls(str(c))) for c in cells))
    out = io.StringIO()
    Console(file=out, width=160, color_system=None, highlight=False).print(table)
    return out.getvalue().rstrip("\n")


def _cancel(args: argparse.Namespace, check_url: Any) -> str:
    check_url(args.checkpointer)
    with open_checkpointer(args.checkpointer) as saver:
        try:
            record = cancel_run(saver, args.run, args.reason, tenant=args.tenant)
        except ThreadNotFoundError as exc:
            raise CommandError(f"{exc} in this checkpointer") from exc
    run_id = escape_controls(record.run_id)
    if record.status != "running":
        return f"run {run_id} already ended {record.status}: nothing to cancel\n"
    return f"run {run_id} (thread {escape_controls(str(record.thread_id))}): cancel requested\n"
