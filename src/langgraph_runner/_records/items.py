"""``item_summary``: what a record shows of a map-reduce item (a ``Send`` argument).

The argument as JSON (pydantic models dumped, anything else by ``repr``), or one
key of it, redacted like every record text and capped at ``SUMMARY_MAX``
characters: enough for a person or a reduce step to tell the items apart,
never the whole payload in state. ``failed_sends`` reads them back from
``errors`` during the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from langgraph_runner._records.egress import egress
from langgraph_runner._records.redaction_rules import is_secret_key
from langgraph_runner._records.sanitize import REDACTED, sanitize_message

__all__ = ["SUMMARY_MAX", "failed_sends", "item_summary"]

SUMMARY_MAX = 200
"""The longest summary of an item, in characters."""


def _get(values: Any, key: str) -> Any:
    if isinstance(values, Mapping):
        return values.get(key)
    return getattr(values, key, None)


def item_summary(arg: Any, key: str | None = None) -> str:
    """``arg`` (or ``arg[key]`` / ``arg.key``) as redacted JSON text of at most 200 characters.

    Args:
        arg: The ``Send`` argument.
        key: Summarize by this key (a mapping's item or an attribute) instead.

    Returns:
        The summary; a string value is shown as JSON (quoted).
    """
    value = _get(arg, key) if key is not None else arg
    if key is not None and value is not None and is_secret_key(key):
        value = REDACTED  # summarized by a secret: the secret is not the summary
    if hasattr(value, "model_dump"):
        try:
            value = value.model_dump(mode="json")
        except Exception:  # a broken model is shown by repr
            value = repr(value)
    # Values under a secret key name (``pass``, ``AccessKey`` ...) go whatever they hold.
    value = egress(value, max_length=SUMMARY_MAX)
    try:
        text = json.dumps(value, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return sanitize_message(text, max_length=SUMMARY_MAX)


def failed_sends(state: Any, node: str | None = None) -> list[dict[str, Any]]:
    """The error records of the ``Send`` tasks that failed (and were not recovered).

    For the reduce step of a map-reduce, in the same run: each record carries
    ``task_id``, ``send_node`` (the ``Send`` target) and ``send_item`` (the
    argument's summary, or ``arg[item_key]``).

    Args:
        state: The state (a mapping, a pydantic model or a dataclass with an
            ``errors`` channel) or the ``errors`` list itself.
        node: Only the records of this ``Send`` target.

    Returns:
        The records, oldest first.
    """
    errors = state if isinstance(state, (list, tuple)) else _get(state, "errors")
    return [
        dict(record)
        for record in errors or ()
        if isinstance(record, Mapping)
        and record.get("send_node") is not None
        and not record.get("recovered")
        and (node is None or record.get("send_node") == node)
    ]
