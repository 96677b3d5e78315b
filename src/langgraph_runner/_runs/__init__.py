"""The machinery behind ``langgraph_runner.runs``. Private: not part of the public API.

Modules::

    lifecycle        run/arun: one run with run-level events, a time limit and a runs-table row
    status           RunStatus, and how a run ended: its status and reason from its output or error
    session          RunSession: one run's identity, row, tracker and lock; RunResult
    run_options      RunOptions: the keyword options of run/arun/rebuild/arebuild, written once
    tracker          follows a run's node tasks: statuses, counts, cancellation, failed attempts
    run_watch        one watcher per process: cancel flags, heartbeats, lock sessions
    run_store        the runs table: one row per run, beside the checkpoints
    store_registry   one runs-table store per database and process: opened, kept, let go
    row_writes       writing a run's row on a slow or flaky database: bounded retries
    arows            arun's rows: on the loop (PostgreSQL) or in a worker thread (SQLite)
    control          list_runs and cancel_run across processes
    tenancy          a thread belongs to the tenant that first ran it
    thread_lock      ThreadLock: one writer per thread, across processes
    graph_shape      the graph's shape, stored with each run (real edges from any process)
    task_times       each node's own start and end in a run, how its cache served it, its attempts
    checkpoint       open_checkpointer: LangGraph's savers from a URL
    checkpoint_tasks the tasks of a stored checkpoint's superstep, decoded without the graph
    pg_savers        LangGraph's PostgreSQL savers on a pool, a write on a broken link retried
    effects          EffectLedger: exactly-once side effects, its table and SQL
"""
