"""``NodeCache``: the node cache config and its I/O against LangGraph's cache backends.

Keys come from ``langgraph_runner._cache.keys`` (canonical JSON of the declared
inputs, the node name, its code fingerprint or version, its graph or namespace and
the config/context it sees; SHA-256). Entries live in LangGraph's cache backends
under ``("langgraph_runner", node)``, wrapped in an envelope so a cached ``None``
differs from a miss, serialized strictly and signed (``_cache_signing``): what a
backend returns is never decoded unless its signature matches. Backend trouble
never fails a node: it is a miss or a skipped store, and a ``node.cache_error``
event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, NamedTuple

from langchain_core.runnables import RunnableConfig
from langgraph.cache.base import BaseCache, FullKey
from langgraph.cache.memory import InMemoryCache

from langgraph_runner._cache.artifacts import (
    ARTIFACT_FIELD,
    ArtifactSpec,
    check_artifact_spec,
    missing_artifact,
)
from langgraph_runner._cache.backend_guard import BACKEND_PAUSE, BackendGuard, guarded_tiers
from langgraph_runner._cache.backends import PostgresCache, TieredCache, blocks_loop, is_shared
from langgraph_runner._cache.config import (
    check_backend,
    check_inputs,
    check_names,
    report,
    ttl_seconds,
)
from langgraph_runner._cache.keys import KEY_NAMESPACE, CacheKey, cache_key, code_fingerprint
from langgraph_runner._cache.scope import config_now, graph_identity, node_sees
from langgraph_runner._cache.signing import (
    ENV_KEY,
    EntryCodec,
    Rejected,
    resolve_signing_key,
    signed_view,
    warn_unshared_key,
)
from langgraph_runner._internal.durations import optional_seconds
from langgraph_runner._policies.context import TENANT_KEY
from langgraph_runner._records.classify import is_control_flow
from langgraph_runner._records.exceptions import BackendTimeout
from langgraph_runner._records.logs import EventLogger, get_event_logger
from langgraph_runner._records.sanitize import sanitize_message

__all__ = [
    "BACKEND_PAUSE",
    "ENV_KEY",
    "BackendTimeout",
    "CacheKey",
    "CacheLookup",
    "NodeCache",
    "PostgresCache",
    "TieredCache",
    "code_fingerprint",
    "default_backend",
]

_ENVELOPE = "langgraph_runner_cache"


class CacheLookup(NamedTuple):
    """Result of a lookup: ``hit`` tells a cached ``None`` from a miss."""

    hit: bool
    value: Any = None


_MISS = CacheLookup(False)


# --- the default backend ----------------------------------------------------

_default_lock = threading.Lock()
_default: InMemoryCache[Any] | None = None


def default_backend() -> InMemoryCache[Any]:
    """The process-wide ``InMemoryCache`` used when ``NodeCache(backend=None)``.

    Created on first use. It drops an entry only when a read finds it expired, so
    long-lived processes should set a ``ttl`` (or call ``NodeCache.clear``).
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = InMemoryCache()
    return _default


def _tenant(config: RunnableConfig | None) -> str | None:
    """The run's tenant (``configurable.tenant_id``), or None."""
    conf = (config or {}).get("configurable") or {}
    tenant = conf.get(TENANT_KEY)
    return None if tenant is None else str(tenant)


