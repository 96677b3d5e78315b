"""A PostgreSQL connection that listens for notifications (``LISTEN``).

The run queue's idle workers wait on one (``_service/queue``): a run queued or
cancelled is heard at once instead of at the next poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_runner._db.broken import server_down
from langgraph_runner._db.lock_session import one_session
from langgraph_runner._db.pool import database_name
from langgraph_runner._internal.extras import require_extra

__all__ = ["Listener"]


class Listener:
    """One autocommitted PostgreSQL connection listening on ``channel``.

    Taken from a psycopg_pool pool of one, as a lock session's is: every connection
    the package makes comes from a pool.

    Args:
        conninfo: The database's connection string.
        kwargs: Its connection options.
        channel: The channel to ``LISTEN`` on (an identifier).
    """

    def __init__(self, conninfo: str, kwargs: Mapping[str, Any], channel: str) -> None:
        self._channel = channel
        self._conninfo = conninfo
        self._kwargs = dict(kwargs)
        self._pool: Any = None
        self._conn: Any = None

    def open(self) -> None:
        """Connect and ``LISTEN`` (notifications sent before this are not heard).

        Raises:
            psycopg.OperationalError: No connection within the lock session's wait (the
                server down: as a broken connection, ``broken.server_down``).
        """
        require_extra("postgres", "psycopg_pool")
        from psycopg_pool import ConnectionPool, PoolTimeout

        self.close()
        options = {**one_session(self._kwargs), "name": "langgraph-runner-listen"}
        pool = self._pool = ConnectionPool(self._conninfo, **options)
        pool.open(wait=False)
        try:
            self._conn = pool.getconn()
        except PoolTimeout as exc:  # the server is down: as a broken connection
            raise server_down(database_name(self._conninfo, self._kwargs)) from exc
        self._conn.execute(f"LISTEN {self._channel}")

    @property
    def backend_pid(self) -> int | None:
        """The server process of the connection (None: not open)."""
        conn = self._conn
        return None if conn is None else int(conn.info.backend_pid)

    def wait(self, timeout: float) -> list[str]:
        """The payloads of the notifications heard within ``timeout`` seconds; it returns
        at the first (with any that came with it), or with none at the timeout.

        Raises:
            psycopg.OperationalError: The connection broke (``open`` again).
        """
        return [n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)]

    def close(self) -> None:
        """Close the connection and its pool (no more notifications)."""
        conn, self._conn = self._conn, None
        pool, self._pool = self._pool, None
        if conn is not None:
            conn.close()
        if pool is not None:
            pool.close()
