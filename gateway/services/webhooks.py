"""Webhook endpoints of a tenant: subscribe, change, rotate, list attempts, redeliver.

The one way in for the admin API, the CLI (through the API) and the ops console. Delivery itself
is the worker's (gateway.webhooks.delivery), which uses `signing_secrets` and `disable` from here.

Secrets: made here, answered once (on creation and rotation), stored sealed (gateway.webhooks.
signing), never logged, never in the audit. A rotation keeps the previous secret signing beside
the new one for `ROTATION_OVERLAP` (24 h).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec

from canonical import EVENT_TYPES, Event, FieldError, Page, open_cursor, seal_cursor
from canonical.problems import NotFound, ValidationFailed
from gateway.stores import AuditEntry, new_id, utcnow
from gateway.stores.webhooks import (
    DeliveryAttempt,
    DeliveryState,
    Redelivery,
    SealedSecret,
    WebhookEndpoint,
    WebhookStore,
    webhook_store_for,
)
from gateway.webhooks.safety import UrlRefused, resolve_checked
from gateway.webhooks.signing import SecretBox, new_secret

if TYPE_CHECKING:
    from gateway.auth import Principal
    from gateway.runtime import Runtime

__all__ = [
    "ROTATION_OVERLAP",
    "DeliveryView",
    "WebhookCreate",
    "WebhookService",
    "WebhookUpdate",
    "WebhookView",
]

ROTATION_OVERLAP = dt.timedelta(hours=24)


class WebhookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    #: Only these event types (null: every type).
    event_types: list[str] | None = None
    description: str = ""


class WebhookUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the members sent change. `status: "enabled"` re-enables a disabled endpoint."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    event_types: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    status: Literal["enabled", "disabled"] | msgspec.UnsetType = msgspec.UNSET


class WebhookView(msgspec.Struct, kw_only=True):
    id: str
    tenant: str
    url: str
    event_types: list[str] | None
    description: str
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The signing secret: in the answer to creation and rotation only.
    secret: str | msgspec.UnsetType = msgspec.UNSET
    #: After a rotation: until when the previous secret keeps signing beside the new one.
    previous_secret_expires_at: dt.datetime | msgspec.UnsetType | None = msgspec.UNSET


class DeliveryView(msgspec.Struct, kw_only=True):
    id: str
    event_id: str
    attempt: int
    status_code: int | None
    duration_ms: int
    error: str | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    #: An attempt an admin asked for (POST …/redeliver), outside the endpoint's retry schedule.
    redelivery: bool = False


def _view(endpoint: WebhookEndpoint) -> WebhookView:
    return WebhookView(
        id=endpoint.id,
        tenant=endpoint.tenant,
        url=endpoint.url,
        event_types=endpoint.event_types,
        description=endpoint.description,
        status=endpoint.status,
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def delivery_view(attempt: DeliveryAttempt) -> DeliveryView:
    return DeliveryView(
        id=attempt.id,
        event_id=attempt.event_id,
        attempt=attempt.attempt,
        status_code=attempt.status_code,
        duration_ms=attempt.duration_ms,
        error=attempt.error,
        created_at=attempt.created_at,
        next_attempt_at=attempt.next_attempt_at,
        redelivery=attempt.redelivery,
    )


class WebhookService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.store
        self.hooks: WebhookStore = webhook_store_for(
            runtime.store,
            kept=runtime.settings.webhooks.attempts_kept,
            max_age_days=runtime.settings.webhooks.attempts_max_age_days,
        )
        self._box: SecretBox | None = None

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return frozenset(self.settings.webhooks.allow_http_hosts)

    async def box(self) -> SecretBox:
        if self._box is None:
            key = self.settings.webhook_secret_key
            self._box = SecretBox(key if key else await self.hooks.secret_key())
        return self._box

    # endpoints
    def _tenant(self, tenant: str) -> None:
        if tenant not in self.settings.tenants:
            raise NotFound(f"no tenant {tenant!r}")

    async def endpoint(self, tenant: str, endpoint_id: str) -> WebhookEndpoint:
        self._tenant(tenant)
        found = await self.hooks.get_endpoint(tenant, endpoint_id)
        if found is None:
            raise NotFound(f"tenant {tenant!r} has no webhook endpoint {endpoint_id}")
        return found

    async def _check(
        self, url: str | None, event_types: list[str] | msgspec.UnsetType | None, description: str | None
    ) -> None:
        errors: list[FieldError] = []
        if url is not None:
            if len(url) > 2048:
                errors.append(FieldError(pointer="/url", detail="at most 2048 characters"))
            else:
                try:
                    await resolve_checked(url, self.allowed_hosts)
                except UrlRefused as exc:
                    errors.append(FieldError(pointer="/url", detail=str(exc)))
        if isinstance(event_types, list):
            if not event_types:
                errors.append(
                    FieldError(
                        pointer="/event_types", detail="name at least one type, or null for every type"
                    )
                )
            for index, name in enumerate(event_types):
                if name not in EVENT_TYPES:
                    errors.append(
                        FieldError(
                            pointer=f"/event_types/{index}",
                            detail=f"unknown event type {name!r} (one of {', '.join(EVENT_TYPES)})",
                        )
                    )
        if description is not None and len(description) > 500:
            errors.append(FieldError(pointer="/description", detail="at most 500 characters"))
        if errors:
            raise ValidationFailed(errors)

    async def create(self, tenant: str, body: WebhookCreate, principal: Principal | None) -> WebhookView:
        self._tenant(tenant)
        await self._check(body.url, body.event_types, body.description)
        now = utcnow()
        endpoint_id = new_id("whe")
        secret = new_secret()
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            tenant=tenant,
            url=body.url,
            event_types=sorted(set(body.event_types)) if body.event_types is not None else None,
            description=body.description,
            secrets=[SealedSecret(sealed=(await self.box()).seal(secret, endpoint_id), created_at=now)],
            created_at=now,
            updated_at=now,
        )
        # A new endpoint receives the events from now on, not the tenant's whole history.
        await self.hooks.reset_state(endpoint_id, await self._feed_end(tenant))
        await self.hooks.put_endpoint(endpoint)
        await self._audit(
            principal, "webhook.created", endpoint, {"url": endpoint.url, "event_types": endpoint.event_types}
        )
        return msgspec.structs.replace(_view(endpoint), secret=secret)

    async def _feed_end(self, tenant: str) -> DeliveryState:
        """A cursor just past the tenant's last event."""
        after: str | None = None
        while True:
            events, position = await self.store.list_events(tenant, after, 1000)
            if position is None:
                last = events[-1].id if events else None
                return DeliveryState(after=after, offset=len(events), last_event_id=last)
            after = position

    async def list_endpoints(self, tenant: str, cursor: str | None, limit: int) -> Page[WebhookView]:
        self._tenant(tenant)
        scope = f"webhooks|{tenant}"
        after = None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)
        endpoints = [e for e in await self.hooks.list_endpoints(tenant) if after is None or e.id > after]
        page, more = endpoints[:limit], len(endpoints) > limit
        return Page(
            data=[_view(e) for e in page],
            has_more=more,
            next_cursor=seal_cursor(page[-1].id, scope, self.runtime.cursor_key) if more else None,
        )

    async def get(self, tenant: str, endpoint_id: str) -> WebhookView:
        return _view(await self.endpoint(tenant, endpoint_id))

    async def update(
        self, tenant: str, endpoint_id: str, change: WebhookUpdate, principal: Principal | None
    ) -> WebhookView:
        endpoint = await self.endpoint(tenant, endpoint_id)
        url = change.url if isinstance(change.url, str) else None
        description = change.description if isinstance(change.description, str) else None
        await self._check(url, change.event_types, description)
        if url is not None:
            endpoint.url = url
        if change.event_types is not msgspec.UNSET:
            types = change.event_types
            endpoint.event_types = sorted(set(types)) if isinstance(types, list) else None
        if description is not None:
            endpoint.description = description
        if change.status == "enabled" and endpoint.status == "disabled":
            endpoint.status, endpoint.disabled_reason = "enabled", None
            # Back on: from where it stopped, with a fresh retry window.
            state = await self.hooks.get_state(endpoint.id) or DeliveryState()
            await self.hooks.reset_state(
                endpoint.id,
                DeliveryState(after=state.after, offset=state.offset, last_event_id=state.last_event_id),
            )
        elif change.status == "disabled" and endpoint.status == "enabled":
            endpoint.status, endpoint.disabled_reason = "disabled", "disabled by an admin"
        endpoint.updated_at = utcnow()
        await self.hooks.put_endpoint(endpoint)
        await self._audit(
            principal,
            "webhook.updated",
            endpoint,
            {
                "changed": sorted(
                    n for n in WebhookUpdate.__struct_fields__ if getattr(change, n) is not msgspec.UNSET
                )
            },
        )
        return _view(endpoint)

    async def delete(self, tenant: str, endpoint_id: str, principal: Principal | None) -> None:
        endpoint = await self.endpoint(tenant, endpoint_id)
        await self.hooks.delete_endpoint(tenant, endpoint_id)
        await self._audit(principal, "webhook.deleted", endpoint, {"url": endpoint.url})

    async def rotate(self, tenant: str, endpoint_id: str, principal: Principal | None) -> WebhookView:
        endpoint = await self.endpoint(tenant, endpoint_id)
        now = utcnow()
        expires = now + ROTATION_OVERLAP
        box = await self.box()
        secret = new_secret()
        kept = [s for s in endpoint.secrets if s.expires_at is None or s.expires_at > now]
        for old in kept:
            if old.expires_at is None:
                old.expires_at = expires
        endpoint.secrets = [SealedSecret(sealed=box.seal(secret, endpoint.id), created_at=now), *kept]
        endpoint.updated_at = now
        await self.hooks.put_endpoint(endpoint)
        await self._audit(
            principal, "webhook.secret_rotated", endpoint, {"previous_expires_at": expires.isoformat()}
        )
        return msgspec.structs.replace(_view(endpoint), secret=secret, previous_secret_expires_at=expires)

    async def signing_secrets(self, endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> list[str]:
        """The secrets that sign a delivery now: the current one first, then those still in overlap."""
        now = now or utcnow()
        box = await self.box()
        return [
            box.open(s.sealed, endpoint.id)
            for s in endpoint.secrets
            if s.expires_at is None or s.expires_at > now
        ]

    # deliveries
    async def deliveries(
        self, tenant: str, endpoint_id: str, cursor: str | None, limit: int
    ) -> Page[DeliveryView]:
        await self.endpoint(tenant, endpoint_id)
        scope = f"webhook-deliveries|{tenant}|{endpoint_id}"
        after = None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)
        attempts, position = await self.hooks.list_attempts(endpoint_id, after, limit)
        return Page(
            data=[delivery_view(a) for a in attempts],
            has_more=position is not None,
            next_cursor=None if position is None else seal_cursor(position, scope, self.runtime.cursor_key),
        )

    async def redeliver(
        self, tenant: str, endpoint_id: str, delivery_id: str, principal: Principal | None
    ) -> DeliveryView:
        endpoint = await self.endpoint(tenant, endpoint_id)
        attempt = await self.hooks.get_attempt(endpoint_id, delivery_id)
        if attempt is None:
            raise NotFound(f"webhook endpoint {endpoint_id} has no delivery {delivery_id}")
        await self.hooks.push_redelivery(
            endpoint_id,
            Redelivery(
                attempt_id=attempt.id,
                event_id=attempt.event_id,
                feed_after=attempt.feed_after,
                feed_offset=attempt.feed_offset,
            ),
        )
        await self._audit(
            principal,
            "webhook.redelivery_requested",
            endpoint,
            {"delivery_id": attempt.id, "event_id": attempt.event_id},
        )
        return delivery_view(attempt)

    async def disable(self, endpoint: WebhookEndpoint, reason: str, failing_since: dt.datetime) -> None:
        """The worker gave up on the endpoint: disabled, and the tenant's feed says so."""
        current = await self.hooks.get_endpoint(endpoint.tenant, endpoint.id)
        if current is None or current.status == "disabled":
            return
        now = utcnow()
        current.status, current.disabled_reason, current.updated_at = "disabled", reason, now
        await self.hooks.put_endpoint(current)
        event = Event(
            id=new_id("evt"),
            type="webhook.endpoint_disabled",
            created_at=now,
            claim_id=None,
            data={
                "endpoint_id": current.id,
                # Without the query: a receiver's URL may carry a token, and tenant keys read the feed.
                "url": urlunsplit(urlsplit(current.url)._replace(query="", fragment="")),
                "reason": reason,
                "failing_since": failing_since.isoformat().replace("+00:00", "Z"),
            },
        )
        await self.store.append_events(current.tenant, [event])
        await self._audit(None, "webhook.disabled", current, {"reason": reason})

    async def _audit(
        self, principal: Principal | None, action: str, endpoint: WebhookEndpoint, detail: dict[str, object]
    ) -> None:
        await self.store.append_audit(
            AuditEntry(
                id=new_id("aud"),
                at=utcnow(),
                actor=principal.name if principal else "worker",
                action=action,
                tenant=endpoint.tenant,
                detail={
                    "endpoint_id": endpoint.id,
                    **detail,
                    **({"by_key": principal.key_id} if principal else {}),
                },
            )
        )
