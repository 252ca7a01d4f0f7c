"""Traces: one trace from the API request through the outbox to the worker's agency call."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from adapters.registry import discover
from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS, demo_document
from gateway.logs import flush
from gateway.settings import settings_from_mapping
from gateway.tracing import tracer_provider_from_env, tracing_requested
from tests.support.gateway import claim_body


@pytest.fixture
def intrum() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    specs = discover()
    sandbox: RunningServer = serve_in_thread(specs["intrum"].sandbox.create_app())  # type: ignore[union-attr]
    try:
        document, secrets = demo_document({"intrum": specs["intrum"]}, {"intrum": sandbox.base_url})
        document["agencies"]["intrum"]["poll_interval_seconds"] = 0.1
        document["tenants"].pop("globex")
        document["api_keys"] = [k for k in document["api_keys"] if k.get("tenant") != "globex"]
        yield document, secrets
    finally:
        sandbox.stop()


async def accepted_claim(base_url: str, headers: dict[str, str]) -> httpx.Response:
    body = claim_body(f"ORD-{uuid.uuid4().hex[:8]}")
    body["invoices"][0]["number"] = uuid.uuid4().hex[:10]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.post(
            "/v1/tenants/acme/claims",
            json=body,
            headers={
                "Authorization": f"Bearer {DEMO_KEYS['acme']}",
                "Idempotency-Key": uuid.uuid4().hex,
                "Prefer": "wait=20",
                **headers,
            },
        )


async def test_one_trace_spans_the_request_its_delivery_and_the_agency_call(
    intrum: tuple[dict[str, Any], dict[str, str]], log_stream: io.StringIO
) -> None:
    document, secrets = intrum
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    specs = discover()
    settings = settings_from_mapping(document, secrets, specs)
    gateway = serve_in_thread(
        create_app(settings, specs={"intrum": specs["intrum"]}, tracer_provider=provider)
    )
    try:
        answer = await accepted_claim(gateway.base_url, {})
        assert answer.status_code == 201, answer.text
    finally:
        gateway.stop()
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    (request,) = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST")]
    assert request.name == "POST /v1/tenants/{tenant}/claims"
    (delivery,) = [s for s in spans if s.name == "deliver claim.create"]
    trace_id = request.context.trace_id
    # The worker took the operation from the outbox, later, and continued the request's trace.
    assert delivery.context.trace_id == trace_id
    assert delivery.parent is not None and delivery.parent.span_id == request.context.span_id
    assert delivery.attributes is not None and delivery.attributes["cg.operation.id"] == answer.json()["id"]
    calls = [
        s
        for s in spans
        if s.kind == SpanKind.CLIENT and s.parent and s.parent.span_id == delivery.context.span_id
    ]
    urls = [str((s.attributes or {}).get("url.full") or (s.attributes or {}).get("http.url")) for s in calls]
    assert any(url.endswith("/portfolio/registration") for url in urls), urls
    assert all(s.context.trace_id == trace_id for s in calls)
    # No health probe or scrape becomes a trace, and no span carries a secret.
    rendered = "".join(s.to_json() for s in spans)
    assert not any(secret in rendered for secret in secrets.values())
    # The request's access line names its trace (written with its batch: flush it now).
    flush()
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    (access,) = [r for r in lines if r["logger"] == "gateway.access" and r["method"] == "POST"]
    assert access["trace_id"] == format(trace_id, "032x")


async def test_without_otel_environment_there_is_no_tracing_and_nothing_is_carried(
    intrum: tuple[dict[str, Any], dict[str, str]],
) -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracer_provider_from_env({}, "x") is None
    console = tracer_provider_from_env(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "gw-test"}, "x"
    )
    assert console is not None
    console.shutdown()

    document, secrets = intrum
    specs = discover()
    app = create_app(settings_from_mapping(document, secrets, specs), specs={"intrum": specs["intrum"]})
    gateway = serve_in_thread(app)
    try:
        answer = await accepted_claim(gateway.base_url, {"traceparent": f"00-{'a' * 32}-{'b' * 16}-01"})
        assert answer.status_code == 201, answer.text
        operation = await app.state.runtime.store.get_operation(answer.json()["id"])
    finally:
        gateway.stop()
    assert operation.trace_context is None  # a client's traceparent is not stored when traces are off
