"""Admin (`admin` scope): a tenant's webhook endpoints, their secrets and their delivery attempts.

Every handler is one call of gateway.services.webhooks.WebhookService (the console uses the same).
Tenant keys get 403; an unknown tenant or endpoint is 404.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from canonical import Page
from gateway.auth import require_admin
from gateway.routes._shared import (
    READ_PROBLEMS,
    WRITE_PROBLEMS,
    Limit,
    PrincipalDep,
    ServicesDep,
    strict_body,
)
from gateway.services.webhooks import DeliveryView, WebhookCreate, WebhookUpdate, WebhookView

__all__ = ["WebhookController"]


class WebhookController(Controller):
    path = "/v1/admin/tenants/{tenant:str}/webhooks"
    tags = ["admin"]

    @post("/", operation_id="createWebhook", status_code=201, responses=WRITE_PROBLEMS)
    async def create(
        self,
        tenant: FromPath[str],
        data: JSONBody[WebhookCreate],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> WebhookView:
        """Subscribe an endpoint to the tenant's events; the signing `secret` is in this answer only.

        `url` must be https to a public address unless its host is in `webhooks.allow_http_hosts`.
        """
        require_admin(principal)
        body = await strict_body(request, WebhookCreate)
        assert body is not None
        return await services.webhooks.create(tenant, body, principal)

    @get("/", operation_id="listWebhooks", responses=READ_PROBLEMS)
    async def list_endpoints(
        self,
        tenant: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[WebhookView]:
        """The tenant's endpoints, oldest first (never their secrets)."""
        require_admin(principal)
        return await services.webhooks.list_endpoints(tenant, cursor, limit)

    @get("/{endpoint_id:str}", operation_id="getWebhook", responses=READ_PROBLEMS)
    async def get_endpoint(
        self,
        tenant: FromPath[str],
        endpoint_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> WebhookView:
        """One endpoint; `status: disabled` with `disabled_reason` after 3 days of failures."""
        require_admin(principal)
        return await services.webhooks.get(tenant, endpoint_id)

    @patch("/{endpoint_id:str}", operation_id="updateWebhook", responses=WRITE_PROBLEMS)
    async def update(
        self,
        tenant: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[WebhookUpdate],  # documents the body; see strict_body
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> WebhookView:
        """Change `url`, `event_types`, `description`; `status: "enabled"` re-enables (from where it stopped)."""
        require_admin(principal)
        change = await strict_body(request, WebhookUpdate)
        assert change is not None
        return await services.webhooks.update(tenant, endpoint_id, change, principal)

    @delete("/{endpoint_id:str}", operation_id="deleteWebhook", status_code=204, responses=READ_PROBLEMS)
    async def remove(
        self,
        tenant: FromPath[str],
        endpoint_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> None:
        """Unsubscribe at once; the endpoint's attempts and pending redeliveries go with it."""
        require_admin(principal)
        await services.webhooks.delete(tenant, endpoint_id, principal)

    @post(
        "/{endpoint_id:str}/rotate-secret",
        operation_id="rotateWebhookSecret",
        status_code=200,
        responses=WRITE_PROBLEMS,
    )
    async def rotate(
        self,
        tenant: FromPath[str],
        endpoint_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> WebhookView:
        """A new signing secret (in this answer only); the old one keeps signing beside it for 24 h."""
        require_admin(principal)
        return await services.webhooks.rotate(tenant, endpoint_id, principal)

    @get("/{endpoint_id:str}/deliveries", operation_id="listWebhookDeliveries", responses=READ_PROBLEMS)
    async def deliveries(
        self,
        tenant: FromPath[str],
        endpoint_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: FromQuery[str | None] = None,
    ) -> Page[DeliveryView]:
        """Delivery attempts, newest first: status code or error, duration, the next attempt's time."""
        require_admin(principal)
        return await services.webhooks.deliveries(tenant, endpoint_id, cursor, limit)

    @post(
        "/{endpoint_id:str}/deliveries/{delivery_id:str}/redeliver",
        operation_id="redeliverWebhook",
        status_code=202,
        responses=WRITE_PROBLEMS,
    )
    async def redeliver(
        self,
        tenant: FromPath[str],
        endpoint_id: FromPath[str],
        delivery_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Response[DeliveryView]:
        """Send that attempt's event again (same `webhook-id`), once, soon; answers the attempt redelivered."""
        require_admin(principal)
        return Response(
            await services.webhooks.redeliver(tenant, endpoint_id, delivery_id, principal), status_code=202
        )
