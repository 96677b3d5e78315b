"""PostgresCache and TieredCache on the real services: BaseCache semantics, tiers, durability."""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from langgraph.cache.base import BaseCache
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.graph import START, StateGraph
from langgraph.types import CachePolicy
from redis.backoff import NoBackoff
from redis.retry import Retry
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._cache.backends import PostgresCache, TieredCache, is_shared
from langgraph_runner._cache.node_cache import NodeCache
from tests import services
from tests.conftest import counting_closures

pytestmark = counting_closures

KEY = "test-backends-key-0123456789abcdef"
FLUSH_DB = 13  # a Redis database this file owns: the durability test flushes it


class S(TypedDict, total=False):
    q: str
    out: str


@pytest.fixture
def pg() -> Iterator[PostgresCache[Any]]:
    """A PostgresCache on its own table, dropped afterwards."""
    url = services.postgres_url()
    table = f"lgr_cache_{uuid.uuid4().hex[:12]}"
    cache: PostgresCache[Any] = PostgresCache(url, table=table)
    yield cache
    cache.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def flushable_redis() -> Iterator[redis.Redis]:
    """A client on a Redis database this file owns (flushed by the tests, then cleaned)."""
    # The URL's own database would win over a db= keyword (redis-py): put ours in the URL.
    parts = urllib.parse.urlsplit(services.redis_url())
    client = redis.Redis.from_url(urllib.parse.urlunsplit(parts._replace(path=f"/{FLUSH_DB}")))
    assert client.connection_pool.connection_kwargs["db"] == FLUSH_DB  # never the shared one
    yield client
    client.flushdb()
    client.close()


def _ns() -> tuple[str, ...]:
    return ("lgr-test", uuid.uuid4().hex)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_postgres_cache_implements_base_cache(pg: PostgresCache[Any], mode: str) -> None:
    """get/set/clear (sync and async): values round-trip, clear is per namespace."""
    a, b = _ns(), _ns()
    pairs = {(a, "k1"): ({"v": [1, "x"]}, None), (b, "k2"): ("two", None)}
    if mode == "sync":
        pg.set(pairs)
        assert pg.get([(a, "k1"), (b, "k2"), (a, "none")]) == {(a, "k1"): {"v": [1, "x"]},
                                                              (b, "k2"): "two"}  # fmt: skip
        pg.clear([a])
        assert pg.get([(a, "k1"), (b, "k2")]) == {(b, "k2"): "two"}
        pg.clear()
        assert pg.get([(b, "k2")]) == {}
    else:
        await pg.aset(pairs)
        assert (await pg.aget([(a, "k1")])) == {(a, "k1"): {"v": [1, "x"]}}
        await pg.aclear([a])
        assert (await pg.aget([(a, "k1"), (b, "k2")])) == {(b, "k2"): "two"}
        await pg.aclear()


def test_postgres_ttl_expires_entries(pg: PostgresCache[Any]) -> None:
    """An entry with a ttl disappears after it; purge_expired deletes expired rows."""
    ns = _ns()
    pg.set({(ns, "short"): ("s", 60), (ns, "other"): ("o", 60), (ns, "long"): ("l", None)})
    assert len(pg.get([(ns, "short"), (ns, "long")])) == 2
    with psycopg.connect(pg.conn_string, autocommit=True) as conn:  # let an hour pass
        conn.execute(f"UPDATE {pg.table} SET expires_at = expires_at - interval '1 hour'")
    assert pg.get([(ns, "short"), (ns, "long")]) == {(ns, "long"): "l"}
    assert pg.purge_expired() == 1  # "other"; "short" was deleted when read


def test_postgres_reconnects_after_the_connection_dies(pg: PostgresCache[Any]) -> None:
    """A killed connection fails no call: the pool checks and replaces it."""
    ns = _ns()
    pg.set({(ns, "k"): ("v", None)})
    with psycopg.connect(pg.conn_string, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
            "pg_backend_pid() AND datname = current_database() AND query LIKE %s",
            (f"%{pg.table}%",),
        ).fetchall()
    assert killed  # the pool's connections that used this table
    for _ in range(3):
        assert pg.get([(ns, "k")]) == {(ns, "k"): "v"}


def test_bad_table_name_is_rejected() -> None:
    """The table name is an identifier, never SQL."""
    with pytest.raises(ValueError, match="table"):
        PostgresCache("postgresql://x", table="cache; DROP TABLE x")


def test_tiered_cache_reads_through_and_writes_through(pg: PostgresCache[Any]) -> None:
    """A back-tier hit is promoted to the front; writes reach both tiers; clear clears both."""
    front: InMemoryCache[Any] = InMemoryCache()
    tiered: TieredCache[Any] = TieredCache(front, pg)
    ns = _ns()
    tiered.set({(ns, "w"): ("written", None)})
    assert front.get([(ns, "w")]) and pg.get([(ns, "w")])
    pg.set({(ns, "b"): ("back only", None)})
    assert tiered.get([(ns, "b")]) == {(ns, "b"): "back only"}
    assert front.get([(ns, "b")]) == {(ns, "b"): "back only"}
    tiered.clear([ns])
    assert tiered.get([(ns, "w"), (ns, "b")]) == {}


