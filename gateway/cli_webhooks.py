"""`collection-gateway webhooks …`: a tenant's webhook endpoints through a running gateway's admin API.

    webhooks add TENANT URL [--event-type T …] [--description D]   prints the signing secret once
    webhooks list TENANT
    webhooks rotate TENANT ID                                      prints the new secret once
    webhooks deliveries TENANT ID [--limit N]
    webhooks redeliver TENANT ID DELIVERY_ID
    webhooks remove TENANT ID

Same options as the other admin commands (gateway/cli_admin.py): `--url`/`CG_ADMIN_URL`,
`--admin-key`/`CG_ADMIN_KEY`, `--json` for the API's JSON.
"""

from __future__ import annotations

import json
from typing import Any

import click

from gateway.cli_admin import AdminApi, api_options, table

__all__ = ["webhooks"]


def _base(tenant: str) -> str:
    return f"/v1/admin/tenants/{tenant}/webhooks"


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _secret_text(endpoint: dict[str, Any]) -> str:
    lines = [
        f"endpoint  {endpoint['id']}",
        f"url       {endpoint['url']}",
        f"events    {', '.join(endpoint['event_types']) if endpoint['event_types'] else 'all'}",
        "",
        f"signing secret (shown once, keep it in the receiver's secret store): {endpoint['secret']}",
    ]
    if endpoint.get("previous_secret_expires_at"):
        lines.append(
            f"the previous secret keeps signing beside it until {endpoint['previous_secret_expires_at']}"
        )
    return "\n".join(lines)


@click.group()
def webhooks() -> None:
    """Webhook endpoints of internal services (admin API)."""


@webhooks.command("add")
@click.argument("tenant")
@click.argument("endpoint_url", metavar="URL")
@click.option(
    "--event-type", "event_types", multiple=True, help="only this event type (repeatable; default all)"
)
@click.option("--description", default="", help="who receives it and why")
@api_options
def add(
    tenant: str,
    endpoint_url: str,
    event_types: tuple[str, ...],
    description: str,
    url: str,
    admin_key: str,
    as_json: bool,
) -> None:
    """Subscribe URL to TENANT's events; prints the signing secret once."""
    body = {"url": endpoint_url, "event_types": list(event_types) or None, "description": description}
    created = AdminApi(url, admin_key).json("POST", _base(tenant), body=body)
    _echo_json(created) if as_json else click.echo(_secret_text(created))


@webhooks.command("list")
@click.argument("tenant")
@api_options
def list_endpoints(tenant: str, url: str, admin_key: str, as_json: bool) -> None:
    """TENANT's endpoints (never their secrets)."""
    endpoints = AdminApi(url, admin_key).pages(_base(tenant))
    if as_json:
        _echo_json(endpoints)
        return
    rows = [
        (
            e["id"],
            e["status"],
            ",".join(e["event_types"]) if e["event_types"] else "all",
            e["url"],
            e["description"],
        )
        for e in endpoints
    ]
    click.echo(table(["ID", "STATUS", "EVENTS", "URL", "DESCRIPTION"], rows))


@webhooks.command("rotate")
@click.argument("tenant")
@click.argument("endpoint_id")
@api_options
def rotate(tenant: str, endpoint_id: str, url: str, admin_key: str, as_json: bool) -> None:
    """A new signing secret (printed once); the old one signs beside it for 24 h."""
    rotated = AdminApi(url, admin_key).json("POST", f"{_base(tenant)}/{endpoint_id}/rotate-secret")
    _echo_json(rotated) if as_json else click.echo(_secret_text(rotated))


@webhooks.command("deliveries")
@click.argument("tenant")
@click.argument("endpoint_id")
@click.option("--limit", type=int, default=20, show_default=True, help="the newest N attempts")
@api_options
def deliveries(tenant: str, endpoint_id: str, limit: int, url: str, admin_key: str, as_json: bool) -> None:
    """The endpoint's delivery attempts, newest first."""
    attempts = AdminApi(url, admin_key).pages(f"{_base(tenant)}/{endpoint_id}/deliveries", limit)
    if as_json:
        _echo_json(attempts)
        return
    rows = [
        (
            a["id"],
            a["event_id"],
            a["attempt"],
            a["status_code"],
            f"{a['duration_ms']} ms",
            a["created_at"],
            a["next_attempt_at"],
            a["error"],
        )
        for a in attempts
    ]
    click.echo(table(["ID", "EVENT", "ATTEMPT", "STATUS", "TOOK", "AT", "NEXT", "ERROR"], rows))


@webhooks.command("redeliver")
@click.argument("tenant")
@click.argument("endpoint_id")
@click.argument("delivery_id")
@api_options
def redeliver(
    tenant: str, endpoint_id: str, delivery_id: str, url: str, admin_key: str, as_json: bool
) -> None:
    """Send that attempt's event again (same webhook-id), once."""
    attempt = AdminApi(url, admin_key).json(
        "POST", f"{_base(tenant)}/{endpoint_id}/deliveries/{delivery_id}/redeliver"
    )
    _echo_json(attempt) if as_json else click.echo(
        f"event {attempt['event_id']} will be sent again to {endpoint_id}"
    )


@webhooks.command("remove")
@click.argument("tenant")
@click.argument("endpoint_id")
@api_options
def remove(tenant: str, endpoint_id: str, url: str, admin_key: str, as_json: bool) -> None:
    """Unsubscribe the endpoint at once (its attempts go with it)."""
    AdminApi(url, admin_key).call("DELETE", f"{_base(tenant)}/{endpoint_id}")
    _echo_json({"removed": endpoint_id}) if as_json else click.echo(f"removed {endpoint_id}")
