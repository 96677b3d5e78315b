"""Rate limits and budgets (private; the public names are re-exported by ``langgraph_runner``).

Modules::

    gcra        pure GCRA arithmetic shared by the in-process store and the Lua scripts
    stores      InProcessLimitStore: limiter and budget state in this process (default)
    scripts     the Lua scripts of RedisLimitStore (one atomic script per decision)
    redis_store RedisLimitStore: the same state shared by every process through Redis
    ratelimit   RateLimit (frozen config) and waiting for a slot (sync and async)
    tokens      token usage from LangChain results; the callback handler that counts it
    budget      Budget (frozen config): check before a call, spend after
    stats       process-wide counters the metrics exporters read (waits, rejections, spend)
    guard       a node's limits and budgets around each attempt
"""
