"""The runs service over HTTP on PostgreSQL: read latency, trigger latency, many clients.

Serves ``create_app`` with uvicorn on a free local port, on a PostgreSQL database it creates
(and drops at the end), then, in one run:

- trigger-to-first-step: ``POST /runs`` until the workflow's first step starts, with warm
  in-process workers (``--triggers`` runs, one at a time);
- ``POST /runs`` naming a thread (each a new one), as the default ``enqueue`` and as
  ``reject`` (whose look at the thread and queueing are one locked transaction) take it,
  until the 202 (``--triggers`` runs of each, one at a time);
- resume-to-first-step: ``POST /runs/{id}/resume`` of an interrupted run until its
  interrupted step goes on with the answer (``interrupt()`` returns it), warm workers
  (``--triggers`` runs, one at a time);
- ``GET /runs/{id}`` and ``GET /runs`` (first page, 50 runs) p50/p99 with ``--runs`` runs in
  the runs table, each with its checkpoints (copied from real runs of the same workflow);
  the baseline is ``GET /workflows/{name}`` of an unknown name (the HTTP round trip,
  authentication and a JSON 404, no database);
- run end -> webhook received: from the workflow's last step returning until a local HTTP
  receiver has the run's signed webhook (``--webhooks`` runs, one at a time): the run's
  end recorded, the dispatcher woken by the worker, its pass over the outbox, the POST;
- ``--clients`` concurrent clients (httpx ``AsyncClient``s in another process) reading
  runs and pages for ``--seconds``: requests, errors, p50/p99.

    python benchmarks/service.py [--runs 10000] [--seconds 30] [--clients 200]
        [--samples 300] [--triggers 20] [--webhooks 20]
        [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import operator
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import psycopg
import uvicorn
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from langgraph_runner.runs import open_checkpointer
from langgraph_runner.service import create_app

KEYS = {"bench-key-acme": "acme", "bench-key-globex": "globex"}
ACME = {"X-API-Key": "bench-key-acme"}
TEMPLATE_TITLE = "template"
FIRST_STEP: dict[str, float] = {}  # run title -> when its first step started
FIRST_SEEN: dict[str, threading.Event] = {}
LAST_STEP: dict[str, float] = {}  # run title -> when its last step returned
HOOK_SECRET = "bench-webhook-secret-0123456789"
RESUMED: dict[str, float] = {}  # answer -> when the interrupted step went on with it
RESUME_SEEN: dict[str, threading.Event] = {}


class Build(TypedDict, total=False):
    title: str
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def body(state: Build) -> dict[str, Any]:
        if name == "fetch":
            title = state.get("title", "")
            FIRST_STEP.setdefault(title, time.perf_counter())
            if title in FIRST_SEEN:
                FIRST_SEEN[title].set()
        if name == "render":
            LAST_STEP[state.get("title", "")] = time.perf_counter()
        return {"log": [name]}

    return body


def workflow() -> Any:
    g = StateGraph(Build)
    for name in ("fetch", "parse", "render"):
        g.add_node(name, _step(name))
    g.add_edge(START, "fetch")
    g.add_edge("fetch", "parse")
    g.add_edge("parse", "render")
    g.add_edge("render", END)
    return g


def approval() -> Any:
    """One step that asks (``interrupt()``) and notes when it goes on with the answer."""

    def ask(state: Build) -> dict[str, Any]:
        answer = str(interrupt("go on?"))
        RESUMED.setdefault(answer, time.perf_counter())
        if answer in RESUME_SEEN:
            RESUME_SEEN[answer].set()
        return {"log": [f"answer:{answer}"]}

    g = StateGraph(Build)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database on the server ``admin_url`` points at; dropped on the way out."""
    name = f"bench_service_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # only our own


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """uvicorn serving ``app`` on a free port in a thread of this process; its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def wait_done(client: httpx.Client, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run: dict[str, Any] = client.get(f"/runs/{run_id}", headers=headers).json()
        if run["status"] not in ("pending", "running"):
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still {run['status']} after 60 s")
        time.sleep(0.01)


def trigger_latencies(client: httpx.Client, count: int) -> tuple[list[float], list[float]]:
    """Seconds from POST /runs to the first step starting, and to the 202, per run."""
    first, answered = [], []
    for i in range(count):
        title = f"trigger-{i}-{uuid.uuid4().hex[:6]}"
        FIRST_SEEN[title] = threading.Event()
        body = {"workflow": "build", "input": {"title": title}}
        t0 = time.perf_counter()
        reply = client.post("/runs", json=body, headers=ACME)
        answered.append(time.perf_counter() - t0)
        reply.raise_for_status()
        if not FIRST_SEEN[title].wait(60):
            raise RuntimeError(f"run {title} never started")
        first.append(FIRST_STEP[title] - t0)
        wait_done(client, reply.json()["run_id"], ACME)  # the worker is idle again
    return first, answered


def thread_post_latencies(client: httpx.Client, count: int, strategy: str) -> list[float]:
    """Seconds from ``POST /runs`` on a new thread under ``strategy`` to its 202, per run."""
    answered = []
    for i in range(count):
        body = {
            "workflow": "build",
            "input": {"title": f"thread-{i}"},
            "thread_id": f"bench-{uuid.uuid4().hex}",
            "multitask_strategy": strategy,
        }
        t0 = time.perf_counter()
        reply = client.post("/runs", json=body, headers=ACME)
        answered.append(time.perf_counter() - t0)
        reply.raise_for_status()
        wait_done(client, reply.json()["run_id"], ACME)  # the workers are idle again
    return answered


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, dict[str, float], threading.Condition]]:
    """A local HTTP receiver: its URL, and run id -> when its webhook arrived."""
    arrived: dict[str, float] = {}
    changed = threading.Condition()

    class Receive(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            at = time.perf_counter()
            self.send_response(204)
            self.end_headers()
            with changed:
                arrived.setdefault(json.loads(body)["run"]["run_id"], at)
                changed.notify_all()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receive)
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrived, changed
    finally:
        server.shutdown()
        server.server_close()


def webhook_latencies(client: httpx.Client, count: int) -> list[float]:
    """Seconds from each run's last step returning to its webhook arriving, one at a time."""
    took = []
    with webhook_receiver() as (hook, arrived, changed):
        for i in range(count):
            title = f"webhook-{i}-{uuid.uuid4().hex[:6]}"
            body = {"workflow": "build", "input": {"title": title}, "webhook": hook}
            reply = client.post("/runs", json=body, headers=ACME)
            reply.raise_for_status()
            run_id = reply.json()["run_id"]
            with changed:
                if not changed.wait_for(lambda r=run_id: r in arrived, 60):
                    raise RuntimeError(f"run {run_id}: no webhook within 60 s")
            took.append(arrived[run_id] - LAST_STEP[title])
    return took


