"""The machinery behind ``langgraph_runner.service``. Private: not part of the public API.

Modules::

    auth      api_key_auth (the default authenticate) and langgraph_server_auth
    queue     the run queue table: enqueue, claim under a lease, renew, complete, cancel
    claims    this process's queue claims, renewed on its one heartbeat
    workers   worker threads taking queued runs and executing them through run()
    schemas   the request and response bodies (pydantic: the OpenAPI document)
    guards    what every request passes first: a body limit, clean ids, storable input
    app       create_app: the FastAPI app, its options, auth and error handlers
    follow_up POST /runs/{id}/resume and /retry: continue a run on its thread
    routes    the routes: runs, steps, artifacts, events (server-sent), rebuilds, workflows
    api_docs  GET /docs: the API reference drawn on the server from the OpenAPI document
    ui        the browser UI: the runs list and a run's page (files in static/)
"""
