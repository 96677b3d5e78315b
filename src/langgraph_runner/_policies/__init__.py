"""Resilience policies: retry, timeouts, circuit breakers, abort signals, progress. Private."""
