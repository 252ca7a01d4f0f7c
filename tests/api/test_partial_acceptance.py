"""Agencies that keep one claim per invoice: a create accepted for some invoices and refused for
others, per-invoice references handed back to follow-ups, and a review that never ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from tests.api.test_pipeline import CLAIMS, wait_for_status
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import auth, claim_body, gateway_settings


def _three_invoices() -> dict[str, Any]:
    body = claim_body()
    first = body["invoices"][0]
    body["invoices"] = [
        first,
        {**first, "number": "INV-2", "costs": None, "amount": {"amount": 3000, "currency": "EUR"}},
        {**first, "number": "INV-3", "costs": None, "amount": {"amount": 700, "currency": "EUR"}},
    ]
    return body


@pytest.fixture
async def review_client(agency: FakeAgency) -> AsyncIterator[httpx.AsyncClient]:
    specs = {"fake": fake_spec(agency, review_timeout_seconds=0.2)}
    server = serve_in_thread(create_app(gateway_settings(specs), specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        server.stop()


async def test_a_create_refused_for_one_invoice_succeeds_for_the_others_and_names_the_refused(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    agency.refuse_invoices = {"INV-2"}
    accepted = await client.post(CLAIMS, json=_three_invoices(), headers=auth(idempotency_key="p1"))
    done = await wait_for_status(client, accepted.headers["location"], "succeeded", "failed")

    assert done["status"] == "succeeded"  # the claim exists at the agency, with INV-1 and INV-3
    [refused] = done["refused_invoices"]
    assert refused["invoice_number"] == "INV-2" and refused["problem"]["code"] == "agency_rejected"
    claim_id = done["claim_id"]
    claim = (await client.get(f"{CLAIMS}/{claim_id}", headers=auth())).json()
    assert claim["status"] == "active"
    # INV-2 owes nothing through this claim: 12000 + 500 costs + 700 remain.
    assert claim["balance"] == {"amount": 13200, "currency": "EUR"}
    invoices = (await client.get(f"{CLAIMS}/{claim_id}/invoices", headers=auth())).json()["data"]
    assert {i["number"]: i["remaining"]["amount"] for i in invoices} == {
        "INV-1": 12000,
        "INV-2": 0,
        "INV-3": 700,
    }

    # Reads of the agency (a refresh) and follow-ups reach it with its reference for each
    # accepted invoice.
    reference = done["agency_reference"]
    expected = {"INV-1": f"{reference}/INV-1", "INV-3": f"{reference}/INV-3"}
    refreshed = await client.get(f"{CLAIMS}/{claim_id}?refresh=true", headers=auth())
    assert refreshed.status_code == 200, refreshed.text
    assert agency.refs[-1].invoice_references == expected
    withdrawal = {"reason": "by_client", "invoice_numbers": None}
    sent = await client.post(
        f"{CLAIMS}/{claim_id}/withdrawal", json=withdrawal, headers=auth(idempotency_key="w1")
    )
    await wait_for_status(client, sent.headers["location"], "succeeded")
    assert agency.refs[-1].invoice_references == expected


async def test_a_wholly_accepted_create_lists_no_refused_invoices(client: httpx.AsyncClient) -> None:
    accepted = await client.post(CLAIMS, json=_three_invoices(), headers=auth(idempotency_key="p2"))
    done = await wait_for_status(client, accepted.headers["location"], "succeeded")
    assert "refused_invoices" not in done  # the documented Operation, nothing more


async def test_a_claim_under_review_past_its_adapters_review_time_fails_with_a_reason(
    review_client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    agency.asynchronous = True
    agency.undecided = True  # the agency reviews the claim by hand and never says
    accepted = await review_client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="r1"))
    await wait_for_status(review_client, accepted.headers["location"], "submitted")
    done = await wait_for_status(review_client, accepted.headers["location"], "failed", timeout=10)
    assert done["error"]["code"] == "agency_review_timeout"
    assert "T-AG-1" in done["error"]["detail"]  # the agency's tracking, to ask it about


async def test_a_follow_up_naming_a_refused_invoice_is_refused_at_once_naming_the_field(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    agency.refuse_invoices = {"INV-2"}
    accepted = await client.post(CLAIMS, json=_three_invoices(), headers=auth(idempotency_key="p3"))
    done = await wait_for_status(client, accepted.headers["location"], "succeeded")
    claims = f"{CLAIMS}/{done['claim_id']}"
    note = {"number": "CN-1", "invoice_number": "INV-2", "amount": {"amount": 100, "currency": "EUR"},
            "issued_on": "2026-11-02"}  # fmt: skip
    refused = await client.post(f"{claims}/credit-notes", json=note, headers=auth(idempotency_key="c1"))
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["pointer"] == "/invoice_number" and "refused" in error["detail"]
    payment = {"payment_id": "P-1", "amount": {"amount": 100, "currency": "EUR"}, "paid_on": "2026-11-02",
               "allocations": [{"invoice_number": "INV-3", "amount": {"amount": 100, "currency": "EUR"}}]}  # fmt: skip
    fine = await client.post(f"{claims}/payments", json=payment, headers=auth(idempotency_key="c2"))
    assert fine.status_code == 202  # an accepted invoice is addressed as usual
