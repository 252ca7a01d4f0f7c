"""Tenants: routing in force, its versions and what changed, preview, change and roll back.

Every change goes through `TenantService` exactly as `PUT /v1/admin/tenants/{t}` and
`POST …/routing/rollback` do: the form carries the version it was read at, sent as If-Match, so
a change made meanwhile by someone else is refused (412) instead of overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from canonical import ClaimCreate, FieldError
from canonical.problems import GatewayError, ValidationFailed
from gateway.console._diff import routing_diff, rule_text
from gateway.console._web import CONSOLE, AdminDep, render
from gateway.demo import DEMO_CLAIM
from gateway.services.tenants import RoutingPreview, RoutingRollback, Rule, TenantService, TenantUpdate

__all__ = ["preview", "problem_of", "rollback", "tenant", "tenants", "update_routing"]

HISTORY_PAGE = 10
_rules_decoder = msgspec.json.Decoder(list[Rule])
_claim_decoder = msgspec.json.Decoder(ClaimCreate)
_pretty = msgspec.json.Encoder()


def _pretty_json(value: Any) -> str:
    return msgspec.json.format(_pretty.encode(value), indent=2).decode()


def _int(text: Any) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def problem_of(exc: GatewayError) -> dict[str, Any]:
    errors: list[FieldError] = exc.extensions.get("errors") or []
    return {
        "status": exc.status,
        "code": exc.code,
        "detail": exc.detail,
        "errors": [{"pointer": e.pointer, "detail": e.detail} for e in errors],
    }


def _decode_error(field: str, exc: msgspec.MsgspecError) -> ValidationFailed:
    return ValidationFailed([FieldError(pointer=f"/{field}", detail=str(exc))])


@get("/tenants", include_in_schema=False)
async def tenants(admin: AdminDep) -> Template:
    listing = await TenantService(admin.runtime).list_tenants()
    return render("tenants.html.j2", admin, page="tenants", tenants=listing.data, rule_text=rule_text)


async def _tenant_page(
    admin: AdminDep,
    tenant: FromPath[str],
    query: Mapping[str, Any],
    *,
    status_code: int = 200,
    problem: dict[str, Any] | None = None,
    form: Mapping[str, Any] | None = None,
    preview: RoutingPreview | None = None,
) -> Template:
    service = TenantService(admin.runtime)
    current = await service.current(tenant)
    document = service.document(current)
    history = await service.history(tenant, query.get("history") or None, HISTORY_PAGE)
    diff_to = _int(query.get("to")) or document.version
    diff_from = _int(query.get("from")) or diff_to - 1
    diff = None
    if 1 <= diff_from <= document.version and 1 <= diff_to <= document.version and diff_from != diff_to:
        old, new = await service.version(tenant, diff_from), await service.version(tenant, diff_to)
        diff = routing_diff((old.default_agency, old.rules), (new.default_agency, new.rules))
    form = form or {}
    return render(
        "tenant.html.j2",
        admin,
        status_code=status_code,
        page="tenants",
        document=document,
        agencies=sorted(document.credentials),
        history=history,
        diff=diff,
        diff_from=diff_from,
        diff_to=diff_to,
        changed=_int(query.get("changed")),
        problem=problem,
        preview=preview,
        rule_text=rule_text,
        form_default=form.get("default_agency") or document.default_agency,
        form_rules=form.get("rules") or _pretty_json(document.rules),
        form_reason=form.get("reason") or "",
        form_claim=form.get("claim") or _pretty_json(DEMO_CLAIM),
        form_target=form.get("target") or "",
    )


@get("/tenants/{tenant:str}", include_in_schema=False)
async def tenant(admin: AdminDep, tenant: FromPath[str], request: Request[Any, Any, Any]) -> Template:
    return await _tenant_page(admin, tenant, request.query_params)


@post("/tenants/{tenant:str}/routing", include_in_schema=False, status_code=303)
async def update_routing(
    admin: AdminDep, tenant: FromPath[str], request: Request[Any, Any, Any]
) -> Redirect | Template:
    """A new version: the default agency and the rules as edited, with the required reason."""
    form = await request.form()
    service = TenantService(admin.runtime)
    try:
        try:
            rules = _rules_decoder.decode(str(form.get("rules") or "[]"))
        except msgspec.MsgspecError as exc:
            raise _decode_error("rules", exc) from None
        update = TenantUpdate(
            default_agency=str(form.get("default_agency") or ""),
            rules=rules,
            reason=str(form.get("reason") or ""),
        )
        version = str(form.get("version") or "").strip()
        document = await service.update(tenant, update, f'"{version}"' if version else None, admin.principal)
    except GatewayError as exc:
        return await _tenant_page(
            admin, tenant, {}, status_code=exc.status, problem=problem_of(exc), form=form
        )
    return Redirect(f"{CONSOLE}/tenants/{tenant}?changed={document.version}", status_code=303)


@post("/tenants/{tenant:str}/rollback", include_in_schema=False, status_code=303)
async def rollback(
    admin: AdminDep, tenant: FromPath[str], request: Request[Any, Any, Any]
) -> Redirect | Template:
    """A new version carrying an old version's routing, with the required reason."""
    form = await request.form()
    service = TenantService(admin.runtime)
    try:
        target = _int(form.get("target"))
        if target is None:
            raise ValidationFailed(
                [FieldError(pointer="/version", detail="name the version to roll back to")]
            )
        version = str(form.get("version") or "").strip()
        document = await service.rollback(
            tenant,
            RoutingRollback(version=target, reason=str(form.get("reason") or "")),
            f'"{version}"' if version else None,
            admin.principal,
        )
    except GatewayError as exc:
        return await _tenant_page(
            admin, tenant, {}, status_code=exc.status, problem=problem_of(exc), form=form
        )
    return Redirect(f"{CONSOLE}/tenants/{tenant}?changed={document.version}", status_code=303)


@post("/tenants/{tenant:str}/preview", include_in_schema=False, status_code=200)
async def preview(admin: AdminDep, tenant: FromPath[str], request: Request[Any, Any, Any]) -> Template:
    """Which agency a sample claim would go to under the routing in force (nothing is stored)."""
    form = await request.form()
    service = TenantService(admin.runtime)
    try:
        try:
            claim = _claim_decoder.decode(str(form.get("claim") or ""))
        except msgspec.MsgspecError as exc:
            raise _decode_error("claim", exc) from None
        result = await service.preview(tenant, claim)
    except GatewayError as exc:
        return await _tenant_page(
            admin, tenant, {}, status_code=exc.status, problem=problem_of(exc), form=form
        )
    return await _tenant_page(admin, tenant, {}, form=form, preview=result)