def resume_latencies(client: httpx.Client, count: int) -> list[float]:
    """Seconds from POST /runs/{id}/resume of an interrupted run to its step going on."""
    took = []
    for i in range(count):
        body = {"workflow": "approve", "input": {"title": f"resume-{i}"}}
        run = client.post("/runs", json=body, headers=ACME).json()
        if wait_done(client, run["run_id"], ACME)["status"] != "interrupted":
            raise RuntimeError(f"run {run['run_id']} did not stop at its question")
        answer = uuid.uuid4().hex
        RESUME_SEEN[answer] = threading.Event()
        t0 = time.perf_counter()
        reply = client.post(f"/runs/{run['run_id']}/resume", json={"value": answer}, headers=ACME)
        reply.raise_for_status()
        if not RESUME_SEEN[answer].wait(60):
            raise RuntimeError(f"run {run['run_id']} never went on")
        took.append(RESUMED[answer] - t0)
        wait_done(client, reply.json()["run_id"], ACME)  # the worker is idle again
    return took


def seed(url: str, templates: dict[str, tuple[str, str]], runs: int) -> dict[str, list[str]]:
    """``runs`` rows in the runs table, tenants alternating, each with its checkpoints.

    ``templates``: tenant -> (run_id, thread_id) of a completed run to copy. Returns the
    seeded run ids by tenant. Statuses: one in ten failed, the rest completed.
    """
    tenants = sorted(templates)
    seeded: dict[str, list[str]] = {t: [] for t in tenants}
    now = time.time()
    with psycopg.connect(url, autocommit=False) as conn:
        for index, tenant in enumerate(tenants):
            run_id, thread_id = templates[tenant]
            count = len(range(index, runs, len(tenants)))
            prefix = f"seed-{tenant}-"
            params = {"n": count, "p": prefix, "run": run_id, "thread": thread_id, "now": now}
            conn.execute(
                "INSERT INTO langgraph_runner_runs (run_id, thread_id, tenant, graph, status,"
                " reason, started_at, updated_at, cancel_requested, cancel_reason, nodes, owner,"
                " heartbeat_at, shape)"
                " SELECT %(p)s || i, %(p)s || i, tenant, graph,"
                " CASE WHEN i %% 10 = 0 THEN 'failed' ELSE status END,"
                " CASE WHEN i %% 10 = 0 THEN 'step ''render'' failed' ELSE reason END,"
                " %(now)s - 86400 + i * 8.0, %(now)s - 86400 + i * 8.0 + 0.5, 0, NULL, nodes,"
                " owner, NULL, shape"
                " FROM langgraph_runner_runs, generate_series(1, %(n)s) AS i"
                " WHERE run_id = %(run)s",
                params,
            )
            conn.execute(
                "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
                " parent_checkpoint_id, type, checkpoint, metadata)"
                " SELECT %(p)s || i, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,"
                " checkpoint, CASE WHEN metadata ? 'langgraph_runner_run_id' THEN"
                " jsonb_set(metadata, '{langgraph_runner_run_id}', to_jsonb(%(p)s || i))"
                " ELSE metadata END"
                " FROM checkpoints, generate_series(1, %(n)s) AS i WHERE thread_id = %(thread)s",
                params,
            )
            conn.execute(
                "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type,"
                " blob) SELECT %(p)s || i, checkpoint_ns, channel, version, type, blob"
                " FROM checkpoint_blobs, generate_series(1, %(n)s) AS i"
                " WHERE thread_id = %(thread)s",
                params,
            )
            conn.execute(
                "INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id,"
                " idx, channel, type, blob, task_path)"
                " SELECT %(p)s || i, checkpoint_ns, checkpoint_id, task_id, idx, channel, type,"
                " blob, task_path FROM checkpoint_writes, generate_series(1, %(n)s) AS i"
                " WHERE thread_id = %(thread)s",
                params,
            )
            seeded[tenant] = [f"{prefix}{i}" for i in range(1, count + 1)]
        conn.commit()
        conn.execute("ANALYZE")
    return seeded


