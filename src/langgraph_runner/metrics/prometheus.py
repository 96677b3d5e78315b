"""Prometheus exporter for ``NodeMetricsCollector``s (needs the ``prometheus`` extra).

``PrometheusExporter`` is a prometheus_client *custom collector*: nothing is
observed per record. At scrape time it reads the collector's lifetime counters
and duration bucket counts (kept there with one bisect per record, about 0.1 us,
instead of ~1-3 us for ``Histogram.labels(...).observe``) and renders:

* ``langgraph_node_duration_seconds`` histogram, labels ``node``, ``graph``,
  ``outcome`` (``success``/``failure``) and ``error_type`` (empty on success);
* ``langgraph_node_executions_total`` counter, same labels (circuit rejections and
  records without a usable duration count here but not in the histogram);
* ``langgraph_node_retries_total``, ``langgraph_node_fallbacks_total`` and
  ``langgraph_node_cache_hits_total`` counters, labels ``node`` and ``graph``;
* plus a constant ``worker`` label on every series when ``worker=`` is given;
* with ``limits=True``, the process's rate limits and budgets:
  ``langgraph_rate_limit_waits_total``, ``langgraph_rate_limit_wait_seconds_total`` and
  ``langgraph_rate_limit_rejections_total`` (labels ``limit``, ``node``), and
  ``langgraph_budget_tokens_total``, ``langgraph_budget_cost_total``,
  ``langgraph_budget_calls_total`` and ``langgraph_budget_exhausted_total`` (labels
  ``budget``, ``node``, ``tenant``; ``tenant`` is empty unless the budget is per tenant).

No run, thread or user ids are ever used as labels. ``reset_node_metrics()``
restarts the counters from zero, which Prometheus' ``rate()`` treats as a reset.

A registry accepts each metric name from one collector only, so one exporter
serves every ``NodeMetricsCollector`` of a process (one per graph, with distinct
``graph`` names): pass them all, or add them later with ``add_collector``.

Many processes: one scrape target per process. Each worker serves its own
registry (``serve_metrics``) and Prometheus tells the targets apart by their
``instance`` label and sums across them (``sum by (node) (rate(...))``).
prometheus_client's multiprocess mode is not used: it only aggregates metrics
observed into its mmap files and does not run custom collectors such as
``PrometheusExporter``. An opt-in ``worker`` label names the process in the
samples themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from wsgiref.simple_server import WSGIServer

from langgraph_runner._internal.extras import extra_hint
from langgraph_runner._limits import stats as _limit_stats
from langgraph_runner._records.egress import egress_text
from langgraph_runner.metrics._collector import NodeMetricsCollector
from langgraph_runner.metrics._model import NodeSeries

try:
    from prometheus_client.exposition import start_http_server
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import REGISTRY, CollectorRegistry
    from prometheus_client.utils import floatToGoString
except ImportError as exc:
    raise ImportError(extra_hint("prometheus"), name=exc.name) from exc

__all__ = ["MetricsServer", "PrometheusExporter", "serve_metrics"]

_OUTCOME_LABELS = ("node", "graph", "outcome", "error_type")
_NODE_LABELS = ("node", "graph")
_WORKER_LABEL = "worker"
_Counter = CounterMetricFamily
_go_float: Callable[[float], str] = floatToGoString  # "le" values as prometheus_client writes them


class PrometheusExporter:
    """Exposes collectors' metrics to Prometheus at scrape time.

    Args:
        *collectors: The collectors to read (more with ``add_collector``); they
            need distinct ``graph`` names.
        registry: Where to register; prometheus_client's default ``REGISTRY`` unless
            given. Pass ``None`` to register it yourself (``registry.register(exporter)``).
        worker: Opt-in: a ``worker`` label with this value on every sample, naming
            the process (a stable name such as ``"api-0"`` keeps series across
            restarts; a ``collector_id`` starts new series on each restart).
            Prometheus already tells one-target-per-process workers apart by
            ``instance``.
        limits: Also export the process's rate limits and budgets (waits,
            rejections, spend per node and tenant; see the module).

    Raises:
        TypeError: Something other than a ``NodeMetricsCollector`` was passed, or
            ``worker`` is not a string.
        ValueError: Two collectors share a graph name, the registry already has
            these metric names (another exporter: use ``add_collector``), or
            ``worker`` is empty.

    Example:
        >>> from prometheus_client import CollectorRegistry, generate_latest
        >>> registry = CollectorRegistry()
        >>> collector = NodeMetricsCollector(graph="support")
        >>> _ = PrometheusExporter(collector, registry=registry)
        >>> collector.record_success("classify", 12.5)
        >>> b"langgraph_node_executions_total" in generate_latest(registry)
        True
    """

    def __init__(
        self,
        *collectors: NodeMetricsCollector,
        registry: CollectorRegistry | None = REGISTRY,
        worker: str | None = None,
        limits: bool = False,
    ) -> None:
        if not collectors:
            raise TypeError("PrometheusExporter: pass at least one NodeMetricsCollector")
        self._worker = _check_worker(worker)
        self._limits = bool(limits)
        extra = () if worker is None else (_WORKER_LABEL,)
        self._outcome_labels = [*_OUTCOME_LABELS, *extra]
        self._node_labels = [*_NODE_LABELS, *extra]
        self._lock = threading.Lock()
        self._collectors: tuple[NodeMetricsCollector, ...] = ()
        for collector in collectors:
            self.add_collector(collector)
        if registry is not None:
            registry.register(self)

    @property
    def worker(self) -> str | None:
        """The value of the ``worker`` label, or None when the label is off."""
        return self._worker

    def add_collector(self, collector: NodeMetricsCollector) -> None:
        """Export one more collector (it shows from the next scrape on).

        Raises:
            TypeError: ``collector`` is not a ``NodeMetricsCollector``.
            ValueError: Its graph name is already exported by this exporter.
        """
        if not isinstance(collector, NodeMetricsCollector):
            raise TypeError(
                f"PrometheusExporter: collector must be a NodeMetricsCollector, got {collector!r}"
            )
        with self._lock:
            if any(c.graph == collector.graph for c in self._collectors):
                raise ValueError(
                    f"PrometheusExporter: a collector for graph {collector.graph!r} is already "
                    "exported; give each collector its own graph name"
                )
            self._collectors = (*self._collectors, collector)

    def _families(self) -> tuple[HistogramMetricFamily, _Counter, _Counter, _Counter, _Counter]:
        return (
            HistogramMetricFamily(
                "langgraph_node_duration_seconds",
                "Duration of LangGraph node executions.",
                labels=self._outcome_labels,
                unit="seconds",
            ),
            CounterMetricFamily(
                "langgraph_node_executions",
                "LangGraph node executions by outcome and error type.",
                labels=self._outcome_labels,
            ),
            CounterMetricFamily(
                "langgraph_node_retries", "LangGraph node retries.", labels=self._node_labels
            ),
            CounterMetricFamily(
                "langgraph_node_fallbacks",
                "LangGraph node updates produced by a fallback.",
                labels=self._node_labels,
            ),
            CounterMetricFamily(
                "langgraph_node_cache_hits",
                "LangGraph node results served from a cache.",
                labels=self._node_labels,
            ),
        )

    def describe(self) -> Iterator[Metric]:
        """The metric families without samples, so registering never scrapes."""
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        """Build the families from the collector's current lifetime totals."""
        duration, executions, retries, fallbacks, cache_hits = self._families()
        extra = [] if self._worker is None else [self._worker]
        for collector in self._collectors:
            graph = collector.graph or ""
            les = [_go_float(b) for b in collector.duration_buckets] + ["+Inf"]
            for node in collector.series():
                self._add_node(node, graph, extra, les, duration, executions)
                labels = _labels(node.node, graph, *extra)
                retries.add_metric(labels, float(node.retries))
                fallbacks.add_metric(labels, float(node.fallbacks))
                cache_hits.add_metric(labels, float(node.cache_hits))
        yield from (duration, executions, retries, fallbacks, cache_hits)
        if self._limits:
            yield from _limit_families(extra)

    @staticmethod
    def _add_node(
        node: NodeSeries,
        graph: str,
        extra: list[str],
        les: list[str],
        duration: HistogramMetricFamily,
        executions: CounterMetricFamily,
    ) -> None:
        for series in node.outcomes:
            labels = _labels(node.node, graph, series.outcome, series.error_type or "", *extra)
            cumulative, buckets = 0, []
            for le, count in zip(les, series.bucket_counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            if series.outcome == "success" or cumulative:  # rejections carry no time
                duration.add_metric(labels, buckets, series.duration_sum_ms / 1000.0)
            executions.add_metric(labels, float(series.executions))


def _labels(*values: str) -> list[str]:
    """Label values as they leave for the scraper: through the egress point, redacted."""
    return [egress_text(v, max_length=_LABEL_TEXT) if v else v for v in values]


_LABEL_TEXT = 200


def _limit_families(extra: list[str]) -> list[Metric]:
    """The rate-limit and budget counters of this process (``_limits.stats``)."""
    worker = ["worker"] if extra else []
    limit_labels = ["limit", "node", *worker]
    budget_labels = ["budget", "node", "tenant", *worker]
    waits = _Counter(
        "langgraph_rate_limit_waits",
        "Calls that waited for a rate-limit slot.",
        labels=limit_labels,
    )
    seconds = _Counter(
        "langgraph_rate_limit_wait_seconds",
        "Seconds waited for rate-limit slots.",
        labels=limit_labels,
    )
    rejections = _Counter(
        "langgraph_rate_limit_rejections", "Calls a rate limit refused.", labels=limit_labels
    )
    tokens = _Counter("langgraph_budget_tokens", "Tokens spent on budgets.", labels=budget_labels)
    cost = _Counter(
        "langgraph_budget_cost",
        "Cost spent on budgets (the price table's currency).",
        labels=budget_labels,
    )
    calls = _Counter("langgraph_budget_calls", "Calls spent on budgets.", labels=budget_labels)
    exhausted = _Counter(
        "langgraph_budget_exhausted", "Calls a spent budget stopped.", labels=budget_labels
    )
    for row in _limit_stats.limit_series():
        labels = _labels(row.limit, row.node, *extra)
        waits.add_metric(labels, float(row.waits))
        seconds.add_metric(labels, row.wait_seconds)
        rejections.add_metric(labels, float(row.rejections))
    for b in _limit_stats.budget_series():
        labels = _labels(b.budget, b.node, b.tenant, *extra)
        tokens.add_metric(labels, b.tokens)
        cost.add_metric(labels, b.cost)
        calls.add_metric(labels, float(b.calls))
        exhausted.add_metric(labels, float(b.exhausted))
    return [waits, seconds, rejections, tokens, cost, calls, exhausted]


def _check_worker(worker: object) -> str | None:
    if worker is None:
        return None
    if not isinstance(worker, str):
        raise TypeError(f"PrometheusExporter: worker must be a str or None, got {worker!r}")
    if not worker:
        raise ValueError("PrometheusExporter: worker must not be empty (pass None for no label)")
    return worker


class MetricsServer:
    """One process's running ``/metrics`` endpoint, returned by ``serve_metrics``.

    Serves until ``close()`` (or the end of a ``with`` block); its thread is a
    daemon, so it never keeps the process alive.
    """

    def __init__(
        self,
        server: WSGIServer,
        thread: threading.Thread,
        registry: CollectorRegistry,
        exporter: PrometheusExporter,
    ) -> None:
        self._server = server
        self._thread = thread
        self._closed = False
        self.registry = registry
        """The registry being served."""
        self.exporter = exporter
        """The exporter registered in it (``add_collector`` adds graphs later)."""
        host, port = server.server_address[:2]
        self._host = str(host)
        self._port = int(port)

    @property
    def port(self) -> int:
        """The bound port (the one the OS chose when ``port=0`` was asked for)."""
        return self._port

    @property
    def url(self) -> str:
        """The scrape URL, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "serving"
        return f"MetricsServer({self.url!r}, {state})"


def serve_metrics(
    *collectors: NodeMetricsCollector,
    port: int = 0,
    addr: str = "127.0.0.1",
    worker: str | None = None,
    registry: CollectorRegistry | None = None,
) -> MetricsServer:
    """Serve this process's collectors on their own port: one scrape target per process.

    Call it in each worker process (after any fork) with a port of its own; list
    every worker's ``host:port`` as a Prometheus target and aggregate across them
    in PromQL (``sum by (node) (rate(...))``).

    Args:
        *collectors: The process's collectors (distinct ``graph`` names).
        port: The port to listen on; ``0`` lets the OS choose (read ``.port``).
        addr: The address to bind; loopback by default, ``"0.0.0.0"`` to be
            scraped from another host.
        worker: Opt-in ``worker`` label on every sample (see ``PrometheusExporter``).
        registry: The registry to serve; a new one holding only this exporter
            unless given (pass prometheus_client's ``REGISTRY`` to serve its
            ``process_*`` and ``python_*`` metrics as well).

    Returns:
        The running server: ``.port``, ``.url``, ``.close()``; usable with ``with``.

    Raises:
        TypeError: A bad collector, ``worker``, ``port`` or ``addr``.
        ValueError: ``port`` out of range, an empty ``worker``, or a duplicate graph name.
        OSError: The port cannot be bound (already in use, say).

    Example:
        >>> import urllib.request
        >>> collector = NodeMetricsCollector(graph="support")
        >>> collector.record_success("fetch", 12.5)
        >>> with serve_metrics(collector, worker="api-0") as server:
        ...     text = urllib.request.urlopen(server.url, timeout=5).read().decode()
        >>> 'node="fetch"' in text and 'worker="api-0"' in text
        True
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"serve_metrics: port must be an int, got {port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"serve_metrics: port must be in 0..65535, got {port}")
    if not isinstance(addr, str) or not addr:
        raise TypeError(f"serve_metrics: addr must be a non-empty str, got {addr!r}")
    target = CollectorRegistry() if registry is None else registry
    exporter = PrometheusExporter(*collectors, registry=target, worker=worker)
    try:
        server, thread = start_http_server(port, addr=addr, registry=target)
    except BaseException:
        target.unregister(exporter)
        raise
    return MetricsServer(server, thread, target, exporter)
