"""benchmarks/service.py keeps working: a short run prints its table and drops its database."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
psycopg = pytest.importorskip("psycopg")


def test_a_short_run_prints_every_figure_and_drops_its_database() -> None:
    url = services.postgres_url()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "service.py"),
            *("--runs", "40", "--seconds", "1", "--clients", "5"),
            *("--samples", "5", "--triggers", "2", "--webhooks", "2", "--url", url),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert re.search(r"^what\s+p50 ms\s+p99 ms\s+x base$", out, re.MULTILINE), out
    for row in (
        "GET /workflows/none: 404 (baseline)",
        "GET /runs/{id} (40 runs)",
        "GET /runs (first page of 50)",
        "GET /runs?status=failed",
        "POST /runs -> 202",
        "POST /runs on a thread -> 202",
        "POST /runs on a thread, reject -> 202",
        "trigger -> first step (warm worker)",
        "run end -> webhook received",
        "resume -> first step (warm worker)",
    ):
        line = next((x for x in out.splitlines() if x.startswith(row)), None)
        assert line is not None, f"{row!r} missing:\n{out}"
        assert re.fullmatch(r".+?(\s+\d+\.\d){3}", line), line
    assert re.search(r"^5 clients for 1 s: \d+ requests, 0 errors, p50 ", out, re.MULTILINE), out

    database = re.search(r"\(database (\w+), dropped at the end\)", out)
    assert database is not None, out
    with psycopg.connect(url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database.group(1),)
        ).fetchall()
    assert left == []
