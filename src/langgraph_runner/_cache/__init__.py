"""The machinery behind ``NodeCache``. Private: not part of the public API.

Modules::

    node_cache   NodeCache: the cache config and its reads and writes through LangGraph's backends
    backends     PostgresCache and the two-tier TieredCache (durable backends)
    backend_guard  a shared backend's calls bounded and paused after a timeout (each tier alone)
    keys         CacheKey and cache_key(): a SHA-256 of the canonical inputs
    canon        canonical JSON of node inputs (tagged so no two types collide)
    fingerprint  a function's code fingerprint (source, bytecode, closures, defaults)
    scope        what a key sees: the graph's identity, config and runtime context
    signing      strict serialization and the HMAC over every stored entry
    artifacts    a hit whose artifacts are gone is a miss
    config       NodeCache's option checks (each error names the field)
"""
