"""The Debbie sandbox behaves like Debbie: auth, integer minor units, signs, 0-based pages, balances."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.debbie.sandbox import DEMO_CREDITOR_ID, DEMO_VOUCHER_TYPES
from adapters.sandbox_kit import serve_in_thread
from tests.adapters.debbie._support import SandboxControl


async def _customer(control: SandboxControl, reference: str = "SBX-CUST") -> str:
    response = await control.debbie(
        "POST",
        "/customers",
        params={"creditorId": DEMO_CREDITOR_ID},
        json={
            "referenceId": reference,
            "type": "COMPANY",
            "companyName": "Berg AB",
            "address": {"street": "Storgatan 1", "zipCode": "11122", "city": "Stockholm", "country": "SE"},
        },
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def _principal(amount: Any, reference: str = "INV-1", **extra: Any) -> dict[str, Any]:
    return {
        "voucherTypeId": DEMO_VOUCHER_TYPES["principal"],
        "amount": amount,
        "currency": "SEK",
        "date": "2026-01-01",
        "source": "CREDITOR",
        "referenceId": reference,
        **extra,
    }


async def _case(control: SandboxControl, *vouchers: dict[str, Any], reference: str = "case-ref") -> str:
    customer_id = await _customer(control)
    body = {
        "customerId": customer_id,
        "currency": "SEK",
        "caseVouchers": list(vouchers),
        "referenceId": reference,
    }
    response = await control.debbie("POST", "/cases", json=body)
    assert response.status_code == 201, response.text
    case_id: str = response.json()["id"]
    return case_id


@pytest.mark.parametrize("amount", [-120.5, -120.0, "-12050", True])
async def test_an_amount_that_is_not_an_integer_of_minor_units_is_refused(
    control: SandboxControl, amount: Any
) -> None:
    customer_id = await _customer(control)
    body = {"customerId": customer_id, "currency": "SEK", "caseVouchers": [_principal(amount)]}
    response = await control.debbie("POST", "/cases", json=body)
    assert response.status_code == 400
    assert "amount" in response.json()["message"]
    assert await control.ledger("case.create") == []


async def test_a_currency_outside_debbies_enum_is_refused(control: SandboxControl) -> None:
    customer_id = await _customer(control)
    body = {"customerId": customer_id, "currency": "JPY", "caseVouchers": [_principal(-100, currency="JPY")]}
    assert (await control.debbie("POST", "/cases", json=body)).status_code == 400


async def test_a_cost_voucher_with_a_positive_amount_is_refused(control: SandboxControl) -> None:
    cost = {**_principal(-100), "voucherTypeId": DEMO_VOUCHER_TYPES["cost"], "amount": 500}
    customer_id = await _customer(control)
    body = {"customerId": customer_id, "currency": "SEK", "caseVouchers": [_principal(-100), cost]}
    response = await control.debbie("POST", "/cases", json=body)
    assert response.status_code == 422
    assert "negative" in response.json()["message"]


async def test_an_unknown_field_in_a_body_is_refused(control: SandboxControl) -> None:
    customer_id = await _customer(control)
    body = {"customerId": customer_id, "currency": "SEK", "caseVouchers": [_principal(-100, ammount=1)]}
    assert (await control.debbie("POST", "/cases", json=body)).status_code == 400


async def test_a_request_without_the_tenants_token_is_unauthorized(control: SandboxControl) -> None:
    response = await control.http.get(
        "/v1/3c90c3cc-0d44-4b50-8888-8dd25736052a/cases", headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert (await control.http.get("/v1/3c90c3cc-0d44-4b50-8888-8dd25736052a/cases")).status_code == 401


async def test_the_case_balance_is_the_signed_sum_of_its_live_vouchers(control: SandboxControl) -> None:
    cost = {**_principal(-700), "voucherTypeId": DEMO_VOUCHER_TYPES["cost"]}
    case_id = await _case(control, _principal(-10000), cost)
    payment = {**_principal(2500), "voucherTypeId": DEMO_VOUCHER_TYPES["payment"], "referenceId": "P-1"}
    created = await control.debbie("POST", f"/case-vouchers/{case_id}", json=payment)
    assert created.status_code == 201
    assert (await control.debbie("GET", f"/cases/{case_id}")).json()["balance"] == -10000 - 700 + 2500

    deleted = await control.http.post(
        f"/_sandbox/debbie/case-vouchers/{created.json()['caseVoucherId']}/delete"
    )
    assert deleted.status_code == 204
    assert (await control.debbie("GET", f"/cases/{case_id}")).json()["balance"] == -10700
    vouchers = (await control.debbie("GET", f"/case-vouchers/{case_id}")).json()
    assert [(v["category"], v["amount"], v["deletedAt"] is not None) for v in vouchers] == [
        ("principal", -10000, False),
        ("cost", -700, False),
        ("transaction", 2500, True),  # deleted vouchers are still listed, marked
    ]


async def test_point_in_time_returns_only_vouchers_dated_before_that_day(control: SandboxControl) -> None:
    case_id = await _case(
        control, _principal(-100, "INV-A", date="2026-01-01"), _principal(-200, "INV-B", date="2026-03-01")
    )
    response = await control.debbie("GET", f"/case-vouchers/{case_id}", params={"pointInTime": "2026-03-01"})
    assert [v["referenceId"] for v in response.json()] == ["INV-A"]


async def test_case_pages_are_zero_based_and_the_last_one_is_short(control: SandboxControl) -> None:
    first = (await control.debbie("GET", "/cases", params={"page": 0, "pageSize": 100})).json()["items"]
    start = len(first)  # cases other tests of this module made
    for n in range(5):
        await _case(control, _principal(-100), reference=f"page-{n}")
    everything = (await control.debbie("GET", "/cases", params={"page": 0, "pageSize": 100})).json()
    assert "total" not in str(everything["meta"]).lower()
    assert len(everything["items"]) == start + 5
    size = 2
    seen: list[str] = []
    page = 0
    while True:
        items = (await control.debbie("GET", "/cases", params={"page": page, "pageSize": size})).json()[
            "items"
        ]
        seen += [c["id"] for c in items]
        if len(items) < size:
            break
        page += 1
    assert seen == [c["id"] for c in everything["items"]]
    assert (await control.debbie("GET", "/cases", params={"page": -1})).status_code == 400


async def test_ending_a_case_needs_an_exit_reason_and_is_final(control: SandboxControl) -> None:
    case_id = await _case(control, _principal(-100))
    assert (await control.debbie("PATCH", f"/cases/{case_id}", json={"status": "ENDED"})).status_code == 422
    ended = await control.debbie(
        "PATCH", f"/cases/{case_id}", json={"status": "ENDED", "exitReason": "WITHDRAWN"}
    )
    assert ended.json()["status"] == "ENDED"
    again = await control.debbie(
        "PATCH", f"/cases/{case_id}", json={"status": "ENDED", "exitReason": "WITHDRAWN"}
    )
    assert again.status_code == 200  # the same change again is a no-op
    back = await control.debbie("PATCH", f"/cases/{case_id}", json={"status": "VERIFIED"})
    assert back.status_code == 422


async def test_a_customer_is_found_by_its_reference_id(control: SandboxControl) -> None:
    customer_id = await _customer(control, reference="REF/with?odd%chars")
    found = await control.debbie("GET", "/customers/by-reference-id/REF%2Fwith%3Fodd%25chars")
    assert found.status_code == 200
    assert found.json()["id"] == customer_id
    assert (await control.debbie("GET", "/customers/by-reference-id/NOPE")).status_code == 404


# --- webhooks and the agency's own activity ---


class _Receiver:
    """A webhook receiver on a real port: what Debbie POSTed, with its Authorization header."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        self.received.append((headers.get(b"authorization", b"").decode(), json.loads(body)))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        for _ in range(500):  # bounded: 5 s
            if len(self.received) >= count:
                return self.received
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.received)} webhooks arrived, expected {count}")


