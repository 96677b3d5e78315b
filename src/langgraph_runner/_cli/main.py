"""The ``langgraph-runner`` command line (also ``python -m langgraph_runner``).

``langgraph-runner report --checkpointer URL --thread ID`` prints the run report of
one thread, read straight from the checkpoint database (the graph's code is not
imported): a table (default), ``--json``, ``--format mermaid`` or ``--format html``
(``--html`` for short);
``--status`` keeps some node statuses; ``--follow`` watches a running thread until
its run ends. Exit codes: 0 success, 1 the database could not be read (or
``--follow --timeout`` ran out), 2 bad arguments, unsupported URL, missing extra or
unknown thread, 130 interrupted with Ctrl-C. ``langgraph-runner serve MODULE[:APP]`` serves
the runs service (``langgraph_runner.service``) with uvicorn; ``langgraph-runner worker
MODULE[:APP]`` executes its queued runs without serving HTTP.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from langgraph_runner._cli.rebuild import add_commands
from langgraph_runner._cli.runs import URL_HELP, add_run_commands, add_tenant_option
from langgraph_runner._cli.serve import add_serve_command
from langgraph_runner._cli.worker import add_worker_command
from langgraph_runner._records.egress import egress_text
from langgraph_runner._records.exceptions import CommandError, FollowTimeoutError
from langgraph_runner._records.sanitize import scrub_url_password
from langgraph_runner._reports.report import NodeStatus, RunReport, ThreadNotFoundError, run_report
from langgraph_runner._runs.checkpoint import open_checkpointer, parse_checkpointer_url
from langgraph_runner._version import __version__

__all__ = ["main"]

PROG = "langgraph-runner"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print and sys.exit(2); raising lets main() return the code.
        raise CommandError(f"{message}\n{self.format_usage().rstrip()}")


_EXAMPLES = """\
examples:
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 --status failed
  langgraph-runner report --checkpointer postgresql://postgres@localhost:5432/app \\
      --thread t-42 --json
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 --format html > run.html
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 --follow
  python -m langgraph_runner report --help
"""

_REPORT_EXAMPLES = """\
examples:
  # the table: one row per node, then the count per status
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42

  # only the nodes that failed or wait, as JSON
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 \\
      --status failed,interrupted --json

  # a picture of the run: mermaid text, or an HTML page that works offline
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 --format mermaid
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 --format html > run.html

  # watch a running thread node by node until its run ends (poll every 0.5 s)
  langgraph-runner report --checkpointer sqlite:///runs.db --thread t-42 --follow --interval 0.5