def _without_tenant(config: RunnableConfig | None) -> RunnableConfig | None:
    """``config`` without the tenant, for a cache shared across tenants."""
    if not config:
        return config
    conf = {k: v for k, v in (config.get("configurable") or {}).items() if k != TENANT_KEY}
    return {**config, "configurable": conf}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NodeCache:
    """Cache a node's result under a hash of its inputs, code, graph and what it sees.

    Args:
        inputs: Names of the input fields the result depends on (stored as a
            tuple). ``None`` hashes the whole input, which rarely hits when the
            state keeps growing (messages, errors): declare the fields.
        ttl: Entry lifetime in whole seconds (int or timedelta; stored as int).
            ``None`` keeps entries until cleared.
        version: Code version used instead of ``code_fingerprint(fn)``; bump it when
            globals, helpers, prompts or closure values without a canonical form
            change the result.
        scope: ``"global"`` shares entries across threads; ``"thread"`` also keys
            by ``configurable.thread_id``.
        namespace: Share entries across graphs under this name. ``None`` (the
            default) scopes entries to the graph the node runs in.
        key_config: The ``config["configurable"]`` names the node reads. ``None``
            keys every JSON-able configurable value when the node takes ``config``.
        key_context: The ``runtime.context`` fields the node reads. ``None`` keys the
            whole context when the node takes ``runtime``.
        backend: A LangGraph cache (``InMemoryCache``, ``SqliteCache``, ``RedisCache``
            with a sync client, ``PostgresCache``, ``TieredCache``); ``None`` uses
            ``default_backend()``.
        backend_timeout: Seconds one read or write of a shared backend (anything but
            process memory) may take, apart from the node's own timeouts. Past it
            the node runs uncached, with one ``node.cache_error`` warning, and the
            backend is left alone for ``BACKEND_PAUSE`` seconds (calls skipped, no
            more warnings). Each tier of a ``TieredCache`` is bounded and left alone
            on its own: a hung front tier (Redis) is skipped while the back tier
            (PostgreSQL) keeps serving. ``None``: no bound (a hung backend hangs the node).
        signing_key: Secret (str or bytes) that signs every entry; defaults to the
            ``LANGGRAPH_RUNNER_CACHE_KEY`` environment variable, else a random
            per-process key (entries then are readable by this process only).
        allowed_types: Classes (besides LangGraph's safe types: messages,
            documents, datetimes, ``Command``, ``Send`` ...) a cached result may hold.
        artifacts: Where the result references artifacts a hit needs: names of
            result fields holding a path or a list of paths, or a callable
            ``result -> paths``. ``artifact_paths`` in a dict result is always checked.
        artifact_exists: ``uri -> bool`` used for every artifact instead of the
            built-in check (local paths and ``file://`` URIs exist on disk; other
            URIs are trusted).
        shared_across_tenants: ``False`` (the default): a run with a tenant
            (``run(tenant=...)``, ``config["configurable"]["tenant_id"]``) reads and
            writes only its tenant's entries, whatever the node reads. ``True``:
            tenants share entries (the tenant id is left out of the key, also when
            the node takes ``config``): only for a node whose result cannot depend
            on who runs it.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field has a bad value.
    """

    inputs: Sequence[str] | None = None
    ttl: int | timedelta | None = None
    version: str | None = None
    scope: Literal["global", "thread"] = "global"
    namespace: str | None = None
    key_config: Sequence[str] | None = None
    key_context: Sequence[str] | None = None
    backend: BaseCache[Any] | None = None
    backend_timeout: float | None = 1.0
    signing_key: str | bytes | None = dataclasses.field(default=None, repr=False)
    allowed_types: Sequence[type] = ()
    artifacts: ArtifactSpec = None
    artifact_exists: Callable[[str], bool] | None = None
    shared_across_tenants: bool = False
    _codec: EntryCodec = dataclasses.field(init=False, repr=False, compare=False)
    _view: BaseCache[Any] = dataclasses.field(init=False, repr=False, compare=False)
    _guard: BackendGuard | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", check_inputs(self.inputs))
        object.__setattr__(self, "ttl", ttl_seconds(self.ttl))
        if self.version is not None and not isinstance(self.version, str):
            raise TypeError(f"NodeCache: version must be a str, got {self.version!r}")
        if self.version == "":
            raise ValueError("NodeCache: version must not be empty (use None for the source)")
        if self.scope not in ("global", "thread"):
            raise ValueError(f"NodeCache: scope must be 'global' or 'thread', got {self.scope!r}")
        if self.namespace is not None and not (isinstance(self.namespace, str) and self.namespace):
            raise TypeError(f"NodeCache: namespace must be a non-empty str, got {self.namespace!r}")
        object.__setattr__(self, "key_config", check_names("key_config", self.key_config))
        object.__setattr__(self, "key_context", check_names("key_context", self.key_context))
        if self.signing_key is not None and not isinstance(self.signing_key, (str, bytes)):
            raise TypeError("NodeCache: signing_key must be str or bytes")
        if self.signing_key is not None and len(self.signing_key) < 16:
            raise ValueError("NodeCache: signing_key must be at least 16 characters")
        if isinstance(self.allowed_types, (str, bytes)) or not all(
            isinstance(t, type) for t in self.allowed_types
        ):
            raise TypeError(f"NodeCache: allowed_types must be classes, got {self.allowed_types!r}")
        object.__setattr__(self, "allowed_types", tuple(self.allowed_types))
        if not isinstance(self.shared_across_tenants, bool):
            raise TypeError(
                "NodeCache: shared_across_tenants must be True or False, "
                f"got {self.shared_across_tenants!r}"
            )
        check_artifact_spec(self.artifacts, self.artifact_exists)
        if self.artifacts is not None and not callable(self.artifacts):
            object.__setattr__(self, "artifacts", tuple(self.artifacts))
        check_backend(self.backend)
        timeout = optional_seconds(self.backend_timeout, "backend_timeout", owner="NodeCache")
        key, configured = resolve_signing_key(self.signing_key)
        backend = self.resolved_backend
        if not configured and is_shared(backend):
            warn_unshared_key(type(backend).__name__)
        object.__setattr__(self, "_codec", EntryCodec(key, self.allowed_types))
        view = signed_view(backend)
        guarded = timeout is not None and is_shared(backend)
        guard = BackendGuard(timeout) if guarded and timeout is not None else None
        if guard is not None and timeout is not None and isinstance(view, TieredCache):
            # Each tier bounded and paused alone: an outage of the front tier must only cost
            # speed, never take the back tier (PostgreSQL) out with it.
            view, guard = guarded_tiers(view, timeout), None
        object.__setattr__(self, "_view", view)
        object.__setattr__(self, "_guard", guard)

    @property
    def ttl_seconds(self) -> int | None:
        """``ttl`` as the whole seconds handed to the backend."""
        return int(self.ttl.total_seconds()) if isinstance(self.ttl, timedelta) else self.ttl

    @property
    def resolved_backend(self) -> BaseCache[Any]:
        """``backend``, or the process-wide default cache."""
        return self.backend if self.backend is not None else default_backend()

    def key(
        self,
        node: str,
        state: Any,
        *,
        thread_id: str | None,
        fingerprint: str,
        config: RunnableConfig | None = None,
        accepts: Collection[str] | None = None,
    ) -> CacheKey:
        """The cache key for one call of ``node`` on ``state``.

        Args:
            node: The node name (also the namespace).
            state: The node input: a dict, pydantic model, dataclass or ``Send``
                payload (any other type only with ``inputs=None``). A declared
                field missing from a dict is absent, which differs from ``None``.
            thread_id: ``configurable.thread_id``; required for ``scope="thread"``.
            fingerprint: ``code_fingerprint(fn)``, computed once per node; ignored
                when ``version`` is set.
            config: The task's config; ``None`` reads the running LangGraph task's.
            accepts: The parameters LangGraph injects into the node (``"config"``,
                ``"runtime"`` ...); ``None`` (unknown) keys both config and context.

        Returns:
            The key, usable as a LangGraph ``FullKey``.

        Raises:
            TypeError: An input value has no canonical JSON form (the message names
                the node and field), or fields cannot be selected from ``state``.
            ValueError: Thread scope without a thread id, or a declared input that
                is not a field of a pydantic model or dataclass input.
        """
        if self.scope == "thread" and not thread_id:
            raise ValueError(
                f"node {node!r}: NodeCache(scope='thread') needs a thread id; invoke with "
                "config={'configurable': {'thread_id': ...}}"
            )
        config = config_now(config)
        if self.namespace is not None:
            graph: str | None = f"namespace:{self.namespace}"
        else:
            found = graph_identity(config)
            graph = None if found is None else f"graph:{found}"
        tenant = _tenant(config)
        if tenant is not None and self.shared_across_tenants:
            if self.key_config is None:  # declared names are keyed as declared
                config = _without_tenant(config)
            tenant = None
        sees = node_sees(
            node,
            config,
            accepts=accepts,
            key_config=self.key_config,
            key_context=self.key_context,
        )
        return cache_key(
            node,
            state,
            inputs=self.inputs,
            fingerprint=fingerprint,
            version=self.version,
            thread_id=thread_id if self.scope == "thread" else None,
            graph=graph,
            sees=sees,
            tenant=tenant,
        )

    # --- backend I/O: failures are reported and never reach the node ---

    def _failed(self, key: CacheKey, operation: str, exc: Exception, events: Any) -> None:
        if is_control_flow(exc):
            raise exc
        report(events, key, operation, exc)

    def _unwrap(self, key: CacheKey, found: Mapping[Any, Any], events: Any) -> Any:
        if not found:
            return _MISS
        # SqliteCache rebuilds namespaces by splitting on ",": do not index by our key.
        try:
            entry = self._codec.decode(key, next(iter(found.values())))
        except Rejected as exc:
            report(events, key, "lookup", exc)
            return _MISS
        except Exception as exc:
            self._failed(key, "lookup", exc, events)
            return _MISS
        if not isinstance(entry, dict) or entry.get("format") != _ENVELOPE or "value" not in entry:
            report(events, key, "lookup", "entry is not a langgraph_runner envelope")
            return _MISS
        return CacheLookup(True, entry["value"])

    def _stale(self, key: CacheKey, found: CacheLookup, events: Any) -> bool:
        if not found.hit:
            return False
        value = found.value
        plain = self.artifacts is None and self.artifact_exists is None
        if plain and isinstance(value, dict) and ARTIFACT_FIELD not in value:
            return False  # the common case, without the general walk
        try:
            missing = missing_artifact(found.value, self.artifacts, self.artifact_exists)
        except Exception as exc:  # a checker that fails cannot vouch for the hit
            self._failed(key, "artifacts", exc, events)
            return True
        if missing is None:
            return False
        log = events if events is not None else get_event_logger()
        if log.enabled(logging.INFO):
            log.emit(
                logging.INFO,
                "node.cache_artifact_missing",
                node=key.node,
                artifact=sanitize_message(missing),
            )
        return True

    def _encode(self, key: CacheKey, value: Any, events: Any) -> bytes | None:
        envelope = {"format": _ENVELOPE, "value": value}
        try:
            if self._codec.round_trips(envelope):
                return self._codec.encode(key, envelope, self.ttl_seconds)
        except Exception as exc:
            self._failed(key, "store", exc, events)
            return None
        report(events, key, "store", "value does not round-trip through the strict serializer")
        return None

    def lookup(self, key: CacheKey, *, events: EventLogger | None = None) -> CacheLookup:
        """Read and verify an entry; anything but a valid hit is a miss.

        A backend failure, an entry that is not ours or whose signature does not
        match is reported as ``node.cache_error`` (WARNING); a hit whose artifacts
        are gone is reported as ``node.cache_artifact_missing``. All are misses.

        Args:
            key: From ``key()``.
            events: Receives the events; the default event logger if None.

        Returns:
            ``CacheLookup(hit, value)``; each hit returns a fresh copy.
        """
        guard = self._guard
        try:
            if guard is None:
                found = self._view.get([key])
            elif guard.paused():
                return _MISS
            else:
                found = guard.call(self._view.get, [key])
        except Exception as exc:
            self._failed(key, "lookup", exc, events)
            return _MISS
        result = self._unwrap(key, found, events)
        return _MISS if self._stale(key, result, events) else result

    async def alookup(self, key: CacheKey, *, events: EventLogger | None = None) -> CacheLookup:
        """Async ``lookup``; backends that would block the event loop run in a thread."""
        backend = self._view
        try:
            pending = self._pending(backend.get, backend.aget, [key])
            if pending is None:
                return _MISS
            found = await pending
        except Exception as exc:
            self._failed(key, "lookup", exc, events)
            return _MISS
        result = self._unwrap(key, found, events)
        if result.hit and (self.artifacts is not None or self.artifact_exists is not None):
            stale = await asyncio.to_thread(self._stale, key, result, events)
        else:
            stale = self._stale(key, result, events)
        return _MISS if stale else result

    def _pending(
        self, call: Callable[[Any], Any], acall: Callable[[Any], Awaitable[Any]], arg: Any
    ) -> Awaitable[Any] | None:
        """What an async caller awaits for the backend's ``call(arg)``: its async twin
        ``acall(arg)``, or ``call`` in a thread where the backend would block the loop;
        through the guard when there is one. None while the guard pauses the backend."""
        guard = self._guard
        blocking = blocks_loop(self._view)
        if guard is not None:
            if guard.paused():
                return None
            return guard.acall_sync(call, arg) if blocking else guard.acall(acall(arg))
        return asyncio.to_thread(call, arg) if blocking else acall(arg)

    def store(self, key: CacheKey, value: Any, *, events: EventLogger | None = None) -> bool:
        """Sign and write an entry with ``ttl``; never raises for backend or serializer trouble.

        A value that would not come back equal through the strict serializer
        (tuples, classes not in ``allowed_types``) is not stored.

        Returns:
            Whether the value was handed to the backend.
        """
        entry = self._encode(key, value, events)
        if entry is None:
            return False
        guard = self._guard
        try:
            if guard is None:
                self._view.set({key: (entry, self.ttl_seconds)})
            elif guard.paused():
                return False
            else:
                guard.call(self._view.set, {key: (entry, self.ttl_seconds)})
        except Exception as exc:
            self._failed(key, "store", exc, events)
            return False
        return True

    async def astore(self, key: CacheKey, value: Any, *, events: EventLogger | None = None) -> bool:
        """Async ``store``; backends that would block the event loop run in a thread."""
        entry = self._encode(key, value, events)
        if entry is None:
            return False
        backend = self._view
        pairs: dict[FullKey, tuple[Any, int | None]] = {key: (entry, self.ttl_seconds)}
        try:
            pending = self._pending(backend.set, backend.aset, pairs)
            if pending is None:
                return False
            await pending
        except Exception as exc:
            self._failed(key, "store", exc, events)
            return False
        return True

    def clear(self, *nodes: str) -> None:
        """Delete every entry of the given nodes (in every graph) from the backend."""
        if nodes:
            self._view.clear([(KEY_NAMESPACE, node) for node in nodes])
