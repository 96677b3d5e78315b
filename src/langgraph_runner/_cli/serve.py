"""``langgraph-runner serve MODULE[:APP]``: serve an ASGI app (the runs service) with uvicorn.

``MODULE`` is a Python file (``examples/service.py``) or an importable module
(``myproject.service``); ``APP`` names the app in it (default ``app``), for example one
made by ``langgraph_runner.service.create_app``. ``--workers N`` sets how many worker
threads the serving process runs (0: the API only, ``langgraph-runner worker`` executes).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph_runner._internal.extras import require_extra
from langgraph_runner._records.exceptions import CommandError

__all__ = ["add_app_command", "add_serve_command", "load_app", "whole_number"]


def add_serve_command(commands: Any) -> None:
    """Register ``serve`` on the CLI's subparsers."""
    serve = add_app_command(
        commands,
        "serve",
        "serve the runs service (an ASGI app) with uvicorn",
        "Serve an ASGI app, such as one made by "
        "langgraph_runner.service.create_app, with uvicorn (the 'service' extra).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help="worker threads of this process (default: the app's workers=); 0 serves the API "
        "only, and 'langgraph-runner worker' processes execute the runs",
    )
    serve.set_defaults(handler=_serve)


def add_app_command(commands: Any, name: str, summary: str, description: str) -> Any:
    """Register a command on an app (``serve``, ``worker``) and return its parser, which
    takes the app's ``MODULE[:APP]`` argument (read by ``load_app``)."""
    command = commands.add_parser(name, help=summary, description=description)
    command.add_argument(
        "target",
        metavar="MODULE[:APP]",
        help="a Python file or importable module, and the app's name in it (default: app)",
    )
    return command


def whole_number(what: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, else an error
    naming ``what`` it is and the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low} to {high}, got {text!r}")
        return value

    return parse


_port = whole_number("a port", 0, 65535)
_workers = whole_number("a number of workers", 0, 256)


def load_app(target: str) -> Any:
    """The object ``MODULE[:APP]`` names (a file path or a module, ``app`` by default).

    Raises:
        CommandError: The file or module cannot be found, or has no such attribute.
    """
    module_part, _, attr = target.partition(":")
    attr = attr or "app"
    if module_part.endswith(".py") or Path(module_part).is_file():
        path = Path(module_part)
        if not path.is_file():
            raise CommandError(f"no Python file {module_part}")
        spec = importlib.util.spec_from_file_location(f"_lgr_serve_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise CommandError(f"cannot load {module_part}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            raise CommandError(f"no module {module_part!r}: {exc}") from exc
    app = getattr(module, attr, None)
    if app is None:
        raise CommandError(f"{module_part} has no {attr!r} (name the app: MODULE:APP)")
    return app


def _serve(args: argparse.Namespace) -> tuple[str, int]:
    uvicorn = require_extra("service", "uvicorn")
    app = load_app(args.target)
    if args.workers is not None:
        workers = getattr(getattr(app, "state", None), "workers", None)
        if workers is None or not hasattr(workers, "threads"):
            raise CommandError(f"--workers: {args.target} is not an app made by create_app")
        workers.threads = args.workers  # the threads start when the app does
    uvicorn.run(app, host=args.host, port=args.port)
    return "", 0
