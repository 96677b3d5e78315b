"""Optional integrations: import a module an extra provides, or say which extra to install.

Modules of optional integrations call ``require_extra`` instead of importing their
third-party package directly, so a missing package raises an ``ImportError`` that
names the extra (``pip install "langgraph-runner[postgres]"``) instead of a bare
``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "extra_hint", "require_extra"]

# extra -> what it is for (used in the message).
EXTRAS: dict[str, str] = {
    "postgres": "PostgreSQL checkpointing",
    "redis": "the Redis cache",
    "prometheus": "the Prometheus exporter",
    "otel": "the OpenTelemetry exporter",
    "server": "the LangGraph dev server",
    "agents": "LangChain agent middleware (RunnerMiddleware)",
    "temporal": "running graphs on Temporal",
    "service": "the runs service (HTTP)",
}


def extra_hint(extra: str) -> str:
    """The message for a missing ``extra``: what needs it and the command that installs it."""
    if extra not in EXTRAS:
        raise ValueError(f"extra must be one of {sorted(EXTRAS)}, got {extra!r}")
    return f'{EXTRAS[extra]} needs the {extra!r} extra: pip install "langgraph-runner[{extra}]"'


def require_extra(extra: str, module: str) -> ModuleType:
    """Import ``module`` (provided by ``extra``) or raise an ImportError naming the extra.

    Args:
        extra: The package extra that installs the module, e.g. ``"postgres"``.
        module: The dotted module name to import.

    Returns:
        The imported module.

    Raises:
        ImportError: The module (or one it needs) is not installed; the message
            names the extra to install.
    """
    hint = extra_hint(extra)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{hint} ({exc})", name=exc.name) from exc
