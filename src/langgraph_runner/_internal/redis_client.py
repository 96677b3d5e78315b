"""A Redis client for the package's shared stores (breakers, limits): one way to make it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_runner._internal.extras import require_extra

if TYPE_CHECKING:
    import redis

__all__ = ["redis_client"]


def redis_client(client: Any, *, timeout: float, owner: str) -> redis.Redis:
    """``client`` itself, or a client for a ``redis://`` URL that fails fast.

    A client made from a URL gives up on a call after ``timeout`` seconds and never
    retries on its own: the stores decide what an unreachable Redis means.

    Raises:
        TypeError: ``client`` is neither a ``redis.Redis`` client nor a URL (``owner``
            names the store in the message).
    """
    redis_mod = require_extra("redis", "redis")
    if isinstance(client, str):
        retry = require_extra("redis", "redis.retry").Retry
        backoff = require_extra("redis", "redis.backoff").NoBackoff
        made: redis.Redis = redis_mod.Redis.from_url(
            client,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=retry(backoff(), 0),
        )
        return made
    if isinstance(client, redis_mod.Redis):
        given: redis.Redis = client
        return given
    raise TypeError(
        f"{owner}: client must be a redis.Redis client or a redis:// URL, "
        f"got {type(client).__name__}"
    )
