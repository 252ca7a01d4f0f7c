"""Admin (`admin` scope): tenants' routing, API keys and the audit feed. Configuration only, never claims.

Tenant keys get 403 here (and every refused key use lands in the audit feed, see gateway.auth).
Routing changes are versioned (gateway.services.tenants): `PUT` needs `If-Match` with the version
read (missing → 428, stale → 412); the answer carries the new version as `ETag: "N"`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from canonical import ClaimCreate, FieldError, Operation, Page
from canonical.pages import open_cursor, seal_cursor
from canonical.problems import NotFound, ValidationFailed
from gateway.auth import generate_key, hash_key, require_admin
from gateway.routes._shared import (
    READ_PROBLEMS,
    WRITE_PROBLEMS,
    Limit,
    PrincipalDep,
    ServicesDep,
    problem_spec,
    strict_body,
)
from gateway.services.operations import OperationService
from gateway.services.tenants import (
    RoutingHistoryEntry,
    RoutingPreview,
    RoutingRollback,
    TenantDocument,
    TenantList,
    TenantService,
    TenantUpdate,
)
from gateway.stores import ApiKeyRecord, AuditEntry, new_id, utcnow
from gateway.stores.records import QuarantineEntry

__all__ = ["AdminController"]

IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", description='the version read, as its ETag: "7"', required=False),
]


CHANGE_PROBLEMS: dict[int, ResponseSpec] = {
    **WRITE_PROBLEMS,
    412: problem_spec("precondition_failed: If-Match names a version that is no longer current"),
    422: problem_spec("validation_failed: errors[].pointer names the part at fault, e.g. /rules/2/agency"),
    428: problem_spec("precondition_required: If-Match is missing"),
}
SCOPES = ("claims:read", "claims:write", "claims:erase", "admin", "metrics")


class OperationRetry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    #: Why the operation is retried (audited).
    reason: str


RETRY_PROBLEMS: dict[int, ResponseSpec] = {
    **WRITE_PROBLEMS,
    409: problem_spec("operation_not_retryable: not failed, or the agency decided the failure"),
    422: problem_spec("validation_failed (/reason), unsupported_by_agency"),
}


class ApiKeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    tenant: str | None = None
    scopes: list[str]


class ApiKeyView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    name: str
    tenant: str | None
    scopes: list[str]
    #: The key itself: in the answer to its creation only.
    key: str | None = None
    source: str = "api"
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


def _tagged(document: TenantDocument, status: int = 200) -> Response[TenantDocument]:
    return Response(content=document, status_code=status, headers={"ETag": f'"{document.version}"'})


def _view(record: ApiKeyRecord, key: str | None = None) -> ApiKeyView:
    return ApiKeyView(
        id=record.id,
        name=record.name,
        tenant=record.tenant,
        scopes=record.scopes,
        key=key,
        source=record.source,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]

    # tenants and their routing
    @get("/tenants", operation_id="listTenants", responses=READ_PROBLEMS)
    async def list_tenants(self, principal: PrincipalDep, services: ServicesDep) -> TenantList:
        """Every tenant of the config file with its routing in force."""
        require_admin(principal)
        return await TenantService(services.runtime).list_tenants()

    @get("/tenants/{tenant:str}", operation_id="getTenant", responses=READ_PROBLEMS)
    async def get_tenant(
        self, tenant: FromPath[str], principal: PrincipalDep, services: ServicesDep
    ) -> Response[TenantDocument]:
        """The tenant's routing in force and its credential references; `ETag` is the version."""
        require_admin(principal)
        service = TenantService(services.runtime)
        return _tagged(service.document(await service.current(tenant)))

    @put("/tenants/{tenant:str}", operation_id="putTenant", responses=CHANGE_PROBLEMS)
    async def put_tenant(
        self,
        tenant: FromPath[str],
        data: JSONBody[TenantUpdate],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        if_match: IfMatch = None,
    ) -> Response[TenantDocument]:
        """A new routing version: the default agency and the ordered rules (first match wins)."""
        require_admin(principal)
        update = await strict_body(request, TenantUpdate)
        assert update is not None
        return _tagged(await TenantService(services.runtime).update(tenant, update, if_match, principal))

    @get("/tenants/{tenant:str}/routing/history", operation_id="routingHistory", responses=READ_PROBLEMS)
    async def history(
        self,
        tenant: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[RoutingHistoryEntry]:
        """Every version, newest first, with who changed it, when and why."""
        require_admin(principal)
        return await TenantService(services.runtime).history(tenant, cursor, limit)

    @post(
        "/tenants/{tenant:str}/routing/rollback",
        operation_id="rollbackRouting",
        status_code=200,
        responses=CHANGE_PROBLEMS,
    )
    async def rollback(
        self,
        tenant: FromPath[str],
        data: JSONBody[RoutingRollback],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        if_match: IfMatch = None,
    ) -> Response[TenantDocument]:
        """A new version with an old version's routing (If-Match optional)."""
        require_admin(principal)
        rollback = await strict_body(request, RoutingRollback)
        assert rollback is not None
        return _tagged(await TenantService(services.runtime).rollback(tenant, rollback, if_match, principal))

    @post(
        "/tenants/{tenant:str}/routing/preview",
        operation_id="previewRouting",
        status_code=200,
        responses=WRITE_PROBLEMS,
    )
    async def preview(
        self,
        tenant: FromPath[str],
        data: JSONBody[ClaimCreate],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> RoutingPreview:
        """Which agency a claim would go to now, and which rule chose it (null = the default agency)."""
        require_admin(principal)
        claim = await strict_body(request, ClaimCreate)
        assert claim is not None
        return await TenantService(services.runtime).preview(tenant, claim)

    # API keys
    @post("/api-keys", operation_id="createApiKey", status_code=201, responses=WRITE_PROBLEMS)
    async def create_key(
        self,
        data: JSONBody[ApiKeyCreate],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> ApiKeyView:
        """Create a key; the key itself is in this answer only."""
        require_admin(principal)
        data = await strict_body(request, ApiKeyCreate)  # type: ignore[assignment]  # checks Content-Type too
        assert data is not None
        errors = [
            FieldError(pointer=f"/scopes/{i}", detail=f"unknown scope {s!r} (one of {', '.join(SCOPES)})")
            for i, s in enumerate(data.scopes)
            if s not in SCOPES
        ]
        if not data.scopes:
            errors.append(FieldError(pointer="/scopes", detail="a key needs at least one scope"))
        if not data.name.strip():
            errors.append(FieldError(pointer="/name", detail="name the key (it is the author in the audit)"))
        if data.tenant is not None and data.tenant not in services.runtime.settings.tenants:
            errors.append(FieldError(pointer="/tenant", detail=f"no tenant {data.tenant!r}"))
        if data.tenant is not None:
            errors += [
                FieldError(pointer=f"/scopes/{i}", detail="a tenant key cannot carry admin")
                for i, s in enumerate(data.scopes)
                if s == "admin"
            ]
        if errors:
            raise ValidationFailed(errors)
        key = generate_key()
        record = ApiKeyRecord(
            id=new_id("key"),
            name=data.name.strip(),
            tenant=data.tenant,
            scopes=data.scopes,
            key_sha256=hash_key(key),
            created_at=utcnow(),
        )
        store = services.runtime.store
        await store.put_api_key(record)
        await store.append_audit(
            AuditEntry(
                id=new_id("aud"),
                at=record.created_at,
                actor=principal.name,
                action="api_key.created",
                tenant=record.tenant,
                detail={
                    "key_id": record.id,
                    "name": record.name,
                    "scopes": record.scopes,
                    "by_key": principal.key_id,
                },
            )
        )
        return _view(record, key)

    @get("/api-keys", operation_id="listApiKeys", responses=READ_PROBLEMS)
    async def list_keys(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[ApiKeyView]:
        """The keys by id, a page at a time (never the key itself); revoked ones with `revoked_at`."""
        require_admin(principal)
        runtime = services.runtime
        after = None if cursor is None else open_cursor(cursor, "api-keys", runtime.cursor_key)
        records = [r for r in await runtime.store.list_api_keys() if after is None or r.id > after]
        page, more = records[:limit], len(records) > limit
        return Page(
            data=[_view(r) for r in page],
            has_more=more,
            next_cursor=seal_cursor(page[-1].id, "api-keys", runtime.cursor_key) if more else None,
        )

    @delete("/api-keys/{key_id:str}", operation_id="revokeApiKey", status_code=204, responses=READ_PROBLEMS)
    async def revoke_key(self, key_id: FromPath[str], principal: PrincipalDep, services: ServicesDep) -> None:
        """Revoke at once: the next request with the key is 401."""
        require_admin(principal)
        store = services.runtime.store
        for record in await store.list_api_keys():
            if record.id == key_id:
                if record.revoked_at is None:
                    record.revoked_at = utcnow()
                    await store.put_api_key(record)
                    await store.append_audit(
                        AuditEntry(
                            id=new_id("aud"),
                            at=record.revoked_at,
                            actor=principal.name,
                            action="api_key.revoked",
                            tenant=record.tenant,
                            detail={"key_id": record.id, "name": record.name, "by_key": principal.key_id},
                        )
                    )
                return
        raise NotFound(f"no key {key_id}")

    # quarantine
    @get("/quarantine", operation_id="listQuarantine", responses=READ_PROBLEMS)
    async def quarantine(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[QuarantineEntry]:
        """Agency feed records the gateway could not read (set aside; the feed went on), newest
        first. Kept up to 10,000 (docs/operations.md); `raw` holds the record's first 4 KB."""
        require_admin(principal)
        return await services.reads.list_quarantine(cursor, limit)

    # audit
    # operations
    @post(
        "/tenants/{tenant:str}/operations/{operation_id:str}/retry",
        operation_id="retryOperation",
        status_code=202,
        responses=RETRY_PROBLEMS,
    )
    async def retry_operation(
        self,
        tenant: FromPath[str],
        operation_id: FromPath[str],
        data: JSONBody[OperationRetry],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Response[Operation]:
        """Queue a failed operation again: the same operation (same agency-side idempotency token),
        only when the agency did not decide the failure (agency_unavailable, agency_rate_limited,
        agency_auth_failed, internal_error); audited with the reason. The ops console's retry."""
        require_admin(principal)
        retry = await strict_body(request, OperationRetry)
        assert retry is not None
        record = await OperationService(services.runtime).retry(
            operation_id, retry.reason, principal, tenant=tenant
        )
        return Response(
            record.public(),
            status_code=202,
            headers={"Location": f"/v1/tenants/{tenant}/operations/{operation_id}"},
        )

    @get("/audit", operation_id="listAudit", responses=READ_PROBLEMS)
    async def audit(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[AuditEntry]:
        """The append-only audit feed, oldest first: admin changes and refused key uses (no secrets)."""
        require_admin(principal)
        return await TenantService(services.runtime).audit(cursor, limit)
