"""The database plumbing of runs, cache, effects and the run queue. Private: not public API.

Connections, pools, cursors, lock sessions and SQL helpers, for SQLite and PostgreSQL.
Nothing here knows what a run is: the concept packages above hand it SQL and parameters.

Modules::

    connection       Db: one connection of its own (SQLite), or PostgreSQL on a pool of one
    broken           a broken connection told from a bad statement; the one retry on a fresh one
    pool             bounded PostgreSQL connection pools with cheap health checks
    pool_wait        a wait for a pooled connection: told to its run, failed on a stall
    patient_pool     pools whose waits keep their turn while connections come back
    cursor           a pooled saver's cursor: a connection straight from the pool, one object
    lock_session     every PostgreSQL advisory lock of a process on one session
    alock_session    an async saver's advisory locks on one async connection of its own
    storage          where a saver keeps its checkpoints: its kind, file or server
    listen           a PostgreSQL connection that LISTENs (the run queue's wake-ups)
"""
