"""Switching a tenant's agency while work is in flight: claims stay pinned to the agency that got them.

Tenant acme sends 20 claims to x; payments on five of them are held at x (still queued, the
worker waiting on the agency); ops switch the default to y through the admin API; 20 more claims
and more payments follow. Each agency's own ledger must show exactly its claims and every payment
on them — whatever the routing said when the payment was made.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.routing._support import TENANT_KEY, Gateway, bearer, claim, held, wait_until_final

CLAIMS = "/v1/tenants/acme/claims"


async def submit(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    response = await http.post(
        path, json=body, headers=bearer(TENANT_KEY, **{"Idempotency-Key": uuid.uuid4().hex})
    )
    assert response.status_code == 202, response.text
    return response


def payment(payment_id: str) -> dict[str, Any]:
    return {"payment_id": payment_id, "amount": {"amount": 1000, "currency": "EUR"}, "paid_on": "2026-11-20"}


async def test_switching_the_default_agency_leaves_existing_claims_and_queued_work_with_their_agency(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    first = [f"A-{n:02d}" for n in range(1, 21)]
    second = [f"B-{n:02d}" for n in range(1, 21)]
    accepted = await asyncio.gather(*(submit(http, CLAIMS, claim(ref)) for ref in first))
    assert {r.json()["agency"] for r in accepted} == {"x"}
    created = await wait_until_final(http, [r.headers["location"] for r in accepted])
    assert {op["status"] for op in created} == {"succeeded"}
    claim_ids = {ref: op["claim_id"] for ref, op in zip(first, created, strict=True)}

    # Five payments on the first batch, held at x: they are still queued when the switch happens.
    release = held(gateway.x)
    queued = [
        await submit(http, f"{CLAIMS}/{claim_ids[ref]}/payments", payment(f"P-{ref}")) for ref in first[:5]
    ]
    assert await asyncio.to_thread(gateway.x.entered.wait, 5)
    statuses = [(await http.get(r.headers["location"], headers=bearer(TENANT_KEY))).json() for r in queued]
    assert {(op["status"], op["agency"]) for op in statuses} == {("queued", "x")}

    document = await http.get("/v1/admin/tenants/acme", headers=bearer())
    switched = await http.put(
        "/v1/admin/tenants/acme",
        json={"default_agency": "y", "rules": [], "reason": "acme moves to y"},
        headers=bearer(**{"If-Match": document.headers["etag"]}),
    )
    assert switched.status_code == 200 and switched.json()["version"] == 2

    moved = await asyncio.gather(*(submit(http, CLAIMS, claim(ref)) for ref in second))
    assert {r.json()["agency"] for r in moved} == {"y"}
    # Later payments on first-batch claims still go to x; on second-batch claims to y.
    later_x = [
        await submit(http, f"{CLAIMS}/{claim_ids[ref]}/payments", payment(f"P-{ref}")) for ref in first[5:10]
    ]
    assert {r.json()["agency"] for r in later_x} == {"x"}
    # Refreshing reads, too, ask the claim's agency, not the tenant's default.
    read = await http.get(f"{CLAIMS}/{claim_ids['A-01']}?refresh=true", headers=bearer(TENANT_KEY))
    assert read.status_code == 200 and read.json()["agency"] == "x"
    assert "A-01" in gateway.x.reads and not gateway.y.reads

    release.set()
    moved_ops = await wait_until_final(http, [r.headers["location"] for r in moved])
    assert {op["status"] for op in moved_ops} == {"succeeded"}
    later_y = [
        await submit(http, f"{CLAIMS}/{op['claim_id']}/payments", payment(f"P-{ref}"))
        for ref, op in zip(second[:3], moved_ops[:3], strict=True)
    ]
    payments = await wait_until_final(http, [r.headers["location"] for r in queued + later_x + later_y])
    assert {op["status"] for op in payments} == {"succeeded"}

    assert sorted(gateway.x.claims()) == first
    assert sorted(gateway.y.claims()) == second
    assert sorted(gateway.x.payments()) == [(ref, f"P-{ref}") for ref in first[:10]]
    assert sorted(gateway.y.payments()) == [(ref, f"P-{ref}") for ref in second[:3]]
    # Each agency was called with acme's own account there.
    assert gateway.x.credentials == {"x:acme-x"} and gateway.y.credentials == {"y:acme-y"}

    # The claims remember the agency and the routing version that chose it (the default: no rule).
    listed = (await http.get(CLAIMS, headers=bearer(TENANT_KEY), params={"limit": 100})).json()["data"]
    pinned: dict[tuple[str, int | None, int | None], set[str]] = {}
    for item in listed:
        # The embedded store's reads touch no event loop, so the test may read it directly.
        record = await gateway.store.get_claim(item["id"])
        assert record is not None
        key = (record.agency, record.routing_version, record.routing_rule)
        pinned.setdefault(key, set()).add(record.client_reference)
    assert pinned == {("x", 1, None): set(first), ("y", 2, None): set(second)}
