"""Helpers for the Debbie tests: sandbox control over HTTP, operations, claims."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx

from adapters.base import OperationContext
from adapters.debbie.sandbox import DEMO_TENANT_ID, DEMO_TOKEN
from canonical import Address, ClaimCreate, Debtor, InvoiceCreate, Money, OperationKind


class SandboxControl:
    """The sandbox's own HTTP: faults, ledger, and Debbie's API as the demo tenant."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}

    async def reset(self) -> None:
        (await self.http.post("/_sandbox/reset")).raise_for_status()

    async def faults(self, **plan: Any) -> None:
        (await self.http.put("/_sandbox/faults", json=plan)).raise_for_status()

    async def ledger(self, kind: str | None = None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.http.get("/_sandbox/ledger")).json()["entries"]
        return [e for e in entries if kind is None or e["kind"] == kind]

    async def requests(self) -> int:
        count: int = (await self.http.get("/_sandbox/ledger")).json()["requests"]
        return count

    async def debbie(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"/v1/{DEMO_TENANT_ID}{path}", headers=self.auth, **kwargs)

    async def aclose(self) -> None:
        await self.http.aclose()


_op_seq = itertools.count(1)


def op(kind: OperationKind, *, maybe_sent: bool = False, token: str | None = None) -> OperationContext:
    n = next(_op_seq)
    token = token or f"op_test_{n}_{dt.datetime.now().timestamp()}"
    return OperationContext(id=token, kind=kind, idempotency_token=token, maybe_sent=maybe_sent)


def sek(amount: int) -> Money:
    return Money(amount=amount, currency="SEK")


def make_claim(
    invoices: list[tuple[str, int, int | None]], *, debtor_reference: str = "CUST-1", currency: str = "SEK"
) -> ClaimCreate:
    """invoices: (number, amount, costs or None), due dates one day apart in the given order."""
    return ClaimCreate(
        client_reference=f"ORD-{debtor_reference}",
        currency=currency,
        debtor=Debtor(
            kind="person",
            reference=debtor_reference,
            first_name="Anna",
            last_name="Berg",
            address=Address(
                street="Storgatan", house_number="1", postal_code="11122", city="Stockholm", country="SE"
            ),
        ),
        invoices=[
            InvoiceCreate(
                number=number,
                issued_on=dt.date(2026, 1, 1),
                due_on=dt.date(2026, 2, 1) + dt.timedelta(days=index),
                amount=Money(amount=amount, currency=currency),
                costs=None if costs is None else Money(amount=costs, currency=currency),
            )
            for index, (number, amount, costs) in enumerate(invoices)
        ],
    )
