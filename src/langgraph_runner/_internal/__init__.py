"""Leaves every layer may use: LangGraph compat, worker threads, optional extras. Private."""
