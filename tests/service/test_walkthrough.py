"""docs/service.md's curl walk-through of every route runs as shown and prints what the page shows.

The ```bash block of the section "Every route with curl" runs in an empty directory with
the example's absolute path and a free port; its output is compared with the ```text
block after it like a doctest with ELLIPSIS (``...`` stands for the run ids). curl and
jq are needed: absent, the test is skipped with the reason (under ``CI=true`` it fails).
"""

from __future__ import annotations

import contextlib
import doctest
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import fail_or_skip, free_port

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "service.md"
EXAMPLE = ROOT / "examples" / "service.py"
RECEIVER = ROOT / "examples" / "webhook_receiver.py"
SECTION = "## Every route with curl"

pytestmark = pytest.mark.slow


def _blocks(heading: str = SECTION) -> tuple[str, str]:
    """The section's ```bash block and the ```text block after it."""
    text = PAGE.read_text("utf-8")
    section = text[text.index(heading) :]
    section = section[: section.index("\n## ", len(heading))]
    bash = re.search(r"```bash\n(.*?)\n```", section, re.S)
    out = re.search(r"```bash\n.*?\n```.*?```text\n(.*?)\n```", section, re.S)
    assert bash and out, f"{PAGE.name}: the section needs a ```bash block and a ```text block"
    return bash.group(1), out.group(1) + "\n"


def _tools() -> None:
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    if missing:
        fail_or_skip(f"the walk-through needs {' and '.join(missing)}")


def test_the_page_shows_every_route() -> None:
    """Each route of the Routes table is called in the walk-through."""
    script, _ = _blocks()
    for call in (
        '"$URL/workflows"',
        '"$URL/workflows/build"',
        '-X POST "$URL/runs"',
        '"$URL/runs?status=',
        '"$URL/runs/$RUN"',
        '"$URL/runs/$RUN/steps?status=',
        '"$URL/runs/$RUN/artifacts"',
        '"$URL/runs/$RUN/events"',
        '"$URL/runs/$HELD/cancel"',
        '"$URL/runs/$RUN/update"',
        '"$URL/runs/$HOOKED/webhooks"',
        '-X POST "$URL/schedules"',
        '"$URL/schedules"',
        '"$URL/schedules/$SCHED"',
        '-X DELETE "$URL/schedules/$SCHED"',
        '"$URL/runs/$RUN/steps/fetch/attempts"',
        '"$URL/workers"',
        '"multitask_strategy": "reject"',
        '"multitask_strategy": "interrupt"',
        '"multitask_strategy": "rollback"',
    ):
        assert call in script, call


def test_the_curl_walk_through_prints_what_the_page_shows(tmp_path: Path) -> None:
    _tools()
    script, expected = _blocks()
    port = free_port()
    script = (
        script.replace("examples/service.py", str(EXAMPLE))
        .replace("examples/webhook_receiver.py", str(RECEIVER))
        .replace("--port 8000", f"--port {port}")
        .replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    )
    run_walk(script, expected, tmp_path)


def run_walk(script: str, expected: str, tmp_path: Path, *, timeout: float = 180) -> None:
    """Run a walk-through's script in ``tmp_path`` (the venv's tools first on the PATH); its
    output must match ``expected`` (``...`` for the ids)."""
    env = dict(os.environ)
    env.pop("SERVICE_API_KEY", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the server it starts goes with it
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the server too, if the script stopped
            os.killpg(proc.pid, signal.SIGTERM)
    log = (tmp_path / "serve.log").read_text("utf-8") if (tmp_path / "serve.log").exists() else ""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{err}\n{out}\nserver:\n{log[-3000:]}"
    checker = doctest.OutputChecker()
    assert checker.check_output(expected, out, doctest.ELLIPSIS), checker.output_difference(
        doctest.Example("walk", expected), out, doctest.ELLIPSIS
    )


def test_the_examples_failing_step_shows_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's state has no record channels: a step that fails (``hold`` with a
    ``seconds`` that is no number) shows the node's own error as its cause in
    ``GET /runs/{id}``, then why it has no record; its attempt, the record it would have
    written (the run kept it)."""
    import importlib.util

    from fastapi.testclient import TestClient

    monkeypatch.setenv("SERVICE_DB", str(tmp_path / "service.db"))
    spec = importlib.util.spec_from_file_location("service_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "service_example", module)  # its TypedDict's hints
    spec.loader.exec_module(module)
    key = {"X-API-Key": "dev-key"}
    try:
        with TestClient(module.app) as c:
            body = {"workflow": "hold", "input": {"seconds": "soon"}}
            rid = c.post("/runs", json=body, headers=key).json()["run_id"]
            run = c.get(f"/runs/{rid}/wait", params={"timeout": 60}, headers=key).json()
            attempts = c.get(f"/runs/{rid}/steps/wait/attempts", headers=key).json()
    finally:
        module.saver.conn.close()
    steps = {s["name"]: s for s in run["steps"]}
    assert (run["status"], steps["wait"]["status"]) == ("failed", "failed")
    cause = steps["wait"]["cause"]
    assert cause.startswith("ValueError: could not convert string to float: 'soon' ("), cause
    assert "StateSchemaError" in cause
    assert (attempts[-1]["outcome"], attempts[-1]["error_type"]) == ("failed", "ValueError")
    assert attempts[-1]["message"].endswith(cause.split(" (StateSchemaError")[0])
