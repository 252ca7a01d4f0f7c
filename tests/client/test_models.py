"""The client's Structs say what the gateway's OpenAPI document says (no drift, in either direction)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from collection_gateway_client import models

from gateway.app import create_app
from gateway.openapi import served_document
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings

#: Members the client reads that a gateway of this version may not send yet (tolerant reads).
NEWER: dict[str, set[str]] = {}
#: Members of the document the client leaves out on purpose.
LEFT_OUT = {"Agency": {"claim_types", "feeds"}}
STRUCTS = {
    "Address": models.Address,
    "Allocation": models.Allocation,
    "Attachment": models.Attachment,
    "Claim": models.Claim,
    "ClaimCreate": models.ClaimCreate,
    "CreditNoteCreate": models.CreditNoteCreate,
    "Debtor": models.Debtor,
    "Event": models.Event,
    "FieldError": models.FieldError,
    "Invoice": models.Invoice,
    "InvoiceCreate": models.InvoiceCreate,
    "Money": models.Money,
    "Operation": models.Operation,
    "Payment": models.Payment,
    "PaymentReport": models.PaymentReport,
    "PaymentReversal": models.PaymentReversal,
    "Problem": models.Problem,
    "RefusedInvoice": models.RefusedInvoice,
    "Withdrawal": models.Withdrawal,
    "AgencyInfo": models.Agency,
}
BODIES = {"ClaimCreate", "CreditNoteCreate", "PaymentReport", "PaymentReversal", "Withdrawal", "Money"}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    specs = {"fake": fake_spec(FakeAgency())}
    document = served_document(create_app(gateway_settings(specs), specs=specs))
    result: dict[str, Any] = document["components"]["schemas"]
    return result


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_every_member_of_the_document_is_in_the_client_struct(schemas: dict[str, Any], name: str) -> None:
    fields = {f.encode_name for f in msgspec.structs.fields(STRUCTS[name])}
    documented = set(schemas[name]["properties"])
    client_name = STRUCTS[name].__name__
    where = "clients/python/src/collection_gateway_client/models.py"
    missing = documented - LEFT_OUT.get(client_name, set()) - fields
    assert not missing, (
        f"the gateway documents {sorted(missing)} on {name}: add them to {client_name} in {where}"
    )
    unknown = fields - NEWER.get(client_name, set()) - documented
    assert not unknown, f"{client_name} in {where} has {sorted(unknown)} that {name} does not document"


@pytest.mark.parametrize("name", sorted(BODIES))
def test_request_bodies_require_what_the_gateway_requires(schemas: dict[str, Any], name: str) -> None:
    required = {f.encode_name for f in msgspec.structs.fields(STRUCTS[name]) if f.required}
    assert required == set(schemas[name].get("required", []))


def test_answers_are_read_tolerantly() -> None:
    newer = b'{"id":"op_1","kind":"claim.archive","status":"parked","claim_id":"clm_1","agency":"x",'
    newer += b'"created_at":"2026-11-25T10:00:00Z","updated_at":"2026-11-25T10:00:00Z","new_member":1}'
    operation = msgspec.json.decode(newer, type=models.Operation)
    assert (operation.kind, operation.status, operation.final) == ("claim.archive", "parked", False)


def test_bodies_leave_out_what_the_caller_did_not_set() -> None:
    body = models.PaymentReversal()
    assert msgspec.json.encode(body) == b"{}"