@pytest.fixture
async def receiver(control: SandboxControl) -> AsyncIterator[_Receiver]:
    app = _Receiver()
    server = serve_in_thread(app)
    (
        await control.http.put("/_sandbox/callbacks", json={"url": server.base_url + "/hook", "secret": "s3"})
    ).raise_for_status()
    yield app
    (await control.http.put("/_sandbox/callbacks", json={"url": None})).raise_for_status()
    server.stop()


async def test_a_payment_debbie_collects_is_a_collector_voucher_and_a_webhook(
    control: SandboxControl, receiver: _Receiver
) -> None:
    case_id = await _case(control, _principal(-10000))
    collected = await control.http.post(f"/_sandbox/debbie/cases/{case_id}/collected", json={"amount": 2500})
    assert collected.status_code == 201, collected.text
    [(auth, event)] = [e for e in await receiver.events(1) if e[1]["event"] == "case-vouchers.create"]
    assert auth == "Bearer s3"
    vouchers = (await control.debbie("GET", f"/case-vouchers/{case_id}")).json()
    assert event["data"] == vouchers[-1]
    assert (event["data"]["source"], event["data"]["amount"], event["data"]["category"]) == (
        "COLLECTOR",
        2500,
        "transaction",
    )
    reversed_ = await control.http.post(
        f"/_sandbox/debbie/case-vouchers/{event['data']['caseVoucherId']}/reversal"
    )
    assert reversed_.status_code == 201, reversed_.text
    assert reversed_.json()["amount"] == -2500
    assert reversed_.json()["referenceCaseVoucherId"] == event["data"]["caseVoucherId"]
    assert (await control.debbie("GET", f"/cases/{case_id}")).json()["balance"] == -10000


async def test_a_status_change_at_debbie_is_a_webhook_with_the_case(
    control: SandboxControl, receiver: _Receiver
) -> None:
    case_id = await _case(control, _principal(-100))
    verified = await control.http.post(
        f"/_sandbox/debbie/cases/{case_id}/status", json={"status": "VERIFIED"}
    )
    assert verified.json()["status"] == "VERIFIED"
    ended = await control.debbie(
        "PATCH", f"/cases/{case_id}", json={"status": "ENDED", "exitReason": "WITHDRAWN"}
    )
    assert ended.status_code == 200
    changes = [e for _, e in await receiver.events(2) if e["event"] == "cases.status-change"]
    assert [(e["data"]["id"], e["data"]["status"], e["data"]["exitReason"]) for e in changes] == [
        (case_id, "VERIFIED", None),
        (case_id, "ENDED", "WITHDRAWN"),
    ]
    assert all(set(e) == {"event", "time", "data"} for e in changes)


async def test_debbie_on_its_own_verifies_pending_cases_then_collects(control: SandboxControl) -> None:
    for _ in range(100):  # cases of other tests of this module are pending too
        step = (await control.http.post("/_sandbox/activity/step")).json()["activity"]
        if step is None or "amount" in step:
            break
    assert step is not None and step["amount"] > 0
    vouchers = (await control.debbie("GET", f"/case-vouchers/{step['caseId']}")).json()
    assert vouchers[-1]["source"] == "COLLECTOR"
