"""Webhooks: each tenant's endpoints, an endpoint's recent deliveries, and redelivery.

Reads and the redelivery go through `WebhookService`, as `GET …/webhooks`,
`GET …/webhooks/{id}/deliveries` and `POST …/deliveries/{id}/redeliver` do (audited the same way).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from canonical.problems import GatewayError
from gateway.console._tenants import problem_of
from gateway.console._web import CONSOLE, AdminDep, render
from gateway.services.webhooks import WebhookService

__all__ = ["redeliver", "webhook", "webhooks"]

PAGE = 20


@get("/webhooks", include_in_schema=False)
async def webhooks(admin: AdminDep, request: Request[Any, Any, Any]) -> Template:
    tenants = sorted(admin.runtime.settings.tenants)
    tenant = request.query_params.get("tenant") or (tenants[0] if tenants else "")
    listing = await WebhookService(admin.runtime).list_endpoints(
        tenant, request.query_params.get("cursor") or None, PAGE
    )
    return render("webhooks.html.j2", admin, page="webhooks", tenants=tenants, tenant=tenant, listing=listing)


async def _endpoint_page(
    admin: AdminDep,
    tenant: str,
    endpoint_id: str,
    cursor: str | None,
    *,
    status_code: int = 200,
    problem: dict[str, Any] | None = None,
    redelivered: str | None = None,
) -> Template:
    service = WebhookService(admin.runtime)
    endpoint = await service.get(tenant, endpoint_id)
    deliveries = await service.deliveries(tenant, endpoint_id, cursor, PAGE)
    return render(
        "webhook.html.j2",
        admin,
        status_code=status_code,
        page="webhooks",
        endpoint=endpoint,
        deliveries=deliveries,
        problem=problem,
        redelivered=redelivered,
    )


@get("/webhooks/{tenant:str}/{endpoint_id:str}", include_in_schema=False)
async def webhook(
    admin: AdminDep, tenant: FromPath[str], endpoint_id: FromPath[str], request: Request[Any, Any, Any]
) -> Template:
    query = request.query_params
    return await _endpoint_page(
        admin, tenant, endpoint_id, query.get("cursor") or None, redelivered=query.get("redelivered")
    )


@post(
    "/webhooks/{tenant:str}/{endpoint_id:str}/deliveries/{delivery_id:str}/redeliver",
    include_in_schema=False,
    status_code=303,
)
async def redeliver(
    admin: AdminDep, tenant: FromPath[str], endpoint_id: FromPath[str], delivery_id: FromPath[str]
) -> Redirect | Template:
    """Send the delivery's event again (same `webhook-id`), outside the endpoint's retry schedule."""
    try:
        await WebhookService(admin.runtime).redeliver(tenant, endpoint_id, delivery_id, admin.principal)
    except GatewayError as exc:
        return await _endpoint_page(
            admin, tenant, endpoint_id, None, status_code=exc.status, problem=problem_of(exc)
        )
    return Redirect(f"{CONSOLE}/webhooks/{tenant}/{endpoint_id}?redelivered={delivery_id}", status_code=303)
