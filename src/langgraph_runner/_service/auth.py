"""Tenancy from authentication: an API key names the caller's tenant.

``api_key_auth(keys)`` is the default ``authenticate(request) -> tenant``: it reads the
``X-API-Key`` header and answers the tenant the key belongs to. Any callable with that
signature can replace it (a JWT check, a gateway's header); one that raises
``Unauthenticated`` answers 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from langgraph_runner._records.exceptions import Unauthenticated

__all__ = ["API_KEY_HEADER", "Unauthenticated", "api_key_auth"]

API_KEY_HEADER = "X-API-Key"


def api_key_auth(keys: Mapping[str, str]) -> Callable[[Any], str]:
    """An ``authenticate`` that maps the ``X-API-Key`` header to a tenant.

    Args:
        keys: API key -> tenant. Keys are compared in constant time.

    Returns:
        ``authenticate(request) -> tenant``, raising ``Unauthenticated`` for a missing
        or unknown key.

    Raises:
        ValueError: ``keys`` is empty, or a key or tenant is not a non-empty string.
    """
    if not isinstance(keys, Mapping) or not keys:
        raise ValueError("api_key_auth: keys must be a non-empty mapping of API key -> tenant")
    for key, tenant in keys.items():
        if not (isinstance(key, str) and key and isinstance(tenant, str) and tenant):
            raise ValueError("api_key_auth: keys must map non-empty strings to non-empty strings")
    known = [(key.encode(), tenant) for key, tenant in keys.items()]

    def authenticate(request: Any) -> str:
        given = request.headers.get(API_KEY_HEADER)
        if not given:
            raise Unauthenticated(f"missing {API_KEY_HEADER} header")
        found = None
        for key, tenant in known:  # every key is compared: no early exit to time
            if hmac.compare_digest(key, given.encode()):
                found = tenant
        if found is None:
            raise Unauthenticated(f"unknown {API_KEY_HEADER}")
        return found

    return authenticate