URLs: sqlite:///relative/path.db, sqlite:////absolute/path.db,
postgresql://user@host:5432/db (needs: pip install "langgraph-runner[postgres]").
"""

_FORMATS = ("table", "json", "mermaid", "html")


def _statuses(text: str) -> list[NodeStatus]:
    try:
        return [NodeStatus(s.strip()) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        choices = ", ".join(s.value for s in NodeStatus)
        raise argparse.ArgumentTypeError(f"{exc}; choose from {choices}") from exc


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Inspect LangGraph runs stored by a checkpointer.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report = commands.add_parser(
        "report",
        help="print the run report of one thread",
        description="Print the run report (status, per-node table, counts) of one thread.",
        epilog=_REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--checkpointer", required=True, metavar="URL", help=URL_HELP)
    report.add_argument("--thread", required=True, metavar="ID", help="the thread id")
    add_tenant_option(report, "only if the thread is this tenant's (else: not found)")
    report.add_argument(
        "--format", choices=_FORMATS, default=None, help="output format (default: table)"
    )
    report.add_argument("--json", action="store_true", help="same as --format json")
    report.add_argument("--html", action="store_true", help="same as --format html")
    report.add_argument(
        "--status",
        type=_statuses,
        action="extend",
        metavar="STATUS[,STATUS]",
        help="list only nodes with these statuses (repeatable); the summary still counts all",
    )
    report.add_argument("--follow", action="store_true", help="watch the thread until its run ends")
    report.add_argument(
        "--interval",
        type=_seconds,
        default=1.0,
        metavar="SECONDS",
        help="with --follow: seconds between polls (default 1)",
    )
    report.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="with --follow: give up (exit 1) if the run is still going after this long",
    )
    # Each subcommand names its handler: args -> (output, exit code).
    report.set_defaults(handler=lambda args: (_report(args), 0))
    add_commands(commands)  # plan, rebuild
    add_run_commands(commands, _check_url)  # runs, cancel
    add_serve_command(commands)  # serve
    add_worker_command(commands)  # worker
    return parser


def _check_url(url: str) -> None:
    try:
        parsed = parse_checkpointer_url(url)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if parsed.backend == "sqlite" and not parsed.in_memory and not Path(parsed.target).exists():
        # Opening would silently create an empty database.
        raise CommandError(f"no SQLite database at {parsed.target}")


def _render(report: RunReport, fmt: str) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "mermaid":
        return report.to_mermaid()
    if fmt == "html":
        return report.to_html()
    return report.to_table()


def _report(args: argparse.Namespace) -> str:
    fmt = args.format or "table"
    for flag in ("json", "html"):  # --json and --html: short for --format json/html
        if not getattr(args, flag):
            continue
        if args.format not in (None, flag) or (flag == "html" and args.json):
            other = "--json" if flag == "html" and args.json else f"--format {args.format}"
            raise CommandError(f"--{flag} conflicts with {other}")
        fmt = flag
    if args.follow and fmt != "table":
        raise CommandError("--follow shows a live table; leave out --json/--html/--format")
    if args.follow:
        args.timeout = _wait_for_database(args)
    _check_url(args.checkpointer)
    with open_checkpointer(args.checkpointer) as saver:
        if args.follow:
            return _follow(saver, args)
        try:
            report = run_report(saver, args.thread, status=args.status, tenant=args.tenant)
        except ThreadNotFoundError as exc:
            raise CommandError(f"{exc} in this checkpointer") from exc
    return _render(report, fmt)


def _wait_for_database(args: argparse.Namespace) -> float | None:
    """``--follow`` on a SQLite file not made yet: wait for it (within ``--timeout``)."""
    try:
        parsed = parse_checkpointer_url(args.checkpointer)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if parsed.backend != "sqlite" or parsed.in_memory:
        timeout: float | None = args.timeout
        return timeout
    from langgraph_runner._cli.follow import wait_for_file

    return wait_for_file(
        Path(parsed.target), out=sys.stdout, interval=args.interval, timeout=args.timeout
    )


def _follow(saver: Any, args: argparse.Namespace) -> str:
    from langgraph_runner._cli.follow import follow  # rich is loaded only to follow

    follow(
        lambda: run_report(saver, args.thread, tenant=args.tenant),
        args.thread,
        out=sys.stdout,
        interval=args.interval,
        timeout=args.timeout,
        statuses=args.status,
    )
    return ""


def _scrub(text: str, url: str | None) -> str:
    """``text`` with secrets redacted, and no piece of ``url``'s password left."""
    if url:
        return scrub_url_password(text, url)
    return egress_text(text, max_length=2000)


def _url_args(argv: Sequence[str] | None) -> list[str]:
    """Every argument that may hold a checkpointer URL: any with ``://`` in it.

    Not only what follows ``--checkpointer``: argparse takes abbreviations
    (``--checkp``), ``--opt=value`` and repeated options, and the URL that failed
    may be any of them.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    return [arg.partition("=")[2] if arg.startswith("-") else arg for arg in args if "://" in arg]


def _scrub_all(text: str, argv: Sequence[str] | None) -> str:
    for url in _url_args(argv):
        text = _scrub(text, url)
    return _scrub(text, None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name (defaults to ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        output, code = args.handler(args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return 130
    except FollowTimeoutError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except (CommandError, ImportError) as exc:
        print(f"{PROG}: error: {_scrub_all(str(exc), argv)}", file=sys.stderr)
        return 2
    except Exception as exc:  # no user node code runs here: only the database read
        detail = _scrub_all(f"{type(exc).__name__}: {exc}", argv)
        print(f"{PROG}: error: cannot read checkpoints: {detail}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
