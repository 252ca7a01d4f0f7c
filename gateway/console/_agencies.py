"""Agencies: per agency and per tenant credential, what this gateway knows of its health.

Shown today: capabilities, the rate limits in force (config or the agency's published ones), the
circuit breaker and the calls answered by status as *this replica* counts them (the Prometheus
registry that /metrics exposes), which tenants hold a credential, and per credential its change
feed (from the claim ledger's feed state): when it was last read to its end, the lag since, and
records quarantined. Not kept by the store, so shown as such: the rate budget used per
credential in the last minute/day (the limiter keeps a GCRA arrival time, not a count).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import Template
from prometheus_client import REGISTRY

from gateway.console._web import AdminDep, render
from gateway.stores import utcnow

__all__ = ["AgencyView", "CredentialView", "agencies", "credential_health"]

QUARANTINE_PAGE = 20
_BREAKER = {0: "closed", 1: "half-open (probing)", 2: "open (failing fast)"}


class CredentialView(msgspec.Struct, kw_only=True):
    tenant: str
    account: str
    #: Filled in once the store keeps them (None = not recorded yet).
    budget_used_minute: int | None = None
    budget_used_day: int | None = None
    feed_lag_seconds: float | None = None
    last_sync: str | None = None
    quarantined: int | None = None
    #: The agency has a change feed the worker reads (else lag, last sync and quarantine do not apply).
    has_feed: bool = False


class AgencyView(msgspec.Struct, kw_only=True):
    name: str
    capabilities: list[str]
    currencies: list[str] | None
    rate_limit_per_minute: int | None
    rate_limit_per_day: int | None
    poll_interval_seconds: float
    breaker: str
    calls: dict[str, int]
    credentials: list[CredentialView]


def _process_metrics() -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """Breaker state and calls by status per agency, from this process's registry."""
    breakers: dict[str, float] = {}
    calls: dict[str, dict[str, int]] = {}
    for family in REGISTRY.collect():
        if family.name == "cg_upstream_breaker_state":
            for sample in family.samples:
                breakers[sample.labels["agency"]] = sample.value
        elif family.name == "cg_upstream_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    by_status = calls.setdefault(sample.labels["agency"], {})
                    by_status[sample.labels["status"]] = int(sample.value)
    return breakers, calls


async def credential_health(admin: AdminDep, agency: str, tenant: str) -> CredentialView:
    """One tenant's credential at one agency: its change feed's state from the claim ledger
    (last read to its end, lag since then, records quarantined)."""
    runtime: Any = admin.runtime
    section = runtime.settings.tenants[tenant].credentials.get(agency, {})
    account = next(
        (str(v) for k, v in section.items() if k in ("account_id", "client_id", "username", "creditor_id")),
        "—",
    )
    view = CredentialView(tenant=tenant, account=account)
    credential = runtime.settings.credential(tenant, agency)
    spec = runtime.specs.get(agency)
    if credential is None or spec is None or not spec.capabilities.feeds:
        return view
    view.has_feed = True
    try:
        state = await runtime.store.get_feed(credential.key)
    except Exception:  # the page shows what it can while the store is down
        return view
    if state is not None:
        view.quarantined = state.quarantined
        if state.drained_at is not None:
            view.last_sync = state.drained_at.isoformat().replace("+00:00", "Z")
            view.feed_lag_seconds = round((utcnow() - state.drained_at).total_seconds(), 1)
    return view


@get("/agencies", include_in_schema=False)
async def agencies(admin: AdminDep, request: Request[Any, Any, Any]) -> Template:
    runtime: Any = admin.runtime
    breakers, calls = _process_metrics()
    views: list[AgencyView] = []
    for name, settings in sorted(runtime.settings.agencies.items()):
        spec = runtime.specs.get(name)
        capabilities = spec.capabilities if spec is not None else None
        tenants = sorted(t for t, section in runtime.settings.tenants.items() if name in section.credentials)
        views.append(
            AgencyView(
                name=name,
                capabilities=sorted(capabilities.supported) if capabilities else [],
                currencies=sorted(capabilities.currencies)
                if capabilities and capabilities.currencies
                else None,
                rate_limit_per_minute=settings.rate_limit_per_minute
                or (spec.rate_limit_per_minute if spec else None),
                rate_limit_per_day=settings.rate_limit_per_day or (spec.rate_limit_per_day if spec else None),
                poll_interval_seconds=settings.poll_interval_seconds,
                breaker=_BREAKER.get(int(breakers.get(name, 0)), "unknown"),
                calls=dict(sorted(calls.get(name, {}).items())),
                credentials=[await credential_health(admin, name, t) for t in tenants],
            )
        )
    quarantine = await admin.services.reads.list_quarantine(
        request.query_params.get("quarantine") or None, QUARANTINE_PAGE
    )
    return render("agencies.html.j2", admin, page="agencies", agencies=views, quarantine=quarantine)
