"""The Debbie sandbox behaves like Debbie: auth, integer minor units, signs, 0-based pages, balances."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.debbie.sandbox import DEMO_CREDITOR_ID, DEMO_VOUCHER_TYPES
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
