"""Orders of LangChain middleware around ``RunnerMiddleware`` that would switch one off.

Middleware listed first is outermost. A LangChain middleware that reacts to a
model or tool call's exception (retries it, falls back to another model, turns it
into a message) never sees one when it is listed before ``RunnerMiddleware`` in
record mode: ours answers every failure (an error message and a record) after
its own retries. That order is refused when the agent is built, naming the two
ways out.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["REACTS_TO_EXCEPTIONS", "refuse_switched_off"]

# LangChain middleware -> the calls whose exceptions it reacts to. A class missing
# from the installed LangChain (ToolErrorMiddleware before 1.5) is skipped.
REACTS_TO_EXCEPTIONS = {
    "ModelRetryMiddleware": "model",
    "ModelFallbackMiddleware": "model",
    "ToolRetryMiddleware": "tool",
    "ToolErrorMiddleware": "tool",
}


def _classes() -> dict[type, str]:
    module = importlib.import_module("langchain.agents.middleware")
    found = {}
    for name, side in REACTS_TO_EXCEPTIONS.items():
        cls = getattr(module, name, None)
        if isinstance(cls, type):
            found[cls] = side
    return found


def _records(config: Any, side: str) -> bool:
    if side == "model":
        return bool(config.model.get("on_error", "record") == "record")
    options: list[Mapping[str, Any]] = [config.tool_defaults, *config.tools.values()]
    return any(o.get("on_error", "record") == "record" for o in options)


def refuse_switched_off(config: Any, outer: Sequence[Any]) -> None:
    """Raise when a middleware listed before ours would never see the exceptions it handles.

    Args:
        config: The ``RunnerMiddlewareConfig``.
        outer: The middleware listed before ``RunnerMiddleware``.

    Raises:
        ValueError: Naming the middleware and the two fixes.
    """
    classes = _classes()
    for middleware in outer:
        side = next((s for c, s in classes.items() if isinstance(middleware, c)), None)
        if side is None or not _records(config, side):
            continue
        name = type(middleware).__name__
        fix = (
            "model={'on_error': 'raise'}"
            if side == "model"
            else "tool_options={'on_error': 'raise'}"
        )
        raise ValueError(
            f"RunnerMiddleware: {name} is listed before RunnerMiddleware (outside it) and "
            f"reacts to {side} call exceptions, but RunnerMiddleware records them "
            f"(on_error='record'), so {name} would never see one. List {name} after "
            f"RunnerMiddleware, or give RunnerMiddleware {fix} so that the exception "
            f"reaches {name} once our retries are spent."
        )
