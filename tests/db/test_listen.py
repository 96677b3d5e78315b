"""_db/listen.py: a LISTEN connection from a pool of one hears what is notified, and only
while it is open."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from langgraph_runner._db.listen import Listener
from tests.services import postgres_url, terminate_backend


def _notify(channel: str, payload: str) -> None:
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def test_it_hears_a_notification_on_its_channel_only() -> None:
    channel = f"lgr_listen_{uuid.uuid4().hex[:12]}"
    listener = Listener(postgres_url(), {}, channel)
    listener.open()
    try:
        assert listener.backend_pid is not None
        assert listener.wait(0.05) == []  # nothing notified yet: the timeout answers
        _notify(f"{channel}_other", "elsewhere")
        _notify(channel, "queued")
        assert listener.wait(5.0) == ["queued"]
    finally:
        listener.close()
    assert listener.backend_pid is None


def test_a_broken_connection_is_told_and_open_again_listens_anew() -> None:
    channel = f"lgr_listen_{uuid.uuid4().hex[:12]}"
    listener = Listener(postgres_url(), {}, channel)
    listener.open()
    try:
        first = listener.backend_pid
        assert first is not None
        terminate_backend(first)  # this test's own session only
        with pytest.raises(psycopg.OperationalError):
            listener.wait(5.0)
        listener.open()
        assert listener.backend_pid not in (None, first)
        _notify(channel, "again")
        assert listener.wait(5.0) == ["again"]
    finally:
        listener.close()
