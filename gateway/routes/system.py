"""Outside tenants: agencies, health, metrics, the OpenAPI document."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get

from gateway import metrics as gateway_metrics
from gateway.auth import ScopeRefused
from gateway.openapi import served_document
from gateway.routes._shared import READ_PROBLEMS, PrincipalDep, ServicesDep, provide_principal

__all__ = ["agencies", "live", "metrics", "openapi_document", "ready"]


class AgencyInfo(msgspec.Struct, kw_only=True):
    name: str
    configured: bool
    capabilities: dict[str, bool]
    #: What the agency's change feed reports into the claim ledger ("status", "payments", "invoices").
    feeds: list[str]
    currencies: list[str] | None
    claim_types: list[str] | None


class AgencyList(msgspec.Struct, kw_only=True):
    """Every agency in one page: shaped like every list (api.md Conventions), never more to fetch."""

    data: list[AgencyInfo]
    has_more: bool = False
    next_cursor: str | None = None


class Health(msgspec.Struct, kw_only=True):
    status: str


@get("/v1/agencies", operation_id="listAgencies", tags=["agencies"], responses=READ_PROBLEMS)
async def agencies(principal: PrincipalDep, services: ServicesDep) -> AgencyList:
    """Every installed agency adapter, its capabilities, and whether this gateway is configured for it."""
    runtime = services.runtime
    return AgencyList(
        data=[
            AgencyInfo(name=name, configured=name in runtime.settings.agencies, **spec.capabilities.as_json())
            for name, spec in runtime.specs.items()
        ]
    )


@get("/health/live", operation_id="live", tags=["health"], include_in_schema=True)
async def live() -> Health:
    return Health(status="ok")


@get("/health/ready", operation_id="ready", tags=["health"], responses={503: READ_PROBLEMS[503]})
async def ready(services: ServicesDep) -> Health:
    """Ready when the store answers."""
    await services.runtime.store.ping()
    await services.runtime.ensure_ready()
    return Health(status="ok")


@get("/metrics", operation_id="metrics", tags=["health"], include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    """Prometheus text format: every process's samples under `serve --workers N` (gateway/metrics.py).

    With `metrics_public = false` it needs a key with the `metrics` (or `admin`) scope."""
    if not services.runtime.settings.metrics_public:
        principal = await provide_principal(request)
        if not principal.scopes & {"metrics", "admin"}:
            raise ScopeRefused("this needs the metrics scope", principal)
    return Response(content=gateway_metrics.exposition(), media_type=gateway_metrics.MEDIA_TYPE)


@get("/v1/openapi.json", include_in_schema=False)
async def openapi_document(request: Request[Any, Any, Any]) -> Response[bytes]:
    document = served_document(request.app)
    return Response(content=msgspec.json.encode(document), media_type="application/vnd.oai.openapi+json")
