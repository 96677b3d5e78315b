"""The machinery behind ``langgraph_runner.runs``. Private: not part of the public API.

Modules::

    lifecycle        run/arun: one run with run-level events, a time limit and a runs-table row
    status           RunStatus: how a run ended, or where a thread stands
    options          RunOptions: the keyword options of run/arun/rebuild/arebuild, written once
    tracker          follows a run's node tasks through callbacks: statuses, counts, cancellation
    run_watch        one watcher per process: cancel flags, heartbeats, lock sessions
    run_store        the runs table: one row per run, beside the checkpoints
    row_writes       writing a run's row on a slow or flaky database: bounded retries
    ending           how a run ended: its status and reason from its output or error
    offloop          arun's row writes in a worker thread, so the event loop runs on
    arows            arun's rows on PostgreSQL: on the loop, through the saver's connections
    control          list_runs and cancel_run across processes
    tenancy          a thread belongs to the tenant that first ran it
    thread_lock      ThreadLock: one writer per thread, across processes
    lock_session     every PostgreSQL thread lock of a process on one session
    alock_session    an async saver's thread locks on one async connection of its own
    report           run_report: what happened on one thread, read from its checkpoints
    report_steps     one thread's supersteps, from a compiled graph or a bare saver
    report_render    a report as a table, a mermaid chart, an HTML page, Markdown
    report_html      the HTML report's pictures: the graph and a timeline
    report_stored    what a report reads beside the checkpoints: stored shape, node times
    graph_shape      the graph's shape, stored with each run (real edges from any process)
    task_times       each node's own start and end in a run (not its superstep's)
    dag              require_dag: a DAG workflow with a cycle is refused, the cycle named
    checkpoint       open_checkpointer: LangGraph's savers from a URL
    checkpoint_tasks the tasks of a stored checkpoint's superstep, decoded without the graph
    saver_storage    where a saver keeps its checkpoints: its kind, file or server
    pg_savers        LangGraph's PostgreSQL savers on a pool, a write on a broken link retried
    pg_cursor        a pooled saver's cursor: a connection straight from the pool, one object
    pool             bounded PostgreSQL connection pools with cheap health checks
    pool_wait        a wait for a pooled connection: told to its run, failed on a stall
    patient_pool     pools whose waits keep their turn while connections come back
    sql              a runs table's own connection (SQLite or PostgreSQL, autocommit)
    history          the base run of a rebuild, read from the checkpoint history
    rebuild          plan and rebuild: a change as data, a partial rebuild from a base run
    rerun            rerun a thread's blocked nodes or failed Send items
    effects          EffectLedger: exactly-once side effects
    effect_store     the effect ledger's table and SQL
"""
