"""A sample internal service using the client: checked by `mypy --strict` in `make lint`.

Run against `collection-gateway demo`:  python clients/python/examples/caller.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from collection_gateway_client import (
    Address,
    AsyncClient,
    ClaimCreate,
    Client,
    Debtor,
    DuplicateClientReference,
    InvoiceCreate,
    Money,
    Operation,
    PaymentReport,
    ValidationFailed,
    verify_webhook,
)

GATEWAY = "http://127.0.0.1:8000"
API_KEY = "cg_demo_acme"


def new_claim(reference: str) -> ClaimCreate:
    return ClaimCreate(
        client_reference=reference,
        currency="EUR",
        debtor=Debtor(
            kind="person",
            reference="CUST-42",
            first_name="Anna",
            last_name="Muster",
            address=Address(street="Bahnhofstrasse 1", postal_code="8001", city="Zurich", country="CH"),
        ),
        invoices=[
            InvoiceCreate(
                number=f"INV-{uuid.uuid4().hex[:8]}",
                issued_on=dt.date(2026, 10, 1),
                due_on=dt.date(2026, 10, 31),
                amount=Money(amount=12000, currency="EUR"),  # minor units: EUR 120.00
            )
        ],
    )


def hand_over(reference: str) -> Operation | None:
    with Client(GATEWAY, API_KEY, tenant="acme") as gateway:
        try:
            operation = gateway.wait_for(gateway.claims.create(new_claim(reference)), timeout=30)
            operation.raise_for_failure()  # AgencyRejected when the agency refused it
        except DuplicateClientReference:
            return None  # handed over before
        except ValidationFailed as problem:
            for pointer, detail in zip(problem.pointers, (e.detail for e in problem.errors), strict=True):
                print(f"{pointer}: {detail}")
            raise
        if operation.status == "succeeded":
            payment = PaymentReport(
                payment_id="P-1", amount=Money(amount=5000, currency="EUR"), paid_on=dt.date(2026, 11, 20)
            )
            gateway.claims.report_payment(operation.claim_id, payment, wait=10)
        for claim in gateway.claims.list(status="active"):
            print(claim.id, claim.balance.amount, claim.balance.currency)
        return operation


async def open_balances() -> int:
    async with AsyncClient(GATEWAY, API_KEY, tenant="acme") as gateway:
        return sum([claim.balance.amount async for claim in gateway.claims.list(status="active")])


def on_webhook(headers: dict[str, str], body: bytes, secret: str) -> str:
    event = verify_webhook(headers, body, secret)
    return f"{event.type} for {event.claim_id}"


if __name__ == "__main__":
    print(hand_over(f"ORD-{uuid.uuid4().hex[:8]}"))
    print(asyncio.run(open_balances()))
