"""Operations and the event feed: `/v1/tenants/{tenant}/operations…`, `/events`."""

from __future__ import annotations

from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from canonical import Event, Operation, OperationKind, OperationStatus, Page
from gateway.auth import require_tenant
from gateway.routes._shared import READ_PROBLEMS, Limit, PrincipalDep, ServicesDep

__all__ = ["OperationController"]


class OperationController(Controller):
    path = "/v1/tenants/{tenant:str}"
    tags = ["operations"]

    @get("/operations/{operation_id:str}", operation_id="getOperation", responses=READ_PROBLEMS)
    async def get_operation(
        self,
        tenant: FromPath[str],
        operation_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Operation:
        require_tenant(principal, tenant, "claims:read")
        return await services.reads.get_operation(tenant, operation_id)

    @get("/operations", operation_id="listOperations", responses=READ_PROBLEMS)
    async def list_operations(
        self,
        tenant: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        status: FromQuery[OperationStatus | None] = None,
        kind: FromQuery[OperationKind | None] = None,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[Operation]:
        require_tenant(principal, tenant, "claims:read")
        return await services.reads.list_operations(tenant, status, kind, cursor, limit)

    @get(
        "/events",
        operation_id="listEvents",
        summary="The tenant's event feed, oldest first",
        responses=READ_PROBLEMS,
    )
    async def list_events(
        self,
        tenant: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[Event]:
        require_tenant(principal, tenant, "claims:read")
        return await services.reads.list_events(tenant, cursor, limit)
