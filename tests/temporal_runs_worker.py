"""The runs service's graph for tests/integration/test_temporal_runs.py, and a worker for it.

``steps``: ``a -> b -> c`` (``strict``: ``b`` raises its failure); ``fan``: ``a -> (b, d)
-> c``; ``cached``: ``a -> c``, ``c`` under a ``NodeCache``; ``retried`` (``retried_raise``):
``a -> b -> c`` where ``b`` (``retry=3``) fails with an error of its own at each call
(``ERRORS``, in turn), and succeeds at its third call when the input's ``mode`` is
``recover``. What
``b`` does is the input's ``mode``: ``""`` adds, ``boom`` fails (a recorded
``ConnectionError``), ``wait`` waits for its abort signal (and notes ``aborted`` when it
fires), ``kill`` waits to be killed the first time it runs (it names its process in
``b.started``) and goes on the next, ``ask`` asks (``interrupt()``). Every node notes its
call in ``runs.log`` in the input's ``dir``.

Usage (the test starts it as a subprocess): ``python -c "import
tests.temporal_runs_worker as w; w.main()" ADDRESS QUEUE DATABASE_URL``
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from langgraph.cache.memory import InMemoryCache
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from temporalio.client import Client

from langgraph_runner import GraphState, NodeCache, create_node, get_node_context
from langgraph_runner.runs import open_checkpointer
from langgraph_runner.temporal import runs_worker

CACHE = InMemoryCache()  # the worker's: c's entries, for a rebuild to reuse
HEARTBEAT = 1.0  # a lost worker's node runs again, and a cancel reaches it, within about this


class Steps(GraphState, total=False):
    x: int
    mode: str
    dir: str


def note(state: Steps, line: str) -> None:
    """Append ``line`` to the run's log (when the input names a directory)."""
    if state.get("dir"):
        with (Path(state["dir"]) / "runs.log").open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def step_a(state: Steps) -> dict[str, Any]:
    note(state, "a")
    return {"x": state.get("x", 0) + 1}


def step_b(state: Steps) -> dict[str, Any]:
    note(state, "b")
    mode = state.get("mode", "")
    if mode == "boom":
        raise ConnectionError("upstream down")
    if mode == "ask":
        note(state, f"answer={interrupt('how many?')}")
    if mode == "wait":
        ctx = get_node_context()
        signal = ctx.abort_signal if ctx else None
        if signal is not None and signal.wait_sync(30):
            note(state, "aborted")
            signal.throw_if_aborted()
    marker = Path(state.get("dir", ".")) / "b.started"
    if mode == "kill" and not marker.exists():
        partial = marker.with_suffix(".partial")
        partial.write_text(str(os.getpid()), encoding="utf-8")
        partial.rename(marker)
        time.sleep(60)  # killed meanwhile
    return {"x": state.get("x", 0) * 10}


def step_c(state: Steps) -> dict[str, Any]:
    note(state, "c")
    return {"x": state.get("x", 0) + 5}


def steps(on_error: Any = "record") -> StateGraph[Any, Any, Any, Any]:
    """``a -> b -> c`` (not compiled): the service compiles it, the workers prepare it."""
    return _chain(create_node(step_b, timeout=40, on_error=on_error))


def _chain(b: Any) -> StateGraph[Any, Any, Any, Any]:
    """``a -> b -> c`` with the node ``b``."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(Steps)
    builder.add_node("a", create_node(step_a))
    builder.add_node("b", b)
    builder.add_node("c", create_node(step_c))
    for start, end in zip([START, "a", "b", "c"], ["a", "b", "c", END], strict=True):
        builder.add_edge(start, end)
    return builder


def step_d(state: Steps) -> dict[str, Any]:
    note(state, "d")
    return {}


def fan() -> StateGraph[Any, Any, Any, Any]:
    """``a -> (b, d) -> c``: ``b`` and ``d`` in one superstep."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(Steps)
    for name, fn in (("a", step_a), ("b", step_b), ("d", step_d), ("c", step_c)):
        builder.add_node(name, create_node(fn))
    for start, end in ((START, "a"), ("a", "b"), ("a", "d"), ("c", END)):
        builder.add_edge(start, end)
    builder.add_edge(["b", "d"], "c")
    return builder


def cached() -> StateGraph[Any, Any, Any, Any]:
    """``a -> c``, ``c`` cached on ``x`` and ``dir`` (one test's entries are its own)."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(Steps)
    cache = NodeCache(inputs=["x", "dir"], backend=CACHE, version="1", signing_key="k" * 32)
    builder.add_node("a", create_node(step_a))
    builder.add_node("c", create_node(step_c, cache=cache))
    for start, end in ((START, "a"), ("a", "c"), ("c", END)):
        builder.add_edge(start, end)
    return builder


ERRORS = (
    ConnectionError("upstream refused the call (token=sk-live-0123456789abcdef)"),
    TimeoutError("read timed out after 5 s"),
    RuntimeError("upstream said 503"),
)
"""What ``retried``'s ``b`` raises at its first, second and third call (a secret in one)."""


def step_retried(state: Steps) -> dict[str, Any]:
    note(state, "b")
    calls = _log(state).count("b")
    if state.get("mode") == "recover" and calls > 2:
        return {"x": state.get("x", 0) * 10}
    raise ERRORS[(calls - 1) % len(ERRORS)]


def _log(state: Steps) -> list[str]:
    log = Path(state.get("dir", ".")) / "runs.log"
    return log.read_text(encoding="utf-8").split() if log.exists() else []


def retried(on_error: Any = "record") -> StateGraph[Any, Any, Any, Any]:
    """``a -> b -> c``, ``b`` retried (``retry=3``) and failing as its input says."""
    return _chain(create_node(step_retried, retry=3, on_error=on_error))


def workflows() -> dict[str, StateGraph[Any, Any, Any, Any]]:
    """The service's workflows, by name (builders)."""
    return {
        "steps": steps(),
        "strict": steps(on_error="raise"),
        "fan": fan(),
        "cached": cached(),
        "retried": retried(),
        "retried_raise": retried(on_error="raise"),
    }


def worker(client: Client, queue: str, saver: Any) -> Any:
    """The runs worker (a short sticky timeout: the next worker takes the workflow at once)."""
    return runs_worker(
        client,
        task_queue=queue,
        workflows=workflows(),
        checkpointer=saver,
        heartbeat=HEARTBEAT,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    )


async def serve(address: str, queue: str, url: str) -> None:
    client = await Client.connect(address)
    with open_checkpointer(url) as saver:
        await worker(client, queue, saver).run()


def main() -> None:
    """Serve until killed."""
    address, queue, url = sys.argv[1:4]
    asyncio.run(serve(address, queue, url))
