"""``NodeOptions``: the keyword options of ``create_node``, written once.

``create_node``, ``node_factory``, ``harden`` and the engine's ``build_spec``
all take ``**options: Unpack[NodeOptions]``, so a type checker sees the same
option list everywhere and a new option is added in one place (here, then read
in ``spec.build_spec``). The module sits at the bottom of the engine (it imports
no engine module) because ``spec`` is the lowest module that reads it; the
public name is ``langgraph_runner.NodeOptions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, TypedDict

from langgraph.types import TimeoutPolicy

from langgraph_runner._cache.node_cache import NodeCache
from langgraph_runner._limits.budget import Budget
from langgraph_runner._limits.ratelimit import RateLimit
from langgraph_runner._policies.circuit import CircuitBreaker, CircuitBreakerConfig
from langgraph_runner._policies.context import NodeContext
from langgraph_runner._policies.retry import RetryAttempt, RetryConfig
from langgraph_runner._records.logs import SupportsEvents
from langgraph_runner._records.record import NodeError
from langgraph_runner.metrics._collector import NodeMetricsCollector

__all__ = ["OPTION_NAMES", "BreakerOption", "Fallback", "NodeOptions", "OnError"]

BreakerOption = CircuitBreakerConfig | CircuitBreaker | str
"""``circuit_breaker=``: a config (node-local breaker), a breaker, or a shared key."""

Fallback = str | Callable[..., Any]
"""A node name to route to, or a callable run inline with fn's signature rules."""

OnError = Literal["record", "raise"]
"""``on_error=``: record the failure into state, or re-raise it."""


class NodeOptions(TypedDict, total=False):
    """The keyword options of ``create_node`` (every one optional).

    ``node_factory(**defaults)`` and ``harden(builder, **defaults)`` take the
    same options (except ``name``), so a dict of them can be typed once::

        options: NodeOptions = {"retry": 3, "timeout": 30}
        fetch = create_node(fetch_fn, **options)

    See ``create_node`` for what each option does.
    """

    name: str | None
    retry: RetryConfig | int | None
    on_retry_attempt: Callable[[RetryAttempt], Any] | None
    on_error: OnError
    logger: SupportsEvents | None
    cache: NodeCache | None
    metrics: NodeMetricsCollector | None
    timeout: float | timedelta | TimeoutPolicy | None
    deadline: float | timedelta | None
    on_timeout: Callable[[NodeContext], Any] | None
    circuit_breaker: BreakerOption | None
    fallback: Fallback | None
    on_failure: Callable[[NodeError, Any], Any] | None
    max_consecutive_failures: int | None
    rate_limit: RateLimit | Sequence[RateLimit] | None
    budget: Budget | Sequence[Budget] | None
    item_key: str | None


OPTION_NAMES: frozenset[str] = frozenset(NodeOptions.__optional_keys__)
"""Every option ``create_node`` takes, for refusing a misspelt one at runtime."""