def timed(client: httpx.Client, paths: list[str], status: int = 200) -> list[float]:
    """Seconds each GET took (each must answer ``status``)."""
    took = []
    for path in paths:
        t0 = time.perf_counter()
        reply = client.get(path, headers=ACME)
        took.append(time.perf_counter() - t0)
        if reply.status_code != status:
            raise RuntimeError(f"GET {path}: {reply.status_code} {reply.text[:200]}")
    return took


async def _client_loop(
    client: httpx.AsyncClient, paths: list[str], until: float, seed_: int, out: dict[str, Any]
) -> None:
    rng = random.Random(seed_)
    while time.perf_counter() < until:
        path = rng.choice(paths)
        t0 = time.perf_counter()
        try:
            reply = await client.get(path)
            ok = reply.status_code == 200
        except httpx.HTTPError:
            ok = False
        out["took"].append(time.perf_counter() - t0)
        if not ok:
            out["errors"] += 1


async def _load(url: str, paths: list[str], clients: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"took": [], "errors": 0}
    # Every client is made before the clock starts: making one loads the CA bundle (tens of
    # milliseconds of this process's CPU), which would otherwise stall the clients already
    # waiting for an answer and count as the server's latency.
    made = [httpx.AsyncClient(base_url=url, headers=ACME, timeout=60) for _ in range(clients)]
    try:
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_client_loop(c, paths, until, i, out) for i, c in enumerate(made)))
    finally:
        await asyncio.gather(*(c.aclose() for c in made))
    took = out["took"]
    return {
        "requests": len(took),
        "errors": out["errors"],
        "p50": pct(took, 0.5) if took else 0.0,
        "p99": pct(took, 0.99) if took else 0.0,
    }


