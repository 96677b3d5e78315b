"""Tenancy from authentication: an API key, or LangGraph Server's user, names the tenant.

``api_key_auth(keys)`` is the default ``authenticate(request) -> tenant``: it reads the
``X-API-Key`` header and answers the tenant the key belongs to. Any callable with that
signature can replace it (a JWT check, a gateway's header); one that raises
``Unauthenticated`` answers 401. ``langgraph_server_auth()`` is the one to use when the
app is mounted into LangGraph Server: the user the server's custom auth authenticated
names the tenant, and an API key is the fallback.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from langgraph_runner._records.exceptions import Unauthenticated

__all__ = [
    "API_KEY_HEADER",
    "Unauthenticated",
    "api_key_auth",
    "langgraph_server_auth",
    "server_identity",
]

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


def server_identity(request: Any, claim: str = "identity") -> str | None:
    """The tenant an authenticated server user names, or None when there is none.

    LangGraph Server's auth middleware puts the user its ``Auth.authenticate`` handler
    returned on the ASGI scope (``scope["user"]``) of the custom routes when
    ``http.enable_custom_route_auth`` is true. A request it did not authenticate (no
    custom auth, the route auth off, or an ASGI server with no auth at all) has none.

    Args:
        request: The incoming request (anything with an ASGI ``scope``).
        claim: The user's field naming the tenant: ``identity`` or a field the auth
            handler returned (``{"identity": ..., "org": ...}`` -> ``claim="org"``).

    Returns:
        The claim's value, or None when no authenticated user carries it as a
        non-empty string.
    """
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, Mapping) else None
    if user is None or getattr(user, "is_authenticated", False) is not True:
        return None
    try:
        value = getattr(user, claim) if claim == "identity" else user[claim]
    except (AttributeError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None


def langgraph_server_auth(
    *, api_keys: Mapping[str, str] | None = None, claim: str = "identity"
) -> Callable[[Any], str]:
    """An ``authenticate`` taking the tenant from LangGraph Server's authenticated user.

    Mount the app as the server's custom HTTP app (``langgraph.json``: ``http.app``,
    with ``http.enable_custom_route_auth`` true and ``auth.path`` naming a
    ``langgraph_sdk.Auth``): the server authenticates each request, rejects one its
    handler refuses (401 or 403) before the app sees it, and the user's ``claim``
    names the tenant. A request with no authenticated user falls back to the
    ``X-API-Key`` header when ``api_keys`` is given, and answers 401 otherwise.

    Args:
        api_keys: API key -> tenant, for requests with no authenticated server user
            (the app served on its own, or the server without custom auth).
        claim: The user's field naming the tenant (default ``identity``).

    Returns:
        ``authenticate(request) -> tenant``, raising ``Unauthenticated`` when neither
        the server nor an API key names a tenant.

    Raises:
        ValueError: ``claim`` is not a non-empty string, or ``api_keys`` is invalid
            (see ``api_key_auth``).
    """
    if not isinstance(claim, str) or not claim:
        raise ValueError(f"langgraph_server_auth: claim must be a non-empty string, got {claim!r}")
    by_key = None if api_keys is None else api_key_auth(api_keys)

    def authenticate(request: Any) -> str:
        tenant = server_identity(request, claim)
        if tenant is not None:
            return tenant
        if by_key is None:
            raise Unauthenticated(
                "no authenticated user from LangGraph Server's auth", field="Authorization"
            )
        return by_key(request)

    return authenticate
