"""What a node function is given besides the state, as LangGraph would give it.

``config``, ``runtime`` and the runtime's fields (``store``, ``writer``,
``context``, ...) are passed only to a function that declares them; the
declaration was read once, at factory time (``NodeSpec.accepts``).
"""

from __future__ import annotations

import inspect
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config

from langgraph_runner._internal import compat as _compat

__all__ = ["kwargs_for"]

_MISSING = object()


def kwargs_for(
    accepts: dict[str, tuple[str, Any]], config: RunnableConfig | None, node: str
) -> dict[str, Any]:
    """The keyword arguments for a function that declares ``accepts``.

    Raises:
        ValueError: A required parameter LangGraph cannot supply (the same error
            LangGraph raises for a node it cannot inject into).
    """
    if not accepts:
        return {}
    runtime = _compat.runtime_of(config)
    kwargs: dict[str, Any] = {}
    for kw, (runtime_key, default) in accepts.items():
        value: Any = _MISSING
        if kw == "config":
            value = config if config is not None else ensure_config()
        elif kw == "error":
            value = _compat.node_error_of(config) or _MISSING
        elif runtime is not None:
            value = runtime if kw == "runtime" else getattr(runtime, runtime_key, _MISSING)
        if value is _MISSING:
            if default is inspect.Parameter.empty:
                raise ValueError(f"Missing required config key '{runtime_key}' for '{node}'.")
            value = default
        kwargs[kw] = value
    return kwargs
