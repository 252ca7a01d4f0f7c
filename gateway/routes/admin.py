"""Admin (`admin` scope): tenants' routing and API keys. Configuration only, never claims."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody

from canonical import ClaimCreate
from canonical.problems import NotFound
from gateway.auth import generate_key, hash_key, require_admin
from gateway.routes._shared import READ_PROBLEMS, WRITE_PROBLEMS, PrincipalDep, ServicesDep
from gateway.services.routing import choose_agency
from gateway.stores import ApiKeyRecord, new_id, utcnow

__all__ = ["AdminController"]


class RoutingPreview(msgspec.Struct, kw_only=True):
    agency: str
    rule: int | None
    version: int


class TenantDocument(msgspec.Struct, kw_only=True):
    tenant: str
    version: int
    default_agency: str
    rules: list[dict[str, Any]]
    credentials: dict[str, dict[str, Any]]


class ApiKeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    tenant: str | None = None
    scopes: list[str]


class ApiKeyView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    name: str
    tenant: str | None
    scopes: list[str]
    key: str | None = None
    created_at: Any = None
    revoked_at: Any = None


class ApiKeyList(msgspec.Struct, kw_only=True):
    data: list[ApiKeyView]


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]

    @get("/tenants/{tenant:str}", operation_id="getTenant", responses=READ_PROBLEMS)
    async def get_tenant(
        self, tenant: FromPath[str], principal: PrincipalDep, services: ServicesDep
    ) -> TenantDocument:
        require_admin(principal)
        settings = services.runtime.settings.tenants.get(tenant)
        if settings is None:
            raise NotFound(f"no tenant {tenant!r}")
        return TenantDocument(
            tenant=tenant,
            version=1,
            default_agency=settings.default_agency,
            rules=[msgspec.to_builtins(rule) for rule in settings.routing.rules],
            credentials={
                agency: {k: v for k, v in section.items() if not k.endswith(("_secret", "token", "password"))}
                for agency, section in settings.credentials.items()
            },
        )

    @post(
        "/tenants/{tenant:str}/routing/preview",
        operation_id="previewRouting",
        status_code=200,
        responses=WRITE_PROBLEMS,
    )
    async def preview(
        self,
        tenant: FromPath[str],
        data: JSONBody[ClaimCreate],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> RoutingPreview:
        """Which agency a claim would go to now, and which rule chose it (null = the default agency)."""
        require_admin(principal)
        settings = services.runtime.settings.tenants.get(tenant)
        if settings is None:
            raise NotFound(f"no tenant {tenant!r}")
        agency, rule = choose_agency(settings, data)
        return RoutingPreview(agency=agency, rule=rule, version=1)

    @post("/api-keys", operation_id="createApiKey", status_code=201, responses=WRITE_PROBLEMS)
    async def create_key(
        self, data: JSONBody[ApiKeyCreate], principal: PrincipalDep, services: ServicesDep
    ) -> ApiKeyView:
        """Create a key; the key itself is in this answer only."""
        require_admin(principal)
        from canonical import FieldError
        from canonical.problems import ValidationFailed

        allowed = {"claims:read", "claims:write", "admin"}
        bad = [s for s in data.scopes if s not in allowed]
        if bad:
            raise ValidationFailed([FieldError(pointer="/scopes", detail=f"unknown scopes {bad}")])
        if data.tenant is not None and data.tenant not in services.runtime.settings.tenants:
            raise ValidationFailed([FieldError(pointer="/tenant", detail=f"no tenant {data.tenant!r}")])
        key = generate_key()
        record = ApiKeyRecord(
            id=new_id("key"),
            name=data.name,
            tenant=data.tenant,
            scopes=data.scopes,
            key_sha256=hash_key(key),
            created_at=utcnow(),
        )
        await services.runtime.store.put_api_key(record)
        return ApiKeyView(
            id=record.id,
            name=record.name,
            tenant=record.tenant,
            scopes=record.scopes,
            key=key,
            created_at=record.created_at,
        )

    @get("/api-keys", operation_id="listApiKeys", responses=READ_PROBLEMS)
    async def list_keys(self, principal: PrincipalDep, services: ServicesDep) -> ApiKeyList:
        require_admin(principal)
        records = await services.runtime.store.list_api_keys()
        return ApiKeyList(
            data=[
                ApiKeyView(
                    id=r.id,
                    name=r.name,
                    tenant=r.tenant,
                    scopes=r.scopes,
                    created_at=r.created_at,
                    revoked_at=r.revoked_at,
                )
                for r in records
            ]
        )

    @delete("/api-keys/{key_id:str}", operation_id="revokeApiKey", status_code=204, responses=READ_PROBLEMS)
    async def revoke_key(self, key_id: FromPath[str], principal: PrincipalDep, services: ServicesDep) -> None:
        """Revoke at once: the next request with the key is 401."""
        require_admin(principal)
        store = services.runtime.store
        for record in await store.list_api_keys():
            if record.id == key_id:
                record.revoked_at = utcnow()
                await store.put_api_key(record)
                return
        raise NotFound(f"no key {key_id}")
