"""The runnable examples the README shows: they run and print what the README says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, tmp_path: Path) -> str:
    return _run_both(script, tmp_path)[0]


def _run_both(script: str, tmp_path: Path) -> tuple[str, str]:
    """The script's stdout and stderr, run in ``tmp_path`` (it must exit 0)."""
    env = {
        **os.environ,
        "PIPELINE_DB": str(tmp_path / "pipeline.db"),
        "AGENT_DB": str(tmp_path / "agent.db"),
        "DAG_DIR": str(tmp_path / "dag"),
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
    return done.stdout, done.stderr


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
    # The log's "ok after 3 attempts" is what the report reads from the checkpoints.
    assert re.search(r"^summarize\s+succeeded\s+3\s", report, flags=re.MULTILINE)
    assert (tmp_path / "pipeline.db").exists()


def test_dag_example_caches_fails_plans_and_rebuilds(tmp_path: Path) -> None:
    """examples/dag.py: cached rerun, a failed run keeping artifacts, a plan, a partial rebuild."""
    out, err = _run_both("dag.py", tmp_path)
    assert "Warning" not in err  # quiet on its first run: the cache has a signing key
    assert "1. first run: completed; 8 steps: {'succeeded': 8}" in out
    assert "2. same inputs: completed; {'cached': 8}" in out
    assert "3. broken publish: failed: step 'publish' failed: ConnectionError" in out
    assert "token=[REDACTED]" in out and "sk-demo" not in out
    assert "artifacts kept: ['chart.txt', 'page.html', 'stats.json']" in out
    assert re.search(r"render\s+rerun\s+input changed: title", out)
    assert "rebuild: executed ['render', 'publish']" in out
    report = out[out.index("5. the rebuild's report") :]
    assert "completed at step 6" in report and "8 of 8 steps done" in report
    assert "summary: 2 succeeded, 6 reused" in report
    assert re.search(r"^\s+dag-\w+-broken\s+failed\s+step 'publish' failed", out, re.MULTILINE)
    assert (tmp_path / "dag" / "page.html").exists()
    # A second run of the script reads the first one's cache (same key): no rejected entry.
    out, err = _run_both("dag.py", tmp_path)
    assert "Warning" not in err and "cache_error" not in err
    assert "1. first run: completed; 8 steps: {'cached': 8}" in out


def test_dag_example_counts_its_steps_as_its_docs_do() -> None:
    """The docstring and docs/runs.md say eight steps: the graph has eight nodes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dag_example", EXAMPLES / "dag.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(module.STEPS) == 8
    assert "Eight steps" in (module.__doc__ or "")
    runs_md = (EXAMPLES.parent / "docs" / "runs.md").read_text(encoding="utf-8")
    assert "`examples/dag.py` runs an eight-step build DAG" in runs_md


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
