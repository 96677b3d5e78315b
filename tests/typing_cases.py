"""The documented calls of create_node, node_factory and harden, type-checked by test_typing.

Never imported by the suite: tests/integration/test_typing.py runs ``mypy --strict`` over
this file (and the documentation's examples) and expects no error. Each call here is one
the docs show, written as a user with a strict type checker would write it;
``assert_type`` pins what the call returns.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.graph import StateGraph
from langgraph.types import TimeoutPolicy
from typing_extensions import assert_type

from langgraph_runner import (
    CircuitBreaker,
    CircuitBreakerConfig,
    GraphState,
    NodeCache,
    NodeContext,
    NodeError,
    NodeFactory,
    NodeOptions,
    RetryAttempt,
    RetryConfig,
    create_node,
    harden,
    node_factory,
)
from langgraph_runner.metrics import NodeMetricsCollector


def fetch(state: GraphState) -> dict[str, Any]:
    return {}


async def afetch(state: GraphState, config: RunnableConfig) -> dict[str, Any]:
    return {}


def cleanup(ctx: NodeContext) -> None:
    return None


def on_retry(attempt: RetryAttempt) -> None:
    return None


def alert(record: NodeError, state: Any) -> None:
    return None


STATE = GraphState()
CONFIG = RunnableConfig()

# The wrapped function keeps its type: parameters, sync or async, return value.
assert_type(create_node(fetch)(STATE), dict[str, Any])
pending = create_node(afetch, retry=3)(STATE, CONFIG)  # never awaited: only its type matters
_ = assert_type(pending, Coroutine[Any, Any, dict[str, Any]])
as_callable: Callable[[GraphState], dict[str, Any]] = create_node(fetch, retry=3)
chain: Runnable[Any, Any] = RunnableLambda(lambda x: x)
assert_type(create_node(chain, retry=2), Runnable[Any, Any])

# docs/timeouts.md: float seconds, a timedelta, or LangGraph's own TimeoutPolicy.
create_node(fetch, timeout=10, deadline=60, on_timeout=cleanup)
create_node(fetch, timeout=timedelta(seconds=10), deadline=timedelta(minutes=1))
create_node(fetch, timeout=TimeoutPolicy(run_timeout=60, idle_timeout=10))
create_node(afetch, timeout=TimeoutPolicy(idle_timeout=0.2, refresh_on="heartbeat"))

# docs/create-node.md: every option, by keyword.
create_node(
    fetch,
    name="fetch",
    retry=RetryConfig(max_attempts=3, initial_interval=0.01),
    on_retry_attempt=on_retry,
    on_error="raise",
    logger=None,
    cache=NodeCache(),
    metrics=NodeMetricsCollector(),
    timeout=30.0,
    deadline=None,
    on_timeout=cleanup,
    circuit_breaker=CircuitBreakerConfig(failure_threshold=3),
    fallback="fallback_node",
    on_failure=alert,
    max_consecutive_failures=None,
)
create_node(fetch, circuit_breaker="crm-api", fallback=fetch)
create_node(fetch, circuit_breaker=CircuitBreaker("crm", CircuitBreakerConfig()))

# One dict of options, typed once.
options: NodeOptions = {"retry": 3, "timeout": 30, "on_failure": alert}
create_node(fetch, **options)

# node_factory: defaults for every node; per-node options win; the wrapped type is kept.
make: NodeFactory = node_factory(
    retry=RetryConfig(max_attempts=3, initial_interval=0.01), timeout=30, on_failure=alert
)
assert_type(make(fetch)(STATE), dict[str, Any])
make(fetch, retry=None, name="parse")
make(afetch, timeout=TimeoutPolicy(run_timeout=5))
node_factory(circuit_breaker="crm-api")
node_factory(circuit_breaker=CircuitBreakerConfig(failure_threshold=3))
node_factory(**options)

# harden: the same options for every node of a builder, per-node overrides, None to skip one.
builder = StateGraph(GraphState)
builder.add_node("fetch", fetch)
builder.add_node("tools", chain)
harden(builder, retry=3, timeout=30, overrides={"tools": {"retry": 5}, "fetch": None})
harden(
    StateGraph(GraphState), timeout=TimeoutPolicy(run_timeout=60), overrides={"x": options}
).compile()
