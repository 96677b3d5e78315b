"""Tests for _internal.redis_client: the one way the shared stores make a Redis client."""

from __future__ import annotations

import pytest

redis = pytest.importorskip("redis")

from langgraph_runner._internal.redis_client import redis_client  # noqa: E402


def test_a_url_gives_a_client_that_fails_fast() -> None:
    """A redis:// URL becomes a client with the timeout on connect and on every call."""
    client = redis_client("redis://127.0.0.1:1/0", timeout=0.25, owner="Store")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.25, 0.25)
    with pytest.raises((redis.ConnectionError, OSError)):
        client.ping()  # nothing listens on port 1: refused at once, no retries
    client.close()


def test_a_client_is_used_as_given() -> None:
    """A redis.Redis client passes through untouched."""
    given = redis.Redis()
    assert redis_client(given, timeout=1.0, owner="Store") is given
    given.close()


def test_anything_else_is_a_type_error_naming_the_store() -> None:
    """Neither a client nor a URL: TypeError with the store's name and the type given."""
    with pytest.raises(TypeError, match=r"RedisLimitStore: client must be .* got int"):
        redis_client(42, timeout=1.0, owner="RedisLimitStore")
