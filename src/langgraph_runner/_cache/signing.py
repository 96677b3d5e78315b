"""Signed cache entries: nothing a backend returns is decoded unless we wrote it.

An entry is ``MAGIC | HMAC-SHA256 | expiry | len(type) | type | body``: ``body`` is
the envelope serialized by LangGraph's msgpack serializer restricted to its built-in
safe types plus the types the user allows; ``expiry`` is when the entry stops being
valid (Unix time, a big-endian double; 0 for never). The HMAC covers the entry's
address (namespace and digest), the expiry, the type and the body, so a forged
entry, a tampered one, one copied to another key or one planted again after it
expired is rejected before a byte of it is deserialized.

Backends never see the value itself: NodeCache talks to a *view* of the user's
backend whose serializer only passes bytes through (``SignedBytesSerde``). An entry
written by anything else (LangGraph's own ``CachePolicy``, an attacker planting a
msgpack ext constructor) comes back as a ``Foreign`` marker, never decoded.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
import threading
import time
import warnings
from collections.abc import Iterable
from typing import Any

from langgraph.cache.base import BaseCache
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from langgraph_runner._cache.backends import with_serde
from langgraph_runner._records.exceptions import Rejected

__all__ = [
    "ENV_KEY",
    "MIN_ENV_KEY_BYTES",
    "EntryCodec",
    "Foreign",
    "Rejected",
    "SignedBytesSerde",
    "resolve_signing_key",
    "signed_view",
    "warn_unshared_key",
]

ENV_KEY = "LANGGRAPH_RUNNER_CACHE_KEY"
"""Environment variable holding the signing key when ``NodeCache(signing_key=)`` is unset."""

ENCODING = "lgr-signed-2"
_MAGIC = b"LGRS2"
_MAC_SIZE = 32
_EXPIRY = struct.Struct(">d")
MIN_ENV_KEY_BYTES = 32
"""Shortest ``LANGGRAPH_RUNNER_CACHE_KEY`` accepted (bytes, UTF-8)."""
_PROCESS_KEY = secrets.token_bytes(32)  # entries signed with it are readable by this process only
_warn_lock = threading.Lock()
_warned_unshared = False


class Foreign:
    """What the view's serializer returns for an entry we did not write."""

    __slots__ = ("encoding",)

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding


class SignedBytesSerde:
    """A serializer that stores bytes as they are and never decodes anything else."""

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Tag already-signed bytes with our encoding."""
        if not isinstance(obj, bytes):
            raise TypeError(f"signed cache view stores bytes only, got {type(obj).__name__}")
        return ENCODING, obj

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Our bytes back, or a ``Foreign`` marker for any other encoding."""
        encoding, raw = data
        if encoding != ENCODING:
            return Foreign(str(encoding)[:40])
        return bytes(raw)


def resolve_signing_key(signing_key: str | bytes | None) -> tuple[bytes, bool]:
    """The key to sign with and whether the user configured it (argument or environment).

    Raises:
        ValueError: ``LANGGRAPH_RUNNER_CACHE_KEY`` is shorter than ``MIN_ENV_KEY_BYTES``.
    """
    if signing_key is None:
        signing_key = os.environ.get(ENV_KEY) or None
        if signing_key is not None and len(signing_key.encode()) < MIN_ENV_KEY_BYTES:
            raise ValueError(
                f"NodeCache: the {ENV_KEY} environment variable must be at least "
                f"{MIN_ENV_KEY_BYTES} bytes, got {len(signing_key.encode())} (make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    if signing_key is None:
        return _PROCESS_KEY, False
    raw = signing_key.encode() if isinstance(signing_key, str) else bytes(signing_key)
    # Stretch/normalise any length to one HMAC key; a key made for the cache only.
    return hashlib.sha256(b"langgraph_runner cache signing key\0" + raw).digest(), True


def warn_unshared_key(backend_name: str) -> None:
    """Warn once per process that a shared backend is used with a per-process key."""
    global _warned_unshared
    with _warn_lock:
        if _warned_unshared:
            return
        _warned_unshared = True
    warnings.warn(
        f"NodeCache: a shared backend ({backend_name}) is used without a signing key, so "
        "entries are signed with a random per-process key and other processes cannot read "
        f"them; set NodeCache(signing_key=...) or the {ENV_KEY} environment variable to the "
        "same secret in every worker",
        UserWarning,
        stacklevel=4,
    )


class EntryCodec:
    """Signs and verifies entries with one key and a strict serializer."""

    def __init__(self, key: bytes, allowed_types: Iterable[type | tuple[str, ...]] = ()) -> None:
        allowed = list(allowed_types)
        self._key = key
        # An explicit list (even empty) makes the serializer strict: LangGraph's safe types only.
        self._serde = JsonPlusSerializer(allowed_msgpack_modules=allowed or None)

    def _mac(self, address: Any, expiry: bytes, kind: bytes, body: bytes) -> bytes:
        # Length-prefixed parts, so no two (address, kind, body) triples share a message.
        parts = [p.encode("utf-8", "surrogatepass") for p in (*address[0], address[1])]
        head = b"".join(b"%d:%s" % (len(p), p) for p in parts)
        message = b"%s%s%d:%s%s" % (head, expiry, len(kind), kind, body)
        return hmac.digest(self._key, message, "sha256")

    def round_trips(self, value: Any) -> bool:
        """Whether ``value`` comes back equal through the strict serializer."""
        return bool(self._serde.loads_typed(self._serde.dumps_typed(value)) == value)

    def encode(self, address: Any, value: Any, ttl: float | None = None) -> bytes:
        """A signed entry for ``value`` stored at ``address`` (a FullKey), valid ``ttl`` seconds."""
        kind, body = self._serde.dumps_typed(value)
        kind_bytes = kind.encode()
        expiry = _EXPIRY.pack(0.0 if ttl is None else time.time() + ttl)
        mac = self._mac(address, expiry, kind_bytes, body)
        return _MAGIC + mac + expiry + bytes([len(kind_bytes)]) + kind_bytes + body

    def decode(self, address: Any, entry: Any) -> Any:
        """The value of a verified, unexpired entry.

        Raises:
            Rejected: Not our entry, its signature does not match, or it expired.
        """
        if isinstance(entry, Foreign):
            raise Rejected(f"entry was not written by NodeCache (encoding {entry.encoding!r})")
        if not isinstance(entry, bytes) or not entry.startswith(_MAGIC):
            raise Rejected("entry is not a signed NodeCache entry")
        start = len(_MAGIC)
        head = start + _MAC_SIZE + _EXPIRY.size
        mac, expiry = entry[start : start + _MAC_SIZE], entry[start + _MAC_SIZE : head]
        size = entry[head : head + 1]
        if len(size) != 1:
            raise Rejected("entry is truncated")
        kind_end = head + 1 + size[0]
        kind, body = entry[head + 1 : kind_end], entry[kind_end:]
        if not hmac.compare_digest(mac, self._mac(address, expiry, kind, body)):
            raise Rejected(
                "entry signature does not match (tampered, or written with another signing key)"
            )
        expires_at = _EXPIRY.unpack(expiry)[0]
        if expires_at and expires_at <= time.time():
            raise Rejected("entry expired (its signed expiry has passed)")
        return self._serde.loads_typed((kind.decode(), body))


def signed_view(backend: BaseCache[Any]) -> BaseCache[Any]:
    """The same store as ``backend`` (shared client/connection), with ``SignedBytesSerde``."""
    return with_serde(backend, SignedBytesSerde())
