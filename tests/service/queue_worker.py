"""The app the queue tests serve and run workers of (``langgraph-runner worker`` loads it).

Settings come from the environment: ``QUEUE_URL`` (checkpointer URL), ``QUEUE_NAME``,
``QUEUE_LEDGER`` (a file every node appends ``<thread> <node> <pid>`` to, fsync'ed:
the side-effect count), ``QUEUE_LEASE`` (seconds), ``QUEUE_BLOCK`` (a node that
hangs in this process, so a test can kill the worker in the middle of a run) and
``QUEUE_UNTIL_DRAIN`` (a node that runs until its run is asked to drain, or where the
runtime has no ``control``, until ``<ledger>.drain`` exists: a step under way when the
worker is stopped). ``QUEUE_OTLP`` (an OTLP/HTTP traces URL) sets this process's tracer
provider to send each span there as it ends, in the trace backend's project
``QUEUE_OTLP_PROJECT``.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import time
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._runs.checkpoint import open_checkpointer
from langgraph_runner.service import create_app

NODES = ("n1", "n2", "n3", "n4")


def keys(queue: str) -> dict[str, str]:
    """API key -> tenant: tenants of the queue's own (the database may be shared)."""
    return {"key-a": f"{queue}-a", "key-b": f"{queue}-b"}


class Chain(TypedDict, total=False):
    title: str
    log: Annotated[list[str], operator.add]


def note(ledger: str, thread: str, node: str) -> None:
    """Append one executed node to the ledger (O_APPEND: whole lines across processes)."""
    fd = os.open(ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{thread} {node} {os.getpid()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def chain(ledger: str, block: str = "", until_drain: str = "", *, hardened: bool = False) -> Any:
    """n1 -> n2 -> n3 -> n4; each node notes itself, ``block`` hangs after noting,
    ``until_drain`` runs until its run is asked to drain (60 s at most).

    ``hardened``: each node made by ``create_node`` (the tracing test reads their spans).
    """

    def make(name: str) -> Any:
        def body(state: Chain, config: RunnableConfig, runtime: Runtime) -> dict[str, Any]:
            note(ledger, str(config["configurable"]["thread_id"]), name)
            if name == block:
                time.sleep(120)  # killed here
            control = getattr(runtime, "control", None)  # None: a LangGraph without it
            for _ in range(1200 if name == until_drain else 0):
                if control.drain_requested if control else os.path.exists(f"{ledger}.drain"):
                    break
                time.sleep(0.05)
            return {"log": [name]}

        return body

    g = StateGraph(Chain)
    for name in NODES:
        g.add_node(name, create_node(make(name), name=name) if hardened else make(name))
    g.add_edge(START, NODES[0])
    for a, b in itertools.pairwise(NODES):
        g.add_edge(a, b)
    g.add_edge(NODES[-1], END)
    return g


def send_spans(endpoint: str, project: str) -> None:
    """Set the process's tracer provider: each span sent to ``endpoint`` as it ends."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    resource = Resource.create({"service.name": "worker", "openinference.project.name": project})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)


if os.environ.get("QUEUE_OTLP"):
    send_spans(os.environ["QUEUE_OTLP"], os.environ.get("QUEUE_OTLP_PROJECT", "default"))

if os.environ.get("QUEUE_URL"):
    _open = contextlib.ExitStack()  # kept: the saver stays open while the worker works
    saver = _open.enter_context(open_checkpointer(os.environ["QUEUE_URL"]))
    app = create_app(
        workflows={
            "chain": chain(
                os.environ["QUEUE_LEDGER"],
                os.environ.get("QUEUE_BLOCK", ""),
                os.environ.get("QUEUE_UNTIL_DRAIN", ""),
                hardened=bool(os.environ.get("QUEUE_OTLP")),
            ).compile()
        },
        checkpointer=saver,
        api_keys=keys(os.environ["QUEUE_NAME"]),
        workers=0,
        queue=os.environ["QUEUE_NAME"],
        lease=float(os.environ.get("QUEUE_LEASE", "30")),
    )
