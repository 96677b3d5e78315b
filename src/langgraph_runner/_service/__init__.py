"""The machinery behind ``langgraph_runner.service``. Private: not part of the public API.

Modules::

    auth      api_key_auth: the default authenticate(request) -> tenant
    workers   in-process workers running triggered runs through run()
    schemas   the request and response bodies (pydantic: the OpenAPI document)
    events    GET /runs/{id}/events: a run's progress as server-sent events
    app       create_app: the FastAPI app and its routes
"""
