"""The real services some tests use: PostgreSQL and Redis.

Addresses come from ``LANGGRAPH_RUNNER_TEST_POSTGRES_URL`` and
``LANGGRAPH_RUNNER_TEST_REDIS_URL`` and default to the local services. A service
that does not answer a TCP connect within half a second is absent: its tests skip
with the reason in the summary, except under ``CI=true``, where an absent service
fails the test loudly (CI promises both services).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

POSTGRES_ENV = "LANGGRAPH_RUNNER_TEST_POSTGRES_URL"
REDIS_ENV = "LANGGRAPH_RUNNER_TEST_REDIS_URL"

POSTGRES_URL = os.environ.get(POSTGRES_ENV, "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")

_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379}


@functools.cache
def unreachable(url: str) -> str | None:
    """Why ``url``'s server can't be reached (one TCP connect, 0.5 s), or None if it answers."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return None
    except OSError as exc:
        return f"{host}:{port} did not answer ({exc.__class__.__name__})"


def require(name: str, url: str, env: str) -> str:
    """Return ``url`` if its service answers; else skip (or fail under CI=true) with the reason."""
    why = unreachable(url)
    if why is None:
        return url
    fail_or_skip(f"{name} unavailable: {why}; set {env} to use another server")


def fail_or_skip(reason: str) -> NoReturn:
    """Skip the test with ``reason``; under CI=true fail it (CI has every service and tool)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: it must be there)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A local TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_started(
    ready: Callable[[], bool], proc: subprocess.Popen[Any], seconds: float, why: Callable[[], str]
) -> None:
    """Poll ``ready`` until it answers True; ``fail_or_skip`` with ``why()`` when the server
    process ``proc`` exits or ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            fail_or_skip(why())
        time.sleep(0.2)


def stop_process(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM, ``grace`` seconds to exit, then SIGKILL."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def postgres_url() -> str:
    """The test PostgreSQL URL, or skip/fail as :func:`require` does."""
    return require("PostgreSQL", POSTGRES_URL, POSTGRES_ENV)


def database_url(kind: str, tmp_path: Path) -> str:
    """A fresh SQLite file (``kind="sqlite"``), or the test PostgreSQL (skipped as
    :func:`require` does, or when LangGraph's PostgreSQL saver is missing)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    pytest.importorskip("langgraph.checkpoint.postgres")
    return postgres_url()


def redis_url() -> str:
    """The test Redis URL, or skip/fail as :func:`require` does."""
    return require("Redis", REDIS_URL, REDIS_ENV)


@contextlib.contextmanager
def redis_prefix(url: str, kind: str) -> Iterator[str]:
    """A unique Redis key prefix for one test; every key under it is deleted afterwards."""
    import redis

    prefix = f"test:lgr:{kind}:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def terminate_backend(pid: int) -> None:
    """Terminate one backend of the test database (a test's own connection, by its pid)
    and wait until it is gone, so the locks it held are free. The shared server and the
    other tests' sessions are never touched."""
    import time

    import psycopg

    with psycopg.connect(postgres_url(), autocommit=True) as admin:
        row = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid = %s AND datname = current_database()",
            (pid,),
        ).fetchone()
        assert row is not None and row[0], f"backend {pid} is not this test database's"
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the terminated backend did not exit"
            time.sleep(0.01)
