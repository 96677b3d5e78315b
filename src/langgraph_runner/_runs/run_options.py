"""``RunOptions``: the keyword options of ``run``/``arun``/``rebuild``/``arebuild``, written once.

Like ``NodeOptions`` for ``create_node``: the four functions take
``**options: Unpack[...]`` of these TypedDicts, so a type checker sees one option
list and a new option is added here (then read in ``lifecycle``). ``rebuild`` and
``arebuild`` take ``RebuildOptions`` (what every run takes); ``run`` and ``arun``
take ``RunOptions``, which adds the thread lock, the step-failure policy and what
is handed on to LangGraph's ``graph.invoke``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, TypedDict

from langgraph.runtime import RunControl

from langgraph_runner._records.logs import SupportsEvents

__all__ = [
    "RUN_OPTION_DEFAULTS",
    "RebuildOptions",
    "RunOptions",
    "StepFailurePolicy",
    "own_options",
]

StepFailurePolicy = Literal["stop", "continue"]
"""What a run does when a step ends failed (``on_error="record"``, retries exhausted):
``stop`` (the default) starts no further step and ends the run ``failed``; ``continue``
goes on, so the graph routes the failure itself (agent style: ``route_on_blocked``)."""


class RebuildOptions(TypedDict, total=False):
    """The keyword options every run takes (``rebuild``, ``arebuild``, and ``run``/``arun``).

    See ``runs.run`` for what each option does.
    """

    time_limit: float | timedelta | None
    logger: SupportsEvents | None
    raise_on_error: bool
    tenant: str | None


class RunOptions(RebuildOptions, total=False):
    """The keyword options of ``run`` and ``arun`` (every one optional)::

        options: RunOptions = {"time_limit": 600, "tenant": "acme"}
        result = run(graph, inputs, config, **options)

    The last group is handed on to LangGraph's ``graph.invoke``/``ainvoke``.
    """

    exclusive: bool
    lock_wait: float | timedelta | None
    on_step_failure: StepFailurePolicy
    # Handed on to graph.invoke / graph.ainvoke:
    context: Any
    stream_mode: Any
    print_mode: Any
    output_keys: str | Sequence[str] | None
    interrupt_before: Any
    interrupt_after: Any
    durability: Literal["sync", "async", "exit"] | None
    control: RunControl | None


RUN_OPTION_DEFAULTS: dict[str, Any] = {
    "time_limit": None,
    "logger": None,
    "raise_on_error": True,
    "tenant": None,
    "exclusive": True,
    "lock_wait": None,
    "on_step_failure": "stop",
}
"""Our own options (not LangGraph's) and their defaults, the one place they are written."""

_REBUILD_KEYS = frozenset(RebuildOptions.__optional_keys__)


def own_options(
    options: dict[str, Any], *, owner: str, rebuild: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(ours, for_invoke)``: our options with their defaults, and the rest for LangGraph.

    Args:
        options: What the caller passed as keywords.
        owner: The function's name, for the error.
        rebuild: Only ``RebuildOptions`` are taken (nothing is handed on).

    Raises:
        TypeError: With ``rebuild``, a keyword ``RebuildOptions`` does not name.
    """
    ours = {
        key: options.pop(key, default)
        for key, default in RUN_OPTION_DEFAULTS.items()
        if not rebuild or key in _REBUILD_KEYS
    }
    if rebuild and options:
        unknown = ", ".join(sorted(options))
        raise TypeError(f"{owner}() got unexpected keyword arguments: {unknown}")
    return ours, options
