"""Tests for _db.connection: the autocommitted connection the runs table and effect ledger share."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from langgraph_runner._db.connection import Db, open_postgres, open_sqlite, where_in
from langgraph_runner._db.pool import PooledDb
from tests.services import postgres_url


def _exercise(db: Db | PooledDb, table: str) -> None:
    ddl = [f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v INTEGER)"]
    db.setup(ddl, table)
    db.setup(ddl, table)  # idempotent
    assert db.run(f"INSERT INTO {table} (k, v) VALUES (?, ?)", ("a", 1)) == (1, [])
    count, rows = db.run(f"UPDATE {table} SET v = ? WHERE k = ?", (2, "a"))
    assert (count, rows) == (1, [])
    assert [tuple(r) for r in db.run(f"SELECT k, v FROM {table} WHERE k = ?", ("a",))[1]] == [
        ("a", 2)
    ]


def test_sqlite_statements_are_autocommitted_and_seen_by_another_connection(
    tmp_path: Path,
) -> None:
    """Rows written through one connection are read through another at once."""
    path = str(tmp_path / "runs.db")
    db, other = open_sqlite(path), open_sqlite(path)
    try:
        _exercise(db, "t")
        assert [tuple(r) for r in other.run("SELECT v FROM t")[1]] == [(2,)]
    finally:
        db.close()
        other.close()


def test_postgres_placeholders_are_rewritten_and_setup_is_serialized() -> None:
    """The same ``?`` statements run on PostgreSQL; the table is dropped afterwards."""
    db = open_postgres(postgres_url())
    table = f"lgr_sql_{uuid.uuid4().hex[:12]}"
    try:
        _exercise(db, table)
    finally:
        db.run(f"DROP TABLE IF EXISTS {table}")
        db.close()


def test_close_closes_the_connection(tmp_path: Path) -> None:
    """After close() the connection refuses statements."""
    db = open_sqlite(str(tmp_path / "x.db"))
    db.close()
    with pytest.raises(Exception, match="closed"):
        db.run("SELECT 1")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_where_in_selects_exactly_the_values_on_either_database(kind: str, tmp_path: Path) -> None:
    """``where_in``'s conditions select the rows of the values given, all of them and no
    other: 1,201 values (SQLite: three ``IN`` lists; PostgreSQL: one array), none, one."""
    db = open_sqlite(str(tmp_path / "in.db")) if kind == "sqlite" else open_postgres(postgres_url())
    table = f"lgr_where_in_{uuid.uuid4().hex[:8]}"
    try:
        db.setup([f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY)"], table)
        keys = [f"k{i}" for i in range(1500)]
        for at in range(0, len(keys), 300):
            chunk = keys[at : at + 300]
            db.run(f"INSERT INTO {table} (k) VALUES {', '.join(['(?)'] * len(chunk))}", chunk)
        for wanted in ([*keys[:1200], "missing"], [], ["k7"]):
            found = [
                str(row[0])
                for where, params in where_in(db.postgres, "k", wanted)
                for row in db.run(f"SELECT k FROM {table} WHERE {where}", params)[1]
            ]
            assert sorted(found) == sorted(set(wanted) - {"missing"})
            clauses = list(where_in(db.postgres, "k", wanted))
            expected = (0 if not wanted else 1) if kind == "postgres" else -(-len(wanted) // 500)
            assert len(clauses) == expected
    finally:
        db.run(f"DROP TABLE IF EXISTS {table}")
        db.close()


def test_a_postgres_database_survives_its_backend_being_terminated() -> None:
    """open_postgres's connection is terminated (this test's own backend only, by its
    application_name): the next statement runs on a fresh one."""
    import psycopg

    app = f"lgr-conn-{uuid.uuid4().hex[:12]}"
    url = postgres_url()
    db = open_postgres(f"{url}{'&' if '?' in url else '?'}application_name={app}")
    try:
        assert db.run("SELECT 1")[1] == [(1,)]
        with psycopg.connect(url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (app,),
            ).fetchall()
        assert killed
        assert db.run("SELECT 2")[1] == [(2,)]
    finally:
        db.close()
