"""NodeCache: config validation, scope, and I/O against LangGraph's cache backends."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from langgraph.cache.base import BaseCache, FullKey, Namespace
from langgraph.cache.memory import InMemoryCache
from langgraph.cache.redis import RedisCache
from langgraph.cache.sqlite import SqliteCache
from langgraph.types import Command, Send
from redis.backoff import NoBackoff
from redis.retry import Retry

from langgraph_runner._cache import keys as cache_keys
from langgraph_runner._cache.keys import cache_key
from langgraph_runner._cache.node_cache import (
    CacheKey,
    NodeCache,
    code_fingerprint,
    default_backend,
)
from langgraph_runner._records.logs import get_event_logger
from tests import services
from tests.conftest import EventCapture

FP = "f" * 64

# Run in a fresh process with strict msgpack (it is read once, at import).
_STRICT = """
import datetime, json
import pydantic
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.serde import _msgpack
from langgraph.types import Command, Send
from langgraph_runner._cache.node_cache import NodeCache

class Model(pydantic.BaseModel):
    a: int

cache = NodeCache(backend=InMemoryCache())
key = cache.key("rt", {}, thread_id=None, fingerprint="f")

def round_trip(value):
    stored = cache.store(key, value)
    found = cache.lookup(key)
    cache.clear("rt")
    return [stored, found.hit and found.value == value]

results = {"strict_enabled": _msgpack.STRICT_MSGPACK_ENABLED}
results["round_trips"] = {
    "dict": round_trip({"a": 1, "b": [1.5, None, "x"], "c": {"d": True}}),
    "none": round_trip(None),
    "datetime": round_trip({"d": datetime.datetime(2024, 1, 1)}),
    "command": round_trip(Command(update={"a": 1}, goto=[Send("n", {"x": 1})])),
    "user_model": round_trip({"m": Model(a=1)}),
}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def subprocess_results() -> dict[str, Any]:
    """Strict-msgpack round trips, computed in a fresh process."""
    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true"}
    out = subprocess.run(
        [sys.executable, "-c", _STRICT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _node(name: str = "n") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# --- config -------------------------------------------------------------------


def test_config_normalises_inputs_and_ttl() -> None:
    """Inputs become a tuple and ttl whole int seconds, from int, integral float or timedelta."""
    cache = NodeCache(inputs=["url", "lang"], ttl=dt.timedelta(minutes=2))
    assert cache.inputs == ("url", "lang")
    assert cache.ttl == 120
    assert cache.ttl_seconds == 120
    assert NodeCache(ttl=5.0).ttl == 5  # type: ignore[arg-type]  # lenient at run time
    assert NodeCache().ttl is None
    declared = NodeCache(key_config=["user_id"], key_context=["tenant"], artifacts=["report"])
    assert (declared.key_config, declared.key_context) == (("user_id",), ("tenant",))
    assert declared.artifacts == ("report",)
    assert hash(declared) == hash(
        NodeCache(key_config=["user_id"], key_context=["tenant"], artifacts=["report"])
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"inputs": "url"}, TypeError, "inputs"),
        ({"inputs": []}, ValueError, "inputs"),
        ({"inputs": ["url", ""]}, TypeError, "inputs"),
        ({"inputs": ["url", 3]}, TypeError, "inputs"),
        ({"inputs": ["url", "url"]}, ValueError, "inputs"),
        ({"ttl": 0}, ValueError, "ttl"),
        ({"ttl": -5}, ValueError, "ttl"),
        ({"ttl": 1.5}, ValueError, "ttl"),
        ({"ttl": True}, TypeError, "ttl"),
        ({"ttl": "60"}, TypeError, "ttl"),
        ({"ttl": dt.timedelta(milliseconds=1500)}, ValueError, "ttl"),
        ({"ttl": dt.timedelta(0)}, ValueError, "ttl"),
        ({"version": 2}, TypeError, "version"),
        ({"version": ""}, ValueError, "version"),
        ({"scope": "user"}, ValueError, "scope"),
        ({"backend": {}}, TypeError, "backend"),
        ({"namespace": ""}, TypeError, "namespace"),
        ({"namespace": 3}, TypeError, "namespace"),
        ({"key_config": "user_id"}, TypeError, "key_config"),
        ({"key_context": [""]}, TypeError, "key_context"),
        ({"artifact_exists": "yes"}, TypeError, "artifact_exists"),
        ({"signing_key": "too-short"}, ValueError, "signing_key"),
    ],
)
def test_bad_config_is_rejected_naming_the_field(
    kwargs: dict[str, Any], error: type[Exception], field: str
) -> None:
    """Each invalid field raises at construction with a message naming it."""
    with pytest.raises(error, match=field):
        NodeCache(**kwargs)


