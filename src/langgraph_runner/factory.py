"""``node_factory``: graph-wide defaults for ``create_node``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from langgraph_runner.node import create_node

__all__ = ["NodeFactory", "node_factory"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = frozenset(inspect.signature(create_node).parameters) - {"fn", "name"}


class NodeFactory(Protocol):
    """What ``node_factory`` returns: ``create_node`` with defaults filled in."""

    @property
    def defaults(self) -> Mapping[str, Any]:
        """The defaults every node gets (read-only)."""
        ...

    def __call__(self, fn: F, /, **options: Any) -> F:
        """Wrap ``fn`` like ``create_node(fn, **{**defaults, **options})``."""
        ...


class _Factory:
    __slots__ = ("_defaults",)

    def __init__(self, defaults: dict[str, Any]) -> None:
        self._defaults = MappingProxyType(defaults)

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._defaults.items())
        return f"node_factory({inner})"

    def __call__(self, fn: F, /, **options: Any) -> F:
        return create_node(fn, **{**self._defaults, **options})


def node_factory(**defaults: Any) -> NodeFactory:
    """A ``create_node`` with defaults for every node of a graph; per-node arguments win.

    The defaults are validated now, by building a throwaway node with them, so
    a bad value fails here and not when the graph is built::

        make = node_factory(retry=RetryConfig(max_attempts=5), timeout=30, on_failure=alert)
        g.add_node("fetch", make(fetch))
        g.add_node("parse", make(parse, retry=None))   # per-node: no retries here

    A ``CircuitBreakerConfig`` default gives every node a breaker of its own; a
    ``CircuitBreaker`` instance or a key string makes them share one.

    Args:
        **defaults: Any keyword ``create_node`` takes, except ``name``.

    Returns:
        The factory: call it like ``create_node``; ``.defaults`` shows the defaults.

    Raises:
        TypeError: An unknown option, ``name``, or a default of the wrong type.
        ValueError: A default with a wrong value.
    """
    if "name" in defaults:
        raise TypeError("node_factory: 'name' cannot be a default (it names one node)")
    unknown = sorted(set(defaults) - _OPTIONS)
    if unknown:
        raise TypeError(
            f"node_factory: unknown option(s) {', '.join(unknown)}; "
            f"create_node takes {', '.join(sorted(_OPTIONS))}"
        )

    def _probe(state: Any) -> None:
        return None

    create_node(_probe, **defaults)
    return _Factory(dict(defaults))
