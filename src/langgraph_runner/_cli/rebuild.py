"""The ``plan`` and ``rebuild`` subcommands of ``langgraph-runner`` (see ``main``).

``--graph`` takes a reference like langgraph.json's: ``package.module:attribute``
or ``path/to/file.py:attribute``; the attribute is a compiled graph, or a function
without arguments that returns one. ``--checkpointer URL`` attaches a checkpointer
to a graph compiled without one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_runner._cli.runs import add_tenant_option
from langgraph_runner._rebuild.partial import Change, RunNotCompletedError, plan, rebuild
from langgraph_runner._records.exceptions import CommandError, ThreadNotFoundError
from langgraph_runner._records.sanitize import escape_controls
from langgraph_runner._runs.checkpoint import open_checkpointer

__all__ = ["CommandError", "add_commands"]


def add_commands(commands: Any) -> None:
    """Register ``plan`` and ``rebuild`` on the CLI's subparsers."""
    for name, text in (
        ("plan", "list what a rebuild from a base run would execute (runs nothing)"),
        ("rebuild", "run a completed base run again with a change, as a new run"),
    ):
        example = (
            "  langgraph-runner plan --graph app/graph.py:graph --checkpointer "
            "sqlite:///runs.db \\\n      --thread base-1 --version summarize=2"
            if name == "plan"
            else "  langgraph-runner rebuild --graph app/graph.py:graph --checkpointer "
            "sqlite:///runs.db \\\n      --thread base-1 --new-thread base-1-v2 "
            "--input topic='\"solar\"'"
        )
        sub = commands.add_parser(
            name,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            epilog=f"example:\n{example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "--graph",
            required=True,
            metavar="MODULE:ATTR",
            help="the compiled graph: package.module:attr or path/file.py:attr",
        )
        sub.add_argument("--thread", required=True, metavar="ID", help="the base run's thread")
        sub.add_argument("--checkpoint", metavar="ID", help="the base run's last checkpoint")
        sub.add_argument(
            "--checkpointer",
            metavar="URL",
            help="attach this checkpointer (sqlite:///file.db, postgresql://...)",
        )
        sub.add_argument(
            "--input",
            action="append",
            default=[],
            metavar="FIELD=JSON",
            help="a changed input field (repeatable)",
        )
        sub.add_argument(
            "--version",
            action="append",
            default=[],
            metavar="NODE=VERSION",
            help="a changed node version (repeatable)",
        )
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        add_tenant_option(sub, "the tenant whose base run it is (and, for rebuild, the new run's)")
        if name == "rebuild":
            sub.add_argument(
                "--new-thread", required=True, metavar="ID", help="the new run's thread"
            )
            sub.add_argument(
                "--time-limit", type=float, metavar="SECONDS", help="bound the whole run"
            )
        sub.set_defaults(handler=_plan if name == "plan" else _rebuild)


def load_graph(reference: str) -> Any:
    """The graph a ``module:attribute`` or ``file.py:attribute`` reference names."""
    target, sep, attr = reference.rpartition(":")
    if not sep or not target or not attr:
        raise CommandError(f"--graph must be MODULE:ATTR or FILE.py:ATTR, got {reference!r}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise CommandError(f"no file {target}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot import {target}")
        folder = str(path.parent.resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)  # the graph file's sibling modules import
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module  # dataclasses and pickling look the module up
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")  # the current directory, as `python -m` does
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise CommandError(f"cannot import {target}: {exc}") from exc
    try:
        graph = getattr(module, attr)
    except AttributeError:
        raise CommandError(f"{target} has no attribute {attr!r}") from None
    if not hasattr(graph, "get_state_history") and callable(graph):
        graph = graph()
    if not hasattr(graph, "get_state_history"):
        raise CommandError(f"{reference} is not a compiled LangGraph graph")
    return graph


@contextlib.contextmanager
def _graph(args: argparse.Namespace) -> Iterator[Any]:
    graph = load_graph(args.graph)
    if args.checkpointer is None:
        yield graph
        return
    with open_checkpointer(args.checkpointer) as saver:
        yield graph.copy(update={"checkpointer": saver})


def _change(args: argparse.Namespace) -> tuple[Change, RunnableConfig]:
    try:
        inputs = parse_assignments(args.input, as_json=True)
        versions = parse_assignments(args.version, as_json=False)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    base: dict[str, Any] = {"thread_id": args.thread}
    if args.checkpoint:
        base["checkpoint_id"] = args.checkpoint
    return Change(inputs=inputs, versions=versions), {"configurable": base}


def _plan(args: argparse.Namespace) -> tuple[str, int]:
    change, base = _change(args)
    with _graph(args) as graph:
        try:
            the_plan = plan(graph, base, change, tenant=args.tenant)
        except (ValueError, RunNotCompletedError) as exc:
            raise CommandError(str(exc)) from exc
    if args.json:
        return json.dumps(the_plan.to_dict(), indent=2, default=str) + "\n", 0
    return the_plan.to_table(), 0


def _rebuild(args: argparse.Namespace) -> tuple[str, int]:
    """Exit code 1 when the new run failed or was cancelled (what happened is printed)."""
    change, base = _change(args)
    new: RunnableConfig = {"configurable": {"thread_id": args.new_thread}}
    with _graph(args) as graph:
        try:
            done = rebuild(
                graph,
                base,
                change,
                new,
                time_limit=args.time_limit,
                raise_on_error=False,
                tenant=args.tenant,
            )
        except (ValueError, RunNotCompletedError, ThreadNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
    run = done.run
    if args.json:
        data = {
            "plan": done.plan.to_dict(),
            "run": {
                "thread_id": run.thread_id,
                "run_id": run.run_id,
                "status": run.status,
                "duration_ms": run.duration_ms,
                "nodes": dict(run.nodes),
                "counts": dict(run.counts),
                "reason": run.reason,
            },
            "executed": list(done.executed),
            "reused": list(done.reused),
        }
        text = json.dumps(data, indent=2, default=str) + "\n"
    else:
        text = done.plan.to_table() + (
            f"\nrun {run.run_id} on thread {escape_controls(str(run.thread_id))}: {run.status} "
            f"in {run.duration_ms:.0f} ms\n"
            f"executed: {', '.join(done.executed) or '-'}\n"
            f"reused:   {', '.join(done.reused) or '-'}\n"
        )
    return text, 1 if run.status in ("failed", "cancelled") else 0


def parse_assignments(items: Sequence[str], *, as_json: bool) -> dict[str, Any]:
    """``name=value`` items (from the command line) as a dict; JSON values when ``as_json``.

    Raises:
        ValueError: An item has no ``=`` or its value is not JSON.
    """
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        if as_json:
            try:
                out[name] = json.loads(raw)
            except json.JSONDecodeError:
                out[name] = raw  # a bare word is a string
        else:
            out[name] = raw
    return out
