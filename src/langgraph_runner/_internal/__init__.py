"""Leaves every layer may use: LangGraph compat, durations, optional extras. Private.

Modules::

    compat        every use of LangGraph's private API (tests/internal/test_compat.py keeps it so)
    durations     the one rule for "float seconds or a timedelta"
    extras        import what an optional extra provides, or name the extra to install
    checks        checks shared by the options classes: one rule for names and choices
    moved         the old import paths, answered with a DeprecationWarning until 0.3
    redis_client  the one way to make a Redis client for the shared stores
    value_enum    the base of the string enums: members that print as their value
"""
