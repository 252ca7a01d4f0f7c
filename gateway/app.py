"""`create_app(settings)`: the gateway as a Litestar app. No module-level app, settings or clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag

from adapters.base import AdapterSpec
from gateway.auth import audit_refusal
from gateway.console import ConsolePlugin
from gateway.middleware import observe_requests
from gateway.openapi import PolishedJson, PolishedScalar, PolishedSwagger, StrictStructs
from gateway.problems import exception_handlers
from gateway.routes._shared import Services, authenticate_first, provide_principal, provide_services
from gateway.routes.admin import AdminController
from gateway.routes.callbacks import agency_callback
from gateway.routes.claims import ClaimController
from gateway.routes.operations import OperationController
from gateway.routes.system import agencies, live, metrics, openapi_document, ready
from gateway.routes.webhooks import WebhookController
from gateway.runtime import Runtime
from gateway.server import body_deadline
from gateway.settings import Settings
from gateway.stores import Store
from gateway.tracing import name_server_span, server_plugin
from gateway.worker import Worker

__all__ = ["create_app"]

log = logging.getLogger("gateway")

DESCRIPTION = """One API for every debt-collection agency. Money is `{"amount": <integer minor units>,
"currency": "<ISO 4217>"}`; every write needs `Idempotency-Key` and is answered with an Operation;
errors are `application/problem+json` (RFC 9457) with a stable `code`."""


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    specs: Mapping[str, AdapterSpec] | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    tracer_provider: Any = None,
    debug: bool = False,
) -> Litestar:
    """The gateway. `store`, `specs` and `transports` are injectable for tests and embedding;
    `tracer_provider` (OpenTelemetry) turns traces on (gateway/tracing.py)."""
    runtime = Runtime(
        settings, store=store, specs=specs, transports=transports, tracer_provider=tracer_provider
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        app.state.services = Services(runtime)
        stop = asyncio.Event()
        worker_task = None
        if settings.run_worker:
            worker_task = asyncio.create_task(Worker(runtime).run(stop), name="delivery-worker")
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(worker_task, 10)
            await runtime.stop()

    app = Litestar(
        route_handlers=[
            ClaimController,
            OperationController,
            AdminController,
            WebhookController,
            agencies,
            agency_callback,
            live,
            ready,
            metrics,
            openapi_document,
        ],
        dependencies={
            "principal": Provide(provide_principal),
            "services": Provide(provide_services, sync_to_thread=False),
        },
        before_request=authenticate_first,
        middleware=[lambda app: body_deadline(app, settings.body_timeout_seconds)],
        exception_handlers=exception_handlers,
        after_exception=[audit_refusal],
        before_send=[name_server_span] if tracer_provider is not None else [],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="collection-gateway",
            version="1.0.0",
            description=DESCRIPTION,
            path="/docs",
            render_plugins=[PolishedScalar(path="/"), PolishedSwagger(path="/swagger"), PolishedJson()],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(type="http", scheme="bearer", description="API key")
                }
            ),
            security=[{"apiKey": []}],
            tags=[Tag(name="claims"), Tag(name="operations"), Tag(name="agencies"), Tag(name="admin")],
        ),
        # StrictStructs: additionalProperties: false where a Struct refuses unknowns; the ops console
        plugins=[
            StrictStructs(),
            ConsolePlugin(),
            *([server_plugin(tracer_provider)] if tracer_provider is not None else []),
        ],
        request_max_body_size=settings.max_body_bytes,
        # Litestar's default would put its own handler on the root logger; ours (gateway/logs.py)
        # is installed by the CLI, and unexpected errors are logged by gateway/problems.py.
        logging_config=None,
        debug=debug,
    )
    app.state.runtime = runtime
    app.state.services = Services(runtime)
    # Outside the router (and its exception handling), so that every answer, 404s included, is
    # counted and logged once (gateway/middleware.py).
    app.asgi_handler = observe_requests(app.asgi_handler)
    return app
