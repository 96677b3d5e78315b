"""Resilience policies: retry, timeouts, circuit breakers, abort signals, progress. Private.

Modules::

    retry            RetryConfig, Retrier (the one retry decision), RetryAttempt (hooks see)
    timeouts         one attempt under a time limit and an abort signal
    threads          reusable daemon threads that run sync attempts and can be abandoned
    circuit          CircuitBreaker: stop calling a dependency that keeps failing, then probe
    circuit_redis    breakers shared by processes through Redis (the ``redis`` extra)
    breaker_scripts  the Lua scripts behind circuit_redis (each transition atomic)
    outage           a shared store's Redis outage: one warning when it starts, one note at its end
    abort            AbortController and AbortSignal: tell running node code to stop
    progress         heartbeats, idle limits, muting an abandoned attempt
    context          NodeContext and get_node_context(); the run-scoped config keys
    run_scope        a run's ids and generated trace id, its RunScope, the loop guard
"""
