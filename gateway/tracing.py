"""Traces (OpenTelemetry): off by default, on with the standard `OTEL_*` environment.

One trace follows a write from the API request to the agency call that delivers it:

    POST /v1/tenants/{tenant}/claims      (Litestar's OpenTelemetry plugin, server span)
      └─ deliver claim.create             (the worker, later, maybe in another process)
           └─ POST                        (httpx instrumentation of the agency call)

The request's context is written into the operation when it is accepted (`carrier`, W3C
`traceparent` via the configured propagators) and the worker continues it (`delivery_span`),
so the link survives the outbox, a restart and another replica.

On when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`) or an OTLP endpoint is set
(`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and `OTEL_SDK_DISABLED`
is not `true`. Service name, resource attributes, sampler and propagators come from the usual
`OTEL_*` variables, read by the SDK. The packages are the `otel` extra (pyproject.toml); the
container image has them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "carrier",
    "delivery_span",
    "name_server_span",
    "server_plugin",
    "tracer_provider_from_env",
    "tracing_requested",
]


def tracing_requested(env: Mapping[str, str]) -> bool:
    """Whether the environment asks for traces (the OpenTelemetry SDK's own variables)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = [e.strip() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if exporters:
        return exporters != ["none"]
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def tracer_provider_from_env(env: Mapping[str, str], service_name: str) -> Any:
    """A TracerProvider exporting as `OTEL_*` says, or None when traces are not asked for."""
    if not tracing_requested(env):
        return None
    try:
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as exc:
        raise RuntimeError(
            "OTEL_* asks for traces but OpenTelemetry is not installed: "
            "pip install 'collection-gateway[otel]'"
        ) from exc
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name.
    resource = Resource.create({"service.name": service_name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    exporters = [e.strip() for e in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if e.strip()]
    for name in exporters:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name != "none":
            raise RuntimeError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")
    return provider


def carrier(provider: Any) -> dict[str, str] | None:
    """The current trace context as headers to store with an operation (None: nothing to carry)."""
    if provider is None:
        return None
    from opentelemetry import propagate

    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


@contextlib.contextmanager
def delivery_span(provider: Any, operation: Any) -> Iterator[None]:
    """A span for one delivery attempt, continuing the trace of the request that accepted it."""
    if provider is None:
        yield
        return
    from opentelemetry import propagate, trace

    parent = propagate.extract(operation.trace_context or {})
    tracer = provider.get_tracer("gateway.worker")
    with tracer.start_as_current_span(
        f"deliver {operation.kind}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "cg.operation.id": operation.id,
            "cg.operation.kind": operation.kind,
            "cg.claim.id": operation.claim_id,
            "cg.agency": operation.agency,
            "cg.attempt": operation.attempts,
        },
    ):
        yield


def server_plugin(provider: Any) -> Any:
    """Litestar's own OpenTelemetry plugin (not the PyPI litestar instrumentation), for `provider`.

    Its span starts before routing, when only the path is known, and Litestar names it after
    the path (ids in span names and http.route): it starts as the method alone here, and
    `name_server_span` (a before_send hook) names it after the route template once routed.
    """
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return OpenTelemetryPlugin(
        OpenTelemetryConfig(
            tracer_provider=provider,
            scope_span_details_extractor=_method_only,
            # Probes and scrapes would be most of the spans and say nothing about a request.
            exclude=["^/health/", "^/metrics$"],
        )
    )


def _method_only(scope: Any) -> tuple[str, dict[str, str]]:
    return str(scope.get("method") or "HTTP"), {}


async def name_server_span(message: Any, scope: Any) -> None:
    """`before_send` hook: the server span is named `METHOD /route/{template}` (semconv)."""
    if message["type"] != "http.response.start":
        return
    template = scope.get("path_template")
    if not template:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.update_name(f"{scope.get('method', '')} {template}")
        span.set_attribute("http.route", template)
        # The access line (written after the span ends) names the trace: logs → trace in one step.
        scope.setdefault("state", {})["trace_id"] = format(span.get_span_context().trace_id, "032x")