def load_in_another_process(
    url: str, paths: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    """Run the clients in a child process (its own interpreter, so its own GIL)."""
    spec = json.dumps({"url": url, "paths": paths, "clients": clients, "seconds": seconds})
    done = subprocess.run(
        [sys.executable, __file__, "--load-clients"],
        input=spec,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the runs table")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the client load")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients")
    parser.add_argument("--samples", type=int, default=300, help="timed GETs of each kind")
    parser.add_argument("--triggers", type=int, default=20, help="timed triggers")
    parser.add_argument("--webhooks", type=int, default=20, help="timed webhook deliveries")
    parser.add_argument(
        "--url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (a database on it is created and dropped)",
    )
    parser.add_argument("--load-clients", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_clients:  # the child process of load_in_another_process
        spec = json.loads(sys.stdin.read())
        result = asyncio.run(_load(spec["url"], spec["paths"], spec["clients"], spec["seconds"]))
        print(json.dumps(result))
        return
    with scratch_database(args.url) as db_url, open_checkpointer(db_url) as saver:
        app = create_app(
            workflows={"build": workflow().compile(), "approve": approval().compile()},
            checkpointer=saver,
            api_keys=KEYS,
            webhook_secret=HOOK_SECRET,
        )
        with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
            report(args, url, client, db_url)


def report(args: argparse.Namespace, url: str, client: httpx.Client, db_url: str) -> None:
    templates = {}
    for key, tenant in KEYS.items():
        headers = {"X-API-Key": key}
        body = {"workflow": "build", "input": {"title": TEMPLATE_TITLE}}
        run = client.post("/runs", json=body, headers=headers).json()
        done = wait_done(client, run["run_id"], headers)
        templates[tenant] = (done["run_id"], done["thread_id"])
    first, answered = trigger_latencies(client, args.triggers)
    on_thread = thread_post_latencies(client, args.triggers, "enqueue")
    rejecting = thread_post_latencies(client, args.triggers, "reject")
    hooked = webhook_latencies(client, args.webhooks)
    resumed = resume_latencies(client, args.triggers)

    t0 = time.perf_counter()
    seeded = seed(db_url, templates, args.runs)
    seeded_in = time.perf_counter() - t0
    rng = random.Random(7)
    acme = seeded["acme"]
    baseline = timed(client, ["/workflows/none"] * args.samples, status=404)
    one = timed(client, [f"/runs/{rng.choice(acme)}" for _ in range(args.samples)])
    page = timed(client, ["/runs"] * args.samples)
    failed = timed(client, ["/runs?status=failed"] * args.samples)
    paths = [f"/runs/{rng.choice(acme)}" for _ in range(200)] + ["/runs", "/runs?status=failed"]
    load = load_in_another_process(url, paths, args.clients, args.seconds)

    base = statistics.median(baseline)
    database = db_url.rsplit("/", 1)[1]
    print(
        f"runs service on PostgreSQL (database {database}, dropped at the end):"
        f" {args.runs} runs seeded in {seeded_in:.1f} s"
    )
    print(f"{'what':40} {'p50 ms':>8} {'p99 ms':>8} {'x base':>7}")
    rows = [
        ("GET /workflows/none: 404 (baseline)", baseline),
        (f"GET /runs/{{id}} ({args.runs} runs)", one),
        ("GET /runs (first page of 50)", page),
        ("GET /runs?status=failed", failed),
        ("POST /runs -> 202", answered),
        ("POST /runs on a thread -> 202", on_thread),
        ("POST /runs on a thread, reject -> 202", rejecting),
        ("trigger -> first step (warm worker)", first),
        ("run end -> webhook received", hooked),
        ("resume -> first step (warm worker)", resumed),
    ]
    for name, took in rows:
        p50, p99 = pct(took, 0.5), pct(took, 0.99)
        print(f"{name:40} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p50 / base:7.1f}")
    print(
        f"{args.clients} clients for {args.seconds:.0f} s: {load['requests']} requests,"
        f" {load['errors']} errors, p50 {load['p50'] * 1000:.1f} ms,"
        f" p99 {load['p99'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
