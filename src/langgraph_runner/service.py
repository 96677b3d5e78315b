"""The runs service: the run engine over HTTP (needs the ``service`` extra).

``create_app(workflows=..., checkpointer=..., api_keys=...)`` builds a FastAPI app:
``POST /runs`` triggers a run (answered at once, its steps ``pending``; in-process
workers execute it through ``run()``), ``GET /runs`` lists the caller's runs (status and
workflow filters, newest first, a page at a time), ``GET /runs/{id}`` and
``GET /runs/{id}/steps`` read one back, ``POST /runs/{id}/cancel`` stops it,
``POST /runs/{id}/update`` rebuilds a completed one from a change request,
``GET /runs/{id}/artifacts`` lists what it wrote, ``GET /runs/{id}/events`` streams its
progress (server-sent events), and ``GET /workflows`` and ``GET /workflows/{name}``
describe what can run. The tenant comes
from ``authenticate(request)`` (default: an API key in ``X-API-Key``); another tenant's
run is a 404. Serve it with any ASGI server: ``uvicorn module:app``, or mount it into
LangGraph Server as its custom HTTP app with ``authenticate=langgraph_server_auth()``: the
user the server's auth authenticated names the tenant.

Modules::

    service  re-exports only: the code lives in ``langgraph_runner._service``
"""

from __future__ import annotations

from langgraph_runner._internal.extras import require_extra

require_extra("service", "fastapi")
require_extra("service", "sse_starlette")

from langgraph_runner._service.app import create_app  # noqa: E402
from langgraph_runner._service.auth import (  # noqa: E402
    API_KEY_HEADER,
    Unauthenticated,
    api_key_auth,
    langgraph_server_auth,
)

__all__ = [
    "API_KEY_HEADER",
    "Unauthenticated",
    "api_key_auth",
    "create_app",
    "langgraph_server_auth",
]
