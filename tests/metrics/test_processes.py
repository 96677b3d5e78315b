"""Metrics across processes: two real workers, one scrape target each, summed by the scraper.

Each worker process records known numbers into its own ``NodeMetricsCollector`` and
serves them with ``serve_metrics`` on its own loopback port, labelled with its
``collector_id``. The test scrapes both over HTTP, as Prometheus would, and checks
each process's values and that the sums across processes are the totals.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

STARTUP_TIMEOUT = 60.0  # imports on a loaded 2-core machine; a healthy start takes ~2 s

# Runs in each worker: record the plan, serve, report port and ids, serve until stdin closes.
WORKER = """
import json, os, sys
from langgraph_runner.metrics import NodeMetricsCollector
from langgraph_runner.metrics.prometheus import serve_metrics

plan = json.loads(sys.argv[1])
collector = NodeMetricsCollector(graph="support", duration_buckets=(0.1, 1.0))
for duration_ms in plan["successes"]:
    collector.record_success("fetch", duration_ms)
for category, duration_ms in plan["failures"]:
    collector.record_failure("fetch", duration_ms, category=category)
for attempt in range(plan["retries"]):
    collector.record_retry("fetch", attempt + 1)
server = serve_metrics(collector, worker=collector.collector_id)
info = {"port": server.port, "id": collector.collector_id, "pid": os.getpid()}
print(json.dumps(info), flush=True)
sys.stdin.read()  # serve until the test closes our stdin (or dies); the server thread is a daemon
"""

PLANS = {
    "a": {"successes": [50.0, 150.0, 2000.0], "failures": [["network", 300.0]], "retries": 2},
    "b": {"successes": [20.0, 700.0], "failures": [["timeout", 1500.0]] * 2, "retries": 1},
}

Sample = tuple[str, frozenset[tuple[str, str]]]


def _start(plan: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(plan)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _first_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The worker's report line, or a failure if it does not come in time."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=STARTUP_TIMEOUT)
    except queue.Empty:
        pytest.fail(f"worker {proc.pid} did not start within {STARTUP_TIMEOUT} s")
    if not line:
        pytest.fail(f"worker {proc.pid} exited before serving (code {proc.wait(5)})")
    info: dict[str, Any] = json.loads(line)
    return info


def _stop(proc: subprocess.Popen[str]) -> None:
    """Wait for a worker told to exit; terminate, then kill, if it does not."""
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    finally:
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[dict[str, dict[str, Any]]]:
    """Both workers running (started together), with their report and their scrape."""
    procs = {}
    try:
        for name, plan in PLANS.items():
            procs[name] = _start(plan)
        out = {}
        for name, proc in procs.items():
            info = _first_line(proc)
            url = f"http://127.0.0.1:{info['port']}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                info["samples"] = _samples(response.read().decode())
            out[name] = info
        yield out
    finally:
        for proc in procs.values():  # all told first, so they exit together
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in procs.values():
            _stop(proc)


def _samples(text: str) -> dict[Sample, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _sum_by(
    scrapes: list[dict[Sample, float]], name: str, *keep: str
) -> dict[tuple[str, ...], float]:
    """PromQL's ``sum by (keep...) (name)`` over several targets' samples."""
    totals: defaultdict[tuple[str, ...], float] = defaultdict(float)
    for samples in scrapes:
        for (sample_name, labels), value in samples.items():
            if sample_name == name:
                by = dict(labels)
                totals[tuple(by[k] for k in keep)] += value
    return dict(totals)


def _per_process(info: dict[str, Any], name: str, *keep: str) -> dict[tuple[str, ...], float]:
    return _sum_by([info["samples"]], name, *keep)


def test_each_process_is_its_own_instance(workers: dict[str, dict[str, Any]]) -> None:
    """Two pids, two ports, two collector ids; each target's samples carry its own id."""
    a, b = workers["a"], workers["b"]
    assert len({a["pid"], b["pid"], os.getpid()}) == 3
    assert a["port"] != b["port"]
    assert a["id"] != b["id"]
    for info in (a, b):
        assert {dict(labels)["worker"] for _, labels in info["samples"]} == {info["id"]}


def test_per_process_values(workers: dict[str, dict[str, Any]]) -> None:
    """Each target reports exactly what its own process recorded."""
    executions = "langgraph_node_executions_total"
    by_outcome = ("outcome", "error_type")
    assert _per_process(workers["a"], executions, *by_outcome) == {
        ("success", ""): 3,
        ("failure", "network"): 1,
    }
    assert _per_process(workers["b"], executions, *by_outcome) == {
        ("success", ""): 2,
        ("failure", "timeout"): 2,
    }
    retries = "langgraph_node_retries_total"
    assert _per_process(workers["a"], retries, "node") == {("fetch",): 2}
    assert _per_process(workers["b"], retries, "node") == {("fetch",): 1}


def test_sums_across_processes_are_the_totals(workers: dict[str, dict[str, Any]]) -> None:
    """Summing the two targets, as PromQL's sum by does, gives the fleet's totals."""
    scrapes = [info["samples"] for info in workers.values()]
    executions = _sum_by(scrapes, "langgraph_node_executions_total", "node", "error_type")
    assert executions == {("fetch", ""): 5, ("fetch", "network"): 1, ("fetch", "timeout"): 2}
    total = sum(executions.values())
    error_rate = {k[1]: v / total for k, v in executions.items() if k[1]}
    assert error_rate == {"network": 1 / 8, "timeout": 2 / 8}
    buckets = _sum_by(scrapes, "langgraph_node_duration_seconds_bucket", "node", "le")
    # le=0.1: 50 ms + 20 ms; le=1: also 150, 300, 700 ms; +Inf: also 2000, 1500, 1500 ms.
    assert buckets == {("fetch", "0.1"): 2, ("fetch", "1.0"): 5, ("fetch", "+Inf"): 8}
    count = _sum_by(scrapes, "langgraph_node_duration_seconds_count", "node")
    assert count == {("fetch",): 8}
    seconds = _sum_by(scrapes, "langgraph_node_duration_seconds_sum", "node")
    assert seconds[("fetch",)] == pytest.approx(6.22)
    assert _sum_by(scrapes, "langgraph_node_retries_total", "node") == {("fetch",): 3}