def test_redis_backend_with_async_client_is_rejected() -> None:
    """RedisCache never awaits its client, so an asyncio client is refused up front."""
    with pytest.raises(TypeError, match="backend"):
        NodeCache(backend=RedisCache(redis.asyncio.Redis()))


def test_config_is_frozen_and_keyword_only() -> None:
    """Fields cannot be reassigned nor passed positionally."""
    cache = NodeCache(inputs=["url"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cache.ttl = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        NodeCache(["url"])  # type: ignore[call-arg]


# --- keys -----------------------------------------------------------------------


def test_key_follows_the_config() -> None:
    """NodeCache.key is cache_key over its declared inputs and version."""
    state = {"url": "a", "log": [1]}
    cache = NodeCache(inputs=["url"], version="v2")
    expected = cache_key("n", state, inputs=["url"], fingerprint=FP, version="v2")
    assert cache.key("n", state, thread_id="t1", fingerprint=FP) == expected
    assert NodeCache().key("n", state, thread_id=None, fingerprint=FP) == cache_key(
        "n", state, inputs=None, fingerprint=FP
    )


def test_thread_scope_keys_by_thread_and_needs_one() -> None:
    """Thread scope separates threads and refuses a missing thread id; global ignores it."""
    thread = NodeCache(scope="thread")
    key = thread.key("n", {"a": 1}, thread_id="t1", fingerprint=FP)
    assert thread.key("n", {"a": 1}, thread_id="t2", fingerprint=FP) != key
    with pytest.raises(ValueError, match="thread_id"):
        thread.key("n", {"a": 1}, thread_id=None, fingerprint=FP)
    glob = NodeCache()
    g1 = glob.key("n", {"a": 1}, thread_id="t1", fingerprint=FP)
    assert glob.key("n", {"a": 1}, thread_id="t2", fingerprint=FP) == g1 != key


def test_reexports_key_helpers() -> None:
    """CacheKey and code_fingerprint stay importable from langgraph_runner._cache.node_cache."""
    assert CacheKey is cache_keys.CacheKey
    assert code_fingerprint is cache_keys.code_fingerprint


# --- backends -------------------------------------------------------------------


@pytest.fixture
def redis_backend() -> Iterator[RedisCache[Any]]:
    """A RedisCache on the real Redis under a unique prefix, deleted afterwards."""
    client = redis.Redis.from_url(services.redis_url())
    prefix = f"lgr-test-{uuid.uuid4().hex}:"
    yield RedisCache(client, prefix=prefix)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache[Any]:
    """Each of LangGraph's cache backends."""
    if request.param == "memory":
        return InMemoryCache()
    if request.param == "sqlite":
        return SqliteCache(path=str(tmp_path / "cache.db"))
    return request.getfixturevalue("redis_backend")  # type: ignore[no-any-return]


async def _lookup(cache: NodeCache, key: CacheKey, mode: str, **kw: Any) -> Any:
    return await cache.alookup(key, **kw) if mode == "async" else cache.lookup(key, **kw)


async def _store(cache: NodeCache, key: CacheKey, value: Any, mode: str, **kw: Any) -> bool:
    return (
        await cache.astore(key, value, **kw) if mode == "async" else cache.store(key, value, **kw)
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_round_trip_through_each_backend(backend: BaseCache[Any], mode: str) -> None:
    """Miss, then a hit equal to what was stored, as a fresh copy each time."""
    cache = NodeCache(inputs=["url"], backend=backend)
    key = cache.key(_node(), {"url": "u"}, thread_id=None, fingerprint=FP)
    assert tuple(await _lookup(cache, key, mode)) == (False, None)
    value = {"text": "héllo", "n": [1, 2.5, None, True], "meta": {"k": "v"}}
    assert await _store(cache, key, value, mode)
    first = await _lookup(cache, key, mode)
    assert first.hit
    assert first.value == value
    assert first.value is not value
    first.value["n"].append("mutated")
    assert (await _lookup(cache, key, mode)).value == value


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_cached_none_and_commands_round_trip(backend: BaseCache[Any], mode: str) -> None:
    """A node that returned None hits with None; a Command comes back equal."""
    cache = NodeCache(backend=backend)
    none_key = cache.key(_node(), {"a": 1}, thread_id=None, fingerprint=FP)
    assert await _store(cache, none_key, None, mode)
    assert tuple(await _lookup(cache, none_key, mode)) == (True, None)
    command: Command[str] = Command(update={"a": 1}, goto=[Send("next", {"x": 1})])
    cmd_key = cache.key(_node(), {"a": 1}, thread_id=None, fingerprint=FP)
    assert await _store(cache, cmd_key, command, mode)
    assert (await _lookup(cache, cmd_key, mode)).value == command


def test_clear_removes_only_the_named_nodes(backend: BaseCache[Any]) -> None:
    """clear(node) drops that node's entries and leaves other nodes alone."""
    cache = NodeCache(backend=backend)
    gone, kept = _node("gone"), _node("kept")
    gone_key = cache.key(gone, {}, thread_id=None, fingerprint=FP)
    kept_key = cache.key(kept, {}, thread_id=None, fingerprint=FP)
    cache.store(gone_key, {"v": 1})
    cache.store(kept_key, {"v": 2})
    cache.clear(gone)
    assert not cache.lookup(gone_key).hit
    assert cache.lookup(kept_key).value == {"v": 2}


def test_ttl_is_honoured_by_every_backend(tmp_path: Path, redis_backend: RedisCache[Any]) -> None:
    """Entries stored with ttl=1 hit at once and are gone after one short real sleep."""
    backends = [InMemoryCache(), SqliteCache(path=str(tmp_path / "ttl.db")), redis_backend]
    entries = []
    for backend in backends:
        cache = NodeCache(ttl=1, backend=backend)
        key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
        assert cache.store(key, {"v": 1})
        assert cache.lookup(key).hit
        entries.append((cache, key))
    redis_key = redis_backend._make_key(*entries[2][1])
    assert 0 < redis_backend.redis.ttl(redis_key) <= 1
    time.sleep(1.2)
    assert [cache.lookup(key).hit for cache, key in entries] == [False, False, False]


def test_default_backend_is_one_shared_cache() -> None:
    """backend=None resolves to one process-wide InMemoryCache shared by every NodeCache."""
    node = _node()
    writer, reader = NodeCache(), NodeCache(version="ignored-here")
    assert writer.resolved_backend is reader.resolved_backend is default_backend()
    assert isinstance(default_backend(), InMemoryCache)
    key = writer.key(node, {}, thread_id=None, fingerprint=FP)
    writer.store(key, {"v": 1})
    assert reader.lookup(key).value == {"v": 1}
    writer.clear(node)


def test_value_that_does_not_round_trip_is_not_stored(events: EventCapture) -> None:
    """A value the serializer would change (a tuple) is skipped, with one warning per node."""
    cache = NodeCache(backend=InMemoryCache())
    key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
    log = get_event_logger(events)
    assert not cache.store(key, {"pair": (1, 2)}, events=log)
    assert not cache.store(key, {"pair": (1, 2)}, events=log)
    assert not cache.lookup(key).hit
    levels = [e["level"] for e in events.named("node.cache_error")]
    assert levels == ["warning", "debug"]
    assert events.named("node.cache_error")[0]["node"] == key.node


def test_strict_msgpack_round_trips(subprocess_results: dict[str, Any]) -> None:
    """Strict msgpack: dicts, None, datetimes and Commands round-trip; user models are refused."""
    assert subprocess_results["strict_enabled"] is True
    assert subprocess_results["round_trips"] == {
        "dict": [True, True],
        "none": [True, True],
        "datetime": [True, True],
        "command": [True, True],
        "user_model": [False, False],
    }


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_backend_failure_is_a_miss_and_reported(
    tmp_path: Path, events: EventCapture, mode: str
) -> None:
    """A raising backend never fails the caller: lookup misses, store is skipped, both logged."""
    backend: SqliteCache[Any] = SqliteCache(path=str(tmp_path / "broken.db"))
    backend._conn.close()
    cache = NodeCache(backend=backend)
    key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
    log = get_event_logger(events)
    assert tuple(await _lookup(cache, key, mode, events=log)) == (False, None)
    assert await _store(cache, key, {"v": 1}, mode, events=log) is False
    reported = events.named("node.cache_error")
    assert [(e["operation"], e["level"], e["error_type"]) for e in reported] == [
        ("lookup", "warning", "ProgrammingError"),
        ("store", "warning", "ProgrammingError"),
    ]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_redis_down_behaves_as_a_miss(mode: str) -> None:
    """RedisCache on a closed port: lookups miss and stores do not raise (RedisCache swallows)."""
    client = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    cache = NodeCache(backend=RedisCache(client, prefix=f"lgr-down-{uuid.uuid4().hex}:"))
    key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
    await _store(cache, key, {"v": 1}, mode)
    assert tuple(await _lookup(cache, key, mode)) == (False, None)


def test_foreign_entry_is_a_miss(events: EventCapture) -> None:
    """Something other than our envelope under our key is reported and treated as a miss."""
    backend: InMemoryCache[Any] = InMemoryCache()
    cache = NodeCache(backend=backend)
    key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
    backend.set({key: ({"not": "ours"}, None)})
    assert not cache.lookup(key, events=get_event_logger(events)).hit
    assert events.named("node.cache_error")[0]["operation"] == "lookup"


class _DictCache(BaseCache[Any]):
    """A custom backend that keeps objects as they are, without serializing."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[FullKey, Any] = {}

    def get(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        return {k: self.data[k] for k in keys if k in self.data}

    async def aget(self, keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        return self.get(keys)

    def set(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        self.data.update({k: v for k, (v, _ttl) in pairs.items()})

    async def aset(self, pairs: Mapping[FullKey, tuple[Any, int | None]]) -> None:
        self.set(pairs)

    def clear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        self.data.clear()

    async def aclear(self, namespaces: Sequence[Namespace] | None = None) -> None:
        self.clear()


def test_custom_backend_hits_are_copies() -> None:
    """With a backend that hands out stored objects, callers still cannot mutate the cache."""
    cache = NodeCache(backend=_DictCache())
    key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
    cache.store(key, {"items": [1]})
    cache.lookup(key).value["items"].append(2)
    assert cache.lookup(key).value == {"items": [1]}


async def test_async_redis_lookup_runs_off_the_event_loop(
    redis_backend: RedisCache[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RedisCache's blocking client is called from a worker thread under alookup/astore."""
    loop_thread = asyncio.get_running_loop()
    seen: list[bool] = []
    real_get = redis_backend.get

    def spy(keys: Sequence[FullKey]) -> dict[FullKey, Any]:
        try:
            asyncio.get_running_loop()
            seen.append(asyncio.get_running_loop() is loop_thread)
        except RuntimeError:
            seen.append(False)
        return real_get(keys)

    cache = NodeCache(backend=redis_backend)
    real_get = cache._view.get
    monkeypatch.setattr(cache._view, "get", spy)
    key = cache.key(_node(), {}, thread_id=None, fingerprint=FP)
    await cache.astore(key, {"v": 1})
    assert (await cache.alookup(key)).value == {"v": 1}
    assert seen == [False]
