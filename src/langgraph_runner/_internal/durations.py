"""Durations: float seconds or a ``timedelta``, checked by one rule everywhere.

Every option that takes a duration goes through :func:`seconds` (or one of its two
variants below). That covers ``RetryConfig`` intervals, ``CircuitBreakerConfig.recovery_timeout``,
``create_node(timeout=, deadline=)``, ``NodeCache(ttl=)``, ``TieredCache`` ttls,
``RedisBreakerStore`` times, ``run(time_limit=, lock_wait=)``, ``thread_lock(wait=)``
and ``EffectLedger(lease=, poll_interval=)``. The rule:

- accepted: an ``int`` or ``float`` number of seconds, or a ``datetime.timedelta``;
  the result is float seconds (a timedelta converts exactly: ``td / timedelta(seconds=1)``);
- ``TypeError``: anything else. ``bool`` is refused too, because ``True`` is not one second;
- ``ValueError``: NaN, an infinity or zero (unless the field gives it a meaning, like
  "do not wait" or "wait for as long as it takes"), a negative value, or a value above
  the field's maximum.

Validation style, the same for every config: check once, when the config is made
(factory time), with a plain function. The error starts with the owner and the field
(``"create_node: timeout must be ..."``), so a wrong value is found at once.
"""

from __future__ import annotations

import math
from datetime import timedelta

from typing_extensions import TypedDict, Unpack

__all__ = ["Bounds", "optional_seconds", "seconds", "whole_seconds"]

_ONE_SECOND = timedelta(seconds=1)


def seconds(
    value: object,
    field: str,
    *,
    owner: str = "",
    zero: bool = False,
    infinite: bool = False,
    maximum: float | None = None,
) -> float:
    """``value`` (int/float seconds or a timedelta) as float seconds.

    Args:
        value: What the user passed.
        field: The option's name, for the error (``"timeout"``, ``"ttl"`` ...).
        owner: Who takes the option (``"create_node"``); prefixes the error.
        zero: Whether 0 is allowed (it means "no wait" for the field).
        infinite: Whether ``math.inf`` is allowed (it means "no limit" for the field).
        maximum: The largest value allowed, if any.

    Returns:
        Float seconds: > 0 (>= 0 when ``zero``), finite (unless ``infinite``), <= ``maximum``.

    Raises:
        TypeError: Not an int, float or timedelta (a bool included).
        ValueError: NaN, infinite or 0 when not allowed, negative, or above ``maximum``.
    """
    name = f"{owner}: {field}" if owner else field
    if isinstance(value, timedelta):
        result = value / _ONE_SECOND
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    else:
        raise TypeError(
            f"{name} must be seconds (int or float) or a datetime.timedelta, "
            f"got {type(value).__name__}"
        )
    if (
        math.isnan(result)
        or result < 0
        or (result == 0 and not zero)
        or (math.isinf(result) and not infinite)
    ):
        bound = ">= 0" if zero else "> 0"
        finite = "" if infinite else "finite "
        raise ValueError(f"{name} must be a {finite}number of seconds {bound}, got {value!r}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{name} must be at most {maximum:.0f} seconds, got {value!r}")
    return result


def optional_seconds(value: object, field: str, **bounds: Unpack[Bounds]) -> float | None:
    """Like :func:`seconds` (with the same keyword arguments), but None (no limit) passes
    through."""
    if value is None:
        return None
    return seconds(value, field, **bounds)


class Bounds(TypedDict, total=False):
    """The keyword arguments :func:`seconds` and :func:`optional_seconds` share."""

    owner: str
    zero: bool
    infinite: bool
    maximum: float | None


def whole_seconds(value: object, field: str, *, owner: str = "") -> int:
    """A ttl for a cache backend, which store whole seconds: at least 1, no fraction.

    Raises:
        TypeError: As :func:`seconds`.
        ValueError: As :func:`seconds`, a fraction of a second, or less than 1 second.
    """
    result = seconds(value, field, owner=owner)
    name = f"{owner}: {field}" if owner else field
    if not result.is_integer():
        raise ValueError(f"{name} must be whole seconds (backends take ints), got {value!r}")
    if result < 1:
        raise ValueError(f"{name} must be at least 1 second, got {value!r}")
    return int(result)
