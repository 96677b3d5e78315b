"""A small custom auth for LangGraph Server: a bearer token names the user.

``examples/langgraph_service.json`` points the server's ``auth.path`` here. Every request
(the server's own routes and, with ``http.enable_custom_route_auth``, the mounted runs
service) must carry ``Authorization: Bearer <token>``; the user's ``identity`` is the
tenant the runs service serves. A real deployment checks a JWT or asks its identity
provider instead of reading a fixed map.
"""

from __future__ import annotations

import os

from langgraph_sdk import Auth

# token -> identity. ``SERVICE_TOKENS`` overrides it: "token=identity,token=identity".
TOKENS = dict(
    pair.split("=", 1)
    for pair in os.environ.get("SERVICE_TOKENS", "token-of-acme=acme,token-of-globex=globex").split(
        ","
    )
)

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """The user the bearer token belongs to; 401 for a missing or unknown token."""
    scheme, _, token = (authorization or "").partition(" ")
    identity = TOKENS.get(token) if scheme.lower() == "bearer" else None
    if identity is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing or unknown token")
    return {"identity": identity}
