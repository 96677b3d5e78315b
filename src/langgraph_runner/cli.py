"""The ``langgraph-runner`` command line.

``langgraph-runner report --checkpointer URL --thread ID [--json]`` prints the run
report of one thread, read straight from the checkpoint database (the graph's
code is not imported). Exit codes: 0 success, 1 the database could not be read,
2 bad arguments, unsupported URL, missing extra or unknown thread.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from langgraph_runner.checkpoint import open_checkpointer, parse_checkpointer_url
from langgraph_runner.report import ThreadNotFoundError, run_report
from langgraph_runner.sanitize import sanitize_message

__all__ = ["main"]

PROG = "langgraph-runner"


class _UsageError(Exception):
    """A problem with what the user typed: exit code 2, no traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print and sys.exit(2); raising lets main() return the code.
        raise _UsageError(f"{message}\n{self.format_usage().rstrip()}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Inspect LangGraph runs stored by a checkpointer.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report = commands.add_parser(
        "report",
        help="print the run report of one thread",
        description="Print the run report (status, per-node table) of one thread.",
    )
    report.add_argument(
        "--checkpointer",
        required=True,
        metavar="URL",
        help="sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host:port/db",
    )
    report.add_argument("--thread", required=True, metavar="ID", help="the thread id")
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _report(url: str, thread: str, as_json: bool) -> str:
    try:
        parsed = parse_checkpointer_url(url)
    except ValueError as exc:
        raise _UsageError(str(exc)) from exc
    if parsed.backend == "sqlite" and not parsed.in_memory and not Path(parsed.target).exists():
        # Opening would silently create an empty database.
        raise _UsageError(f"no SQLite database at {parsed.target}")
    with open_checkpointer(url) as saver:
        try:
            report = run_report(saver, thread)
        except ThreadNotFoundError as exc:
            raise _UsageError(f"{exc} in this checkpointer") from exc
    if as_json:
        return report.model_dump_json(indent=2) + "\n"
    return report.to_table()


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
        output = _report(args.checkpointer, args.thread, args.json)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except (_UsageError, ImportError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # no user node code runs here: only the database read
        detail = sanitize_message(f"{type(exc).__name__}: {exc}")
        print(f"{PROG}: error: cannot read checkpoints: {detail}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
