"""Every request of the API as a `Call`: built once here, sent by the sync or the async client."""

from __future__ import annotations

import datetime as dt
from typing import Any

from collection_gateway_client._core import Call, path
from collection_gateway_client.models import (
    Agency,
    Claim,
    ClaimCreate,
    CreditNoteCreate,
    Event,
    Invoice,
    Operation,
    Page,
    Payment,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
)

__all__ = ["Calls"]


class _AgencyList(Page[Agency], kw_only=True):
    """`GET /v1/agencies` answers `{"data": [...]}` (no cursor: every agency at once)."""

    has_more: bool = False


class Calls:
    """The requests of one tenant."""

    def __init__(self, tenant: str) -> None:
        self.base = path("/v1/tenants/{}", tenant)

    def _write(
        self, suffix: str, body: Any, idempotency_key: str | None, wait: int | None
    ) -> Call[Operation]:
        return Call(
            method="POST",
            path=self.base + suffix,
            answer=Operation,
            body=body,
            write=True,
            idempotency_key=idempotency_key,
            wait=wait,
        )

    # claims
    def submit_claim(self, body: ClaimCreate, key: str | None, wait: int | None) -> Call[Operation]:
        return self._write("/claims", body, key, wait)

    def get_claim(self, claim_id: str, expand_agency_data: bool, refresh: bool) -> Call[Claim]:
        params = {"expand": "agency_data" if expand_agency_data else None, "refresh": refresh or None}
        return Call(method="GET", path=self.base + path("/claims/{}", claim_id), answer=Claim, params=params)

    def list_claims(
        self,
        status: str | None,
        agency: str | None,
        client_reference: str | None,
        created_after: dt.datetime | None,
        page_size: int,
    ) -> Call[Page[Claim]]:
        params = {
            "status": status,
            "agency": agency,
            "client_reference": client_reference,
            "created_after": created_after,
            "limit": page_size,
        }
        return Call(method="GET", path=self.base + "/claims", answer=Page[Claim], params=params)

    def list_invoices(self, claim_id: str, page_size: int) -> Call[Page[Invoice]]:
        return Call(
            method="GET",
            path=self.base + path("/claims/{}/invoices", claim_id),
            answer=Page[Invoice],
            params={"limit": page_size},
        )

    def list_payments(self, claim_id: str, page_size: int) -> Call[Page[Payment]]:
        return Call(
            method="GET",
            path=self.base + path("/claims/{}/payments", claim_id),
            answer=Page[Payment],
            params={"limit": page_size},
        )

    def report_payment(
        self, claim_id: str, body: PaymentReport, key: str | None, wait: int | None
    ) -> Call[Operation]:
        return self._write(path("/claims/{}/payments", claim_id), body, key, wait)

    def reverse_payment(
        self, claim_id: str, payment_id: str, body: PaymentReversal, key: str | None, wait: int | None
    ) -> Call[Operation]:
        return self._write(path("/claims/{}/payments/{}/reversal", claim_id, payment_id), body, key, wait)

    def create_credit_note(
        self, claim_id: str, body: CreditNoteCreate, key: str | None, wait: int | None
    ) -> Call[Operation]:
        return self._write(path("/claims/{}/credit-notes", claim_id), body, key, wait)

    def withdraw(self, claim_id: str, body: Withdrawal, key: str | None, wait: int | None) -> Call[Operation]:
        return self._write(path("/claims/{}/withdrawal", claim_id), body, key, wait)

    # operations and events
    def get_operation(self, operation_id: str) -> Call[Operation]:
        return Call(method="GET", path=self.base + path("/operations/{}", operation_id), answer=Operation)

    def list_operations(self, status: str | None, kind: str | None, page_size: int) -> Call[Page[Operation]]:
        params = {"status": status, "kind": kind, "limit": page_size}
        return Call(method="GET", path=self.base + "/operations", answer=Page[Operation], params=params)

    def list_events(self, page_size: int) -> Call[Page[Event]]:
        return Call(method="GET", path=self.base + "/events", answer=Page[Event], params={"limit": page_size})

    @staticmethod
    def list_agencies() -> Call[Page[Agency]]:
        return Call(method="GET", path="/v1/agencies", answer=_AgencyList)
