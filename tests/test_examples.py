"""The runnable examples the README shows: they run and print what the README says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "PIPELINE_DB": str(tmp_path / "pipeline.db"),
        "AGENT_DB": str(tmp_path / "agent.db"),
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pipeline_example_records_routes_and_ends_with_the_run_report(tmp_path: Path) -> None:
    """The main job: retried success, redacted 503 record routed to recovery, report last."""
    out = _run("pipeline.py", tmp_path)
    progress = [line.split()[0] for line in out.splitlines()[1:5]]
    assert progress == ["load", "summarize", "publish", "recover"]  # node by node, as they end
    assert "summarize: ok after 3 attempts" in out
    assert '"code": "RETRY_EXHAUSTED"' in out
    assert "token=[REDACTED]" in out
    assert "sk-demo" not in out
    assert '"needs_review": true' in out
    report = out[out.index("run report") :]
    assert "completed" in report.splitlines()[1]
    assert "publish    failed" in report
    assert (tmp_path / "pipeline.db").exists()


def test_fallback_example_shows_both_fallback_kinds_and_the_static_edge_pitfall(
    tmp_path: Path,
) -> None:
    """examples/fallback.py: inline recovery, routed fallback, goto plus static edge runs both."""
    out = _run("fallback.py", tmp_path)
    assert "visited: cached_price -> manual_review" in out
    assert "visited: cached_price -> confirm -> manual_review" in out
    assert "price RETRY_EXHAUSTED recovered=True" in out


def test_agent_example_streams_as_unwrapped_stops_the_loop_and_tells_the_model(
    tmp_path: Path,
) -> None:
    """The ReAct agent: same chunks as unwrapped, guard stops the loop, error ToolMessage."""
    out = _run("agent.py", tmp_path)
    assert "weather tool calls: 2" in out
    assert "same chunks as the unwrapped graph: True" in out
    assert "stopped: tools failed 3 times in a row" in out
    assert "records in the checkpoint: 2" in out
    assert "tool message: Error: ConnectionError: GET" in out
    for way in ("middleware", "harden"):
        assert f"{way}: call-w success: Paris: sunny, 21 C" in out
        assert f"{way}: weather calls 2, records [('tools.broken_weather', 3)]" in out
    assert "sk-live" not in out
    assert (tmp_path / "agent.db").exists()
