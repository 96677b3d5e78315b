"""The machinery behind ``langgraph_runner.service``. Private: not part of the public API.

Modules::

    auth      api_key_auth (the default authenticate) and langgraph_server_auth
    queue     the run queue table: enqueue, claim under a lease, renew, complete, cancel
    claims    this process's queue claims, renewed on its one heartbeat
    workers   worker threads taking queued runs and executing them through run()
    liveness  each worker process's row and heartbeat: alive, draining, dead, stopped
    drain     a stopping worker: no more runs, the running ones ended or handed back
    multitask what POST /runs does with a run on a busy thread: reject, enqueue, interrupt, rollback
    rollback  multitask rollback: the displaced runs deleted, the new run from the state before
    schemas   the request and response bodies (pydantic: the OpenAPI document)
    guards    what every request passes first: a body limit, clean ids, storable input
    app       create_app: the FastAPI app, its options, auth and error handlers
    follow_up POST /runs/{id}/resume and /retry: continue a run on its thread
    automation webhooks on run end and cron schedules (outbox, dispatcher, ticks)
    run_facts a run's input and output (redacted), its worker's state, a step's attempts
    ops_routes GET /workers and GET /runs/{id}/steps/{name}/attempts
    routes    the routes: runs, steps, artifacts, events (server-sent), rebuilds, workflows
    api_docs  GET /docs: the API reference drawn on the server from the OpenAPI document
    ui        the browser UI: the runs list and a run's page (files in static/)
"""