def test_tiered_ttl_caps_each_tier(pg: PostgresCache[Any]) -> None:
    """front_ttl bounds the front tier while the back keeps the entry."""
    front: InMemoryCache[Any] = InMemoryCache()
    tiered: TieredCache[Any] = TieredCache(front, pg, front_ttl=5, back_ttl=3600)
    ns = _ns()
    tiered.set({(ns, "k"): ("v", None), (ns, "short"): ("s", 2)})
    now = time.time()
    expiry = {key: entry[2] for key, entry in front._cache[ns].items()}
    assert now + 3 < expiry["k"] <= now + 5 and expiry["short"] <= now + 2
    with psycopg.connect(pg.conn_string, autocommit=True) as conn:
        rows = conn.execute(f"SELECT key, expires_at - now() FROM {pg.table}").fetchall()
    left = {key: delta.total_seconds() for key, delta in rows}
    assert 3500 < left["k"] <= 3600 and left["short"] <= 2
    front.clear()  # the front tier forgets (as if expired): the back still serves
    assert tiered.get([(ns, "k")]) == {(ns, "k"): "v"}


def test_entries_survive_a_redis_flushdb(
    pg: PostgresCache[Any], flushable_redis: redis.Redis
) -> None:
    """NodeCache over Redis + PostgreSQL: after FLUSHDB the node still hits (from PostgreSQL)."""
    calls: list[str] = []

    def answer(state: S) -> dict[str, Any]:
        calls.append(state["q"])
        return {"out": state["q"].upper()}

    tiered: TieredCache[Any] = TieredCache(
        RedisCache(flushable_redis, prefix="lgr-tier:"), pg, front_ttl=60
    )
    g = StateGraph(S)
    g.add_node("answer", create_node(answer, cache=NodeCache(inputs=["q"], backend=tiered,
                                                              signing_key=KEY)))  # fmt: skip
    g.add_edge(START, "answer")
    graph = g.compile()
    assert graph.invoke({"q": "x"})["out"] == "X"
    assert list(flushable_redis.scan_iter("lgr-tier:*"))
    flushable_redis.flushdb()
    assert graph.invoke({"q": "x"})["out"] == "X"
    assert calls == ["x"]
    assert list(flushable_redis.scan_iter("lgr-tier:*"))  # promoted back into Redis


def test_front_tier_outage_only_costs_speed(pg: PostgresCache[Any]) -> None:
    """A dead Redis in front: reads and writes go to PostgreSQL."""
    client = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    dead = RedisCache(client, prefix="x:")
    tiered: TieredCache[Any] = TieredCache(dead, pg)
    ns = _ns()
    tiered.set({(ns, "k"): ("v", None)})
    assert tiered.get([(ns, "k")]) == {(ns, "k"): "v"}


def test_postgres_cache_serves_langgraph_cache_policy(pg: PostgresCache[Any]) -> None:
    """LangGraph's own compile(cache=...) works on PostgresCache too."""
    calls: list[str] = []

    def answer(state: S) -> dict[str, Any]:
        calls.append(state["q"])
        return {"out": state["q"]}

    g = StateGraph(S)
    g.add_node("answer", answer, cache_policy=CachePolicy())
    g.add_edge(START, "answer")
    graph = g.compile(cache=pg)
    graph.invoke({"q": "x"})
    graph.invoke({"q": "x"})
    assert calls == ["x"]


def test_shared_backends_are_told_apart(pg: PostgresCache[Any]) -> None:
    """Only process memory is private; a tier with a shared store makes the cache shared."""
    mem: BaseCache[Any] = InMemoryCache()
    assert not is_shared(mem) and is_shared(pg)
    assert is_shared(TieredCache(InMemoryCache(), pg))
    assert not is_shared(TieredCache(InMemoryCache(), InMemoryCache()))


def test_tier_config_is_validated() -> None:
    """Tiers must be caches and ttl caps whole positive seconds, naming the field."""
    with pytest.raises(TypeError, match="back"):
        TieredCache(InMemoryCache(), object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="front_ttl"):
        TieredCache(InMemoryCache(), InMemoryCache(), front_ttl=0)


async def test_tiered_cache_async_methods_promote_too(pg: PostgresCache[Any]) -> None:
    """aget/aset/aclear behave like their sync twins (and never block the event loop)."""
    front: InMemoryCache[Any] = InMemoryCache()
    tiered: TieredCache[Any] = TieredCache(front, pg)
    ns = _ns()
    await pg.aset({(ns, "b"): ("back", None)})
    assert await tiered.aget([(ns, "b")]) == {(ns, "b"): "back"}
    assert front.get([(ns, "b")]) == {(ns, "b"): "back"}
    await tiered.aset({(ns, "w"): ("both", 60)})
    assert pg.get([(ns, "w")]) == {(ns, "w"): "both"}
    await tiered.aclear([ns])
    assert await tiered.aget([(ns, "b"), (ns, "w")]) == {}


def _connections(pg: PostgresCache[Any], at_most: int = 1) -> int:
    """Server processes other than this one whose last query touched ``pg``'s table
    (waited for while more than ``at_most``)."""
    with psycopg.connect(pg.conn_string, autocommit=True) as admin:
        for _ in range(50):  # a closed connection's server process ends a moment later
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND datname = current_database() AND query LIKE %s",
                (f"%{pg.table}%",),
            ).fetchone()
            count = int(row[0]) if row else 0
            if count <= at_most:
                return count
            time.sleep(0.05)
    return count


def test_node_caches_on_one_postgres_cache_share_its_connections(pg: PostgresCache[Any]) -> None:
    """Five NodeCaches on one PostgresCache use one connection; close() closes it."""
    caches = [NodeCache(backend=pg, signing_key="k" * 32) for _ in range(5)]
    for i, cache in enumerate(caches):
        key = cache.key(f"node{i}", {"i": i}, thread_id=None, fingerprint="fp")
        assert cache.store(key, {"v": i})
        assert cache.lookup(key).value == {"v": i}
    assert _connections(pg) == 1
    pg.close()
    assert _connections(pg, at_most=0) == 0
