"""Signed cache entries: nothing a backend returns runs code or is served unless we wrote it."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ormsgpack
import psycopg
import pytest
import redis
from langgraph.cache.base import BaseCache
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import START, StateGraph
from pydantic import BaseModel
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._cache import signing as signing
from langgraph_runner._cache.node_cache import ENV_KEY, NodeCache, PostgresCache
from langgraph_runner._records.logs import get_event_logger
from tests import services
from tests.conftest import EventCapture, counting_closures

pytestmark = counting_closures

KEY = "test-signing-key-0123456789abcdef"
FP = "f" * 64


class S(TypedDict, total=False):
    q: str
    out: str


def _hostile(marker: Path) -> bytes:
    """The classic msgpack ext entry: LangGraph's serializer calls os.system on load."""
    args = ormsgpack.packb(("os", "system", [f"touch {marker}"]))
    return ormsgpack.packb(ormsgpack.Ext(1, args))


class _Raw:
    """A serializer that writes the given (encoding, bytes) pair as it is: an attacker's pen."""

    def dumps_typed(self, obj: tuple[str, bytes]) -> tuple[str, bytes]:
        return obj

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        return data


@pytest.fixture
def redis_client() -> Iterator[tuple[redis.Redis, str]]:
    """A Redis client and a unique key prefix, cleaned up afterwards."""
    client = redis.Redis.from_url(services.redis_url())
    prefix = f"lgr-sign-{uuid.uuid4().hex}:"
    yield client, prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def pg_table() -> Iterator[str]:
    """A unique PostgresCache table, dropped afterwards."""
    url = services.postgres_url()
    table = f"lgr_sign_{uuid.uuid4().hex[:12]}"
    yield table
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _stores(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Backend factory over one shared store: ``make(serde=None)``."""
    if kind == "postgres":
        table = request.getfixturevalue("pg_table")
        url = services.postgres_url()
        return lambda serde=None: PostgresCache(url, table=table, serde=serde)
    if kind == "sqlite":
        path = str(tmp_path / "cache.db")
        return lambda serde=None: SqliteCache(path=path, serde=serde)
    client, prefix = request.getfixturevalue("redis_client")
    return lambda serde=None: RedisCache(client, prefix=prefix, serde=serde)


def _plant(make: Callable[..., BaseCache[Any]], key: Any, encoding: str, data: bytes) -> None:
    make(_Raw()).set({key: ((encoding, data), None)})


def test_hostile_entry_really_runs_code_without_the_signed_view(tmp_path: Path) -> None:
    """Control: read with LangGraph's permissive serializer, the planted entry runs os.system."""
    marker = tmp_path / "pwned"
    backend: SqliteCache[Any] = SqliteCache(path=str(tmp_path / "c.db"))
    key = (("ns",), "k")
    _plant(lambda serde=None: SqliteCache(path=str(tmp_path / "c.db"), serde=serde), key,
           "msgpack", _hostile(marker))  # fmt: skip
    backend.serde = JsonPlusSerializer(allowed_msgpack_modules=True)
    backend.get([key])
    assert marker.exists()


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
@pytest.mark.parametrize("attack", ["msgpack-ext", "forged-json", "forged-signature"])
def test_planted_entry_runs_no_code_and_the_node_runs(
    kind: str, attack: str, tmp_path: Path, request: pytest.FixtureRequest, events: EventCapture
) -> None:
    """A hostile entry under a graph's real key (SQLite, Redis, PostgreSQL): no code runs,
    one warning, the node runs."""
    make = _stores(kind, tmp_path, request)
    marker = tmp_path / "pwned"
    calls: list[str] = []

    def answer(state: S) -> dict[str, Any]:
        calls.append(state["q"])
        return {"out": f"answer:{state['q']}"}

    cache = NodeCache(inputs=["q"], backend=make(), signing_key=KEY)
    g = StateGraph(S)
    g.add_node("answer", create_node(answer, cache=cache, logger=events))
    g.add_edge(START, "answer")
    graph = g.compile()
    assert graph.invoke({"q": "x"})["out"] == "answer:x"
    key = _only_key(kind, make, tmp_path, request)
    payload = {
        "msgpack-ext": ("msgpack", _hostile(marker)),
        "forged-json": ("json", b'{"format":"langgraph_runner_cache","value":{"out":"evil"}}'),
        "forged-signature": (
            signing.ENCODING,
            b"LGRS2" + b"\0" * 32 + b"\0" * 8 + b"\x07msgpack" + b"\x80",
        ),
    }[attack]
    _plant(make, key, *payload)
    assert graph.invoke({"q": "x"})["out"] == "answer:x"
    assert calls == ["x", "x"]
    assert not marker.exists()
    errors = events.named("node.cache_error")
    assert len(errors) == 1 and errors[0]["level"] == "warning"
    assert errors[0]["operation"] == "lookup"


def _only_key(
    kind: str, make: Callable[..., Any], tmp_path: Path, request: pytest.FixtureRequest
) -> Any:
    """The one FullKey the graph stored, read from the store itself."""
    if kind == "sqlite":
        with sqlite3.connect(tmp_path / "cache.db") as conn:
            rows = conn.execute("SELECT ns, key FROM cache").fetchall()
        assert len(rows) == 1
        return (tuple(rows[0][0].split(",")), rows[0][1])
    if kind == "postgres":
        with psycopg.connect(services.postgres_url()) as conn:
            found = conn.execute(f"SELECT ns, key FROM {request.getfixturevalue('pg_table')}")
            pg_rows = found.fetchall()
        assert len(pg_rows) == 1
        return (tuple(json.loads(pg_rows[0][0])), pg_rows[0][1])
    client, prefix = request.getfixturevalue("redis_client")
    names = [k.decode() for k in client.scan_iter(f"{prefix}*")]
    assert len(names) == 1
    ns_a, ns_b, digest = names[0][len(prefix) :].split(":")
    return ((ns_a, ns_b), digest)


def test_entry_signed_with_another_key_is_a_miss(events: EventCapture) -> None:
    """Workers with different keys cannot read each other's entries; a shared key can."""
    backend: InMemoryCache[Any] = InMemoryCache()
    writer = NodeCache(backend=backend, signing_key=KEY)
    key = writer.key("n", {}, thread_id=None, fingerprint=FP)
    assert writer.store(key, {"v": 1})
    other = NodeCache(backend=backend, signing_key="another-key-0123456789")
    assert not other.lookup(key, events=get_event_logger(events)).hit
    assert "signature" in events.named("node.cache_error")[0]["error"]
    assert NodeCache(backend=backend, signing_key=KEY).lookup(key).value == {"v": 1}


def test_entry_moved_to_another_key_is_a_miss() -> None:
    """The signature covers the address: a valid entry copied under another key is refused."""
    backend: InMemoryCache[Any] = InMemoryCache()
    cache = NodeCache(backend=backend, signing_key=KEY)
    alice = cache.key("n", {"user": "alice"}, thread_id=None, fingerprint=FP)
    bob = cache.key("n", {"user": "bob"}, thread_id=None, fingerprint=FP)
    cache.store(alice, {"secret": "alice's"})
    raw = backend._cache[alice.namespace][alice.digest]
    backend._cache[bob.namespace][bob.digest] = raw
    assert not cache.lookup(bob).hit
    assert cache.lookup(alice).value == {"secret": "alice's"}


def test_signing_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without signing_key=, LANGGRAPH_RUNNER_CACHE_KEY signs: every worker with it shares."""
    backend: InMemoryCache[Any] = InMemoryCache()
    monkeypatch.setenv(ENV_KEY, KEY)
    from_env = NodeCache(backend=backend)
    key = from_env.key("n", {}, thread_id=None, fingerprint=FP)
    from_env.store(key, {"v": 2})
    assert NodeCache(backend=backend, signing_key=KEY).lookup(key).value == {"v": 2}
    monkeypatch.delenv(ENV_KEY)
    assert not NodeCache(backend=backend).lookup(key).hit  # the per-process key differs


def test_shared_backend_without_a_key_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared backend with the per-process key warns once per process; memory never does."""
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.setattr(signing, "_warned_unshared", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        NodeCache(backend=InMemoryCache())
        NodeCache(backend=SqliteCache(path=str(tmp_path / "a.db")))
        NodeCache(backend=SqliteCache(path=str(tmp_path / "b.db")))
        NodeCache(backend=SqliteCache(path=str(tmp_path / "c.db")), signing_key=KEY)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and ENV_KEY in messages[0] and "SqliteCache" in messages[0]


def test_short_or_mistyped_signing_key_is_rejected() -> None:
    """A signing key must be str/bytes of at least 16 characters; the error names the field."""
    with pytest.raises(ValueError, match="signing_key"):
        NodeCache(signing_key="short")
    with pytest.raises(TypeError, match="signing_key"):
        NodeCache(signing_key=12345678901234567890)  # type: ignore[arg-type]


def test_signing_key_is_not_in_the_repr() -> None:
    """The secret never shows in logs that print the config."""
    assert KEY not in repr(NodeCache(signing_key=KEY))


def test_unlisted_classes_are_not_stored(events: EventCapture) -> None:
    """Only LangGraph's safe types and allowed_types are cached: anything else is skipped."""

    class Custom:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Custom)

    cache = NodeCache(backend=InMemoryCache(), signing_key=KEY)
    key = cache.key("n", {}, thread_id=None, fingerprint=FP)
    assert not cache.store(key, {"c": Custom()}, events=get_event_logger(events))
    assert not cache.lookup(key).hit


class Reply(BaseModel):
    """A user model a node returns."""

    text: str


def test_allowed_types_round_trip() -> None:
    """A class listed in allowed_types is cached and comes back equal."""
    cache = NodeCache(backend=InMemoryCache(), signing_key=KEY, allowed_types=[Reply])
    key = cache.key("n", {}, thread_id=None, fingerprint=FP)
    assert cache.store(key, {"reply": Reply(text="hi")})
    assert cache.lookup(key).value == {"reply": Reply(text="hi")}
    with pytest.raises(TypeError, match="allowed_types"):
        NodeCache(allowed_types=["Reply"])  # type: ignore[list-item]


def test_an_expired_entry_planted_again_is_a_miss(
    monkeypatch: pytest.MonkeyPatch, events: EventCapture
) -> None:
    """The expiry is signed: an entry copied back after its ttl, without one, is never served."""
    backend: InMemoryCache[Any] = InMemoryCache()
    cache = NodeCache(backend=backend, signing_key=KEY, ttl=60)
    key = cache.key("n", {}, thread_id=None, fingerprint=FP)
    cache.store(key, {"v": 1})
    view = signing.signed_view(backend)
    raw = view.get([key])[key]
    assert cache.lookup(key).value == {"v": 1}
    later = time.time() + 3600
    monkeypatch.setattr(signing.time, "time", lambda: later)
    view.set({key: (raw, None)})  # planted again, with no backend ttl
    log = get_event_logger(events)
    assert cache.lookup(key, events=log).hit is False
    assert "expired" in events.named("node.cache_error")[0]["error"]


@pytest.mark.parametrize("value", ["short", "x" * 31])
def test_a_short_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """LANGGRAPH_RUNNER_CACHE_KEY under 32 bytes is a clear error naming the variable."""
    monkeypatch.setenv(ENV_KEY, value)
    with pytest.raises(ValueError, match=r"LANGGRAPH_RUNNER_CACHE_KEY.*at least 32 bytes"):
        NodeCache(backend=InMemoryCache())
