"""Durable cache backends: ``PostgresCache`` and the two-tier ``TieredCache``.

Both implement LangGraph's ``BaseCache`` (sync and async methods, TTL, clear by
namespace), so they work with ``NodeCache(backend=...)`` and with LangGraph's own
``compile(cache=...)``. ``PostgresCache`` needs the ``postgres`` extra
(``pip install "langgraph-runner[postgres]"``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from langgraph.cache.base import BaseCache, FullKey, Namespace, ValueT
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.checkpoint.serde.base import SerializerProtocol

from langgraph_runner._db.broken import retry_broken
from langgraph_runner._db.pool import PoolOptions, database_name, pool_options, sync_pool
from langgraph_runner._internal.durations import whole_seconds

__all__ = ["PostgresCache", "TieredCache", "blocks_loop", "is_shared", "with_serde"]

_logger = logging.getLogger("langgraph_runner._cache.node_cache")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _ns_text(ns: Sequence[str]) -> str:
    return json.dumps(list(ns), separators=(",", ":"), ensure_ascii=False)


class _Pool:
    """The connection pool of one ``PostgresCache``, shared by every view of it.

    ``NodeCache`` reads and writes through views of the backend (copies sharing its
    ``__dict__`` entries), so the pool lives in this holder: every ``NodeCache`` on
    one ``PostgresCache`` uses the same connections, and ``PostgresCache.close()``
    closes them. The pool is the package's own (``_db.pool.sync_pool``: psycopg_pool,
    bounded, idle connections checked), opened on first use.
    """

    __slots__ = ("conn_string", "database", "lock", "options", "pool", "ready")

    def __init__(self, conn_string: str, options: PoolOptions) -> None:
        self.conn_string = conn_string
        self.options = options
        self.database = database_name(conn_string)
        self.lock = threading.Lock()
        self.pool: Any = None
        self.ready = False  # the table was created on this pool

    def opened(self) -> Any:
        """The pool, opened if it is not."""
        with self.lock:
            if self.pool is None:
                self.pool = sync_pool(
                    self.conn_string,
                    {"autocommit": True, "connect_timeout": 10},
                    self.options,
                    name="langgraph-runner-cache",
                    min_size=0,  # opened as calls need them, one at a time
                    database=self.database,
                )
                self.ready = False
            return self.pool

    def close(self) -> None:
        with self.lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()


class PostgresCache(BaseCache[ValueT]):
    """A LangGraph cache in a PostgreSQL table; entries survive restarts.

    One pool of connections (autocommit, at most ``max_connections``; a call waits its
    turn when all are busy) is shared by the instance's threads and by every
    ``NodeCache`` using it; ``close()`` closes them (the next call opens a new pool). A
    call that meets a broken connection (a restarted server) runs again on a fresh one.
    Async methods run the sync ones in a worker thread so the event loop never
    blocks. Expired entries are invisible and deleted when read;
    ``purge_expired()`` deletes the rest.

    Args:
        conn_string: A libpq URL, e.g. ``postgresql://user@host:5432/db``.
        table: Table name (created if missing); letters, digits and ``_``.
        serde: Value serializer (LangGraph's default when None).
        max_connections: Connections the pool opens at most.

    Raises:
        ImportError: The ``postgres`` extra is not installed.
        TypeError: ``max_connections`` is not an int.
        ValueError: ``table`` is not a plain identifier, or ``max_connections`` < 1.
    """

    def __init__(
        self,
        conn_string: str,
        *,
        table: str = "langgraph_runner_cache",
        serde: SerializerProtocol | None = None,
        max_connections: int = 4,
    ) -> None:
        super().__init__(serde=serde)
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ImportError(
                'PostgresCache needs psycopg: pip install "langgraph-runner[postgres]"'
            ) from None
        if not isinstance(table, str) or not _TABLE.match(table):
            raise ValueError(f"PostgresCache: table must be a plain identifier, got {table!r}")
        options = pool_options("PostgresCache", max_connections=max_connections)
        self.conn_string = conn_string
        self.table = table
        self._pool = _Pool(conn_string, options)

    def _run(self, sql: str, params: Sequence[Any] = (), *, fetch: bool = False) -> Any:
        shared = self._pool
        pool = shared.opened()
        return retry_broken(
            self._once, pool, sql, params, fetch, database=shared.database, on_retry=pool.check
        )

    def _once(self, pool: Any, sql: str, params: Sequence[Any], fetch: bool) -> Any:
        """One attempt of ``sql`` on a connection of ``pool``."""
        with pool.connection() as conn:
            if not self._pool.ready:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (ns text NOT NULL, "
                    "key text NOT NULL, encoding text NOT NULL, value bytea NOT NULL, "
                    "expires_at timestamptz, PRIMARY KEY (ns, key))"
                )
                self._pool.ready = True
            cur = conn.execute(sql.format(table=self.table), params)
            return cur.fetchall() if fetch else cur.rowcount

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """The live entries among ``keys``."""
        if not keys:
            return {}
        rows = self._run(
            "SELECT ns, key, encoding, value, expires_at <= now() FROM {table} "
            "WHERE (ns, key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([_ns_text(ns) for ns, _ in keys], [key for _, key in keys]),
            fetch=True,
        )
        values: dict[FullKey, ValueT] = {}
        expired: list[tuple[str, str]] = []
        for ns, key, encoding, value, is_expired in rows:
            if is_expired:
                expired.append((ns, key))
                continue
            values[(tuple(json.loads(ns)), key)] = self.serde.loads_typed((encoding, value))
        if expired:
            self._run(
                "DELETE FROM {table} WHERE (ns, key) IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[])) AND expires_at <= now()",
                ([ns for ns, _ in expired], [key for _, key in expired]),
            )
        return values

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Async ``get`` (runs in a worker thread)."""
        return await asyncio.to_thread(self.get, keys)

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Write entries; a ttl (seconds) sets their expiry, None keeps them until cleared."""
        for (ns, key), (value, ttl) in pairs.items():
            encoding, data = self.serde.dumps_typed(value)
            self._run(
                "INSERT INTO {table} (ns, key, encoding, value, expires_at) VALUES "
                "(%s, %s, %s, %s, CASE WHEN %s::float8 IS NULL THEN NULL "
                "ELSE now() + make_interval(secs => %s::float8) END) "
                "ON CONFLICT (ns, key) DO UPDATE SET encoding = excluded.encoding, "
                "value = excluded.value, expires_at = excluded.expires_at",
                (_ns_text(ns), key, encoding, data, ttl, ttl),
            )

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Async ``set`` (runs in a worker thread)."""
        await asyncio.to_thread(self.set, pairs)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Delete the entries of ``namespaces``; every entry of the table when None."""
        if namespaces is None:
            self._run("DELETE FROM {table}")
        else:
            self._run(
                "DELETE FROM {table} WHERE ns = ANY(%s::text[])",
                ([_ns_text(ns) for ns in namespaces],),
            )

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Async ``clear`` (runs in a worker thread)."""
        await asyncio.to_thread(self.clear, namespaces)

    def purge_expired(self) -> int:
        """Delete expired entries; returns how many."""
        return int(self._run("DELETE FROM {table} WHERE expires_at <= now()"))

    def close(self) -> None:
        """Close the connection pool, shared by every ``NodeCache`` on this cache.

        The next call opens a new one.
        """
        self._pool.close()


def _shorter(ttl: int | None, cap: int | None) -> int | None:
    if ttl is None:
        return cap
    return ttl if cap is None else min(ttl, cap)


def _full(key: FullKey) -> FullKey:
    return (tuple(key[0]), key[1])


class TieredCache(BaseCache[ValueT]):
    """A fast cache in front of a durable one: read-through, write-through, TTL per tier.

    Reads try ``front`` first; a miss there reads ``back`` and promotes what it
    finds into ``front``. Writes go to ``back`` then ``front``. The front tier is
    best effort: its failures are logged and skipped, so an outage or a flush of
    the front tier (Redis) only costs speed.

    Args:
        front: The fast tier (``InMemoryCache``, ``RedisCache`` ...).
        back: The durable tier (``PostgresCache``, ``SqliteCache`` ...).
        front_ttl: Cap (seconds) on an entry's life in ``front``; also the life of
            promoted entries. None: the entry's own ttl (promoted: until evicted).
        back_ttl: Cap (seconds) on an entry's life in ``back``.

    Raises:
        TypeError: A tier is not a LangGraph ``BaseCache``.
        ValueError: A ttl cap below 1 second.
    """

    def __init__(
        self,
        front: BaseCache[ValueT],
        back: BaseCache[ValueT],
        *,
        front_ttl: int | timedelta | None = None,
        back_ttl: int | timedelta | None = None,
    ) -> None:
        super().__init__()
        for name, tier in (("front", front), ("back", back)):
            if not isinstance(tier, BaseCache):
                raise TypeError(f"TieredCache: {name} must be a BaseCache, got {tier!r}")
        self.front_ttl, self.back_ttl = (
            None if cap is None else whole_seconds(cap, name, owner="TieredCache")
            for name, cap in (("front_ttl", front_ttl), ("back_ttl", back_ttl))
        )
        self.front, self.back = front, back

    def with_serde(self, serde: SerializerProtocol) -> TieredCache[ValueT]:
        """The same tiers (shared stores), each using ``serde``."""
        return TieredCache(
            with_serde(self.front, serde),
            with_serde(self.back, serde),
            front_ttl=self.front_ttl,
            back_ttl=self.back_ttl,
        )

    def _front(self, operation: str, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as exc:
            _logger.warning("TieredCache: front tier %s failed: %s", operation, type(exc).__name__)
            return None

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Entries from ``front``, then the rest from ``back`` (promoted to ``front``)."""
        found = {_full(k): v for k, v in (self._front("get", self.front.get, keys) or {}).items()}
        missing = [k for k in keys if _full(k) not in found]
        if missing:
            from_back = {_full(k): v for k, v in self.back.get(missing).items()}
            if from_back:
                promote = {k: (v, self.front_ttl) for k, v in from_back.items()}
                self._front("promote", self.front.set, promote)
                found.update(from_back)
        return found

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, ValueT]:
        """Async ``get`` (runs in a worker thread: tiers may have blocking clients)."""
        return await asyncio.to_thread(self.get, keys)

    def set(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Write to ``back`` (errors raise), then ``front`` (errors are logged)."""
        self.back.set({k: (v, _shorter(ttl, self.back_ttl)) for k, (v, ttl) in pairs.items()})
        front = {k: (v, _shorter(ttl, self.front_ttl)) for k, (v, ttl) in pairs.items()}
        self._front("set", self.front.set, front)

    async def aset(self, pairs: Mapping[FullKey, tuple[ValueT, int | None]]) -> None:
        """Async ``set`` (runs in a worker thread)."""
        await asyncio.to_thread(self.set, pairs)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Clear both tiers."""
        self.back.clear(namespaces)
        self._front("clear", self.front.clear, namespaces)

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        """Async ``clear`` (runs in a worker thread)."""
        await asyncio.to_thread(self.clear, namespaces)


_VIEW_CLASSES: dict[type[Any], type[Any]] = {}


def _view_class(cls: type[Any]) -> type[Any]:
    view = _VIEW_CLASSES.get(cls)
    if view is None:
        # A view shares the backend's connection: it must never close it (SqliteCache.__del__).
        view = type(cls.__name__, (cls,), {"__del__": lambda self: None, "__module__": __name__})
        _VIEW_CLASSES[cls] = view
    return view


def with_serde(backend: BaseCache[Any], serde: SerializerProtocol) -> BaseCache[Any]:
    """A view of ``backend``: the same store (client, connection, memory), using ``serde``.

    Raises:
        TypeError: ``backend`` keeps no instance ``__dict__`` to share.
    """
    if isinstance(backend, TieredCache):
        return backend.with_serde(serde)
    state = getattr(backend, "__dict__", None)
    if not isinstance(state, dict):
        raise TypeError(f"NodeCache: cannot wrap backend {type(backend).__name__} (no __dict__)")
    cls = _view_class(type(backend))
    view: BaseCache[Any] = object.__new__(cls)
    view.__dict__.update(state)
    view.serde = serde
    return view


def is_shared(backend: BaseCache[Any]) -> bool:
    """Whether other processes may read ``backend`` (anything but process memory)."""
    if isinstance(backend, TieredCache):
        return is_shared(backend.front) or is_shared(backend.back)
    return not isinstance(backend, InMemoryCache)


def blocks_loop(backend: BaseCache[Any]) -> bool:
    """Whether ``backend``'s async methods would block the event loop (RedisCache's do)."""
    return isinstance(backend, RedisCache) and type(backend).aget is RedisCache.aget
