"""OpenTelemetry traces: spans and W3C trace context, only when OpenTelemetry is in use. Private.

Nothing here imports OpenTelemetry when the package is imported: a span is made only
when the application has imported ``opentelemetry.trace`` and set an SDK tracer provider.

Modules::

    spans     enabled(), the run span's helpers, exceptions recorded through the redaction
    run_span  the span of one run (``langgraph_runner.run``)
    node_span the spans of one node call and its attempts; events of the current span
    carrier   W3C trace context (``traceparent``/``tracestate``): check, inject, extract, attach
"""
