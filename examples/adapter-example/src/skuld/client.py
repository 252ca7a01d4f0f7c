"""Skuld's HTTP calls (docs/skuld-api.md), described; the shared `UpstreamClient` sends them.

- Auth: `Authorization: Bearer <api key>`, the tenant credential's `api_key` (config:
  `api_key_env = "VAR"`).
- Idempotency at the agency: a registration carries `clientCaseId`, a direct payment
  `clientTransactionId`; Skuld answers a repeat with 409 naming what it already has. A repeat is
  therefore read as "already done" (`allow={409}`), never as a refusal.
- Lists: offset pagination without totals, `limit` at most 50.
"""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from adapters.sdk import AgencyAuthFailed, AgencyRejected, BearerAuth, Credential, NotFound, UpstreamClient

from skuld.wire import (
    SKULD_MAX_LIMIT,
    SkuldCase,
    SkuldCaseAccepted,
    SkuldCaseCreate,
    SkuldDirectPayment,
    SkuldError,
    SkuldInvoicePage,
    SkuldTransaction,
    SkuldTransactionPage,
    SkuldWithdrawal,
)

__all__ = ["SkuldClient"]

AGENCY = "skuld"

_ACCEPTED = msgspec.json.Decoder(SkuldCaseAccepted)
_CASE = msgspec.json.Decoder(SkuldCase)
_ERROR = msgspec.json.Decoder(SkuldError)
_INVOICES = msgspec.json.Decoder(SkuldInvoicePage)
_TRANSACTION = msgspec.json.Decoder(SkuldTransaction)
_TRANSACTIONS = msgspec.json.Decoder(SkuldTransactionPage)


def _segment(value: str) -> str:
    return quote(value, safe="")


class SkuldClient:
    """One per adapter; stateless apart from the shared upstream client it sends through."""

    def __init__(self, http: UpstreamClient) -> None:
        self._http = http

    @staticmethod
    def _auth(credential: Credential) -> BearerAuth:
        api_key = credential.get("api_key")
        if not api_key:
            raise AgencyAuthFailed("skuld: the tenant's credential has no api_key", agency=AGENCY)
        return BearerAuth(token=api_key)

    async def register_case(self, credential: Credential, body: SkuldCaseCreate) -> str:
        """`POST /cases` → the caseId: of the case just accepted (202), or of the one registered
        earlier under the same clientCaseId (409 duplicate_case)."""
        response = await self._http.request(
            "POST",
            "/api/v2/cases",
            credential=credential,
            auth=self._auth(credential),
            json=body,
            write=True,
            allow=frozenset({409}),
        )
        if response.status == 409:
            error = _ERROR.decode(response.content)
            if error.error != "duplicate_case" or not error.case_id:
                raise AgencyRejected(error.detail or "conflict", agency=AGENCY)
            return error.case_id
        return _ACCEPTED.decode(response.content).case_id

    async def get_case(self, credential: Credential, case_id: str) -> SkuldCase:
        response = await self._http.request(
            "GET",
            f"/api/v2/cases/{_segment(case_id)}",
            credential=credential,
            auth=self._auth(credential),
            allow=frozenset({404}),
        )
        if response.status == 404:
            raise NotFound(f"skuld has no case {case_id}")
        return _CASE.decode(response.content)

    async def invoices(
        self, credential: Credential, case_id: str, offset: int, limit: int
    ) -> SkuldInvoicePage:
        return _INVOICES.decode(await self._list(credential, case_id, "invoices", offset, limit))

    async def transactions(
        self, credential: Credential, case_id: str, offset: int, limit: int
    ) -> SkuldTransactionPage:
        return _TRANSACTIONS.decode(await self._list(credential, case_id, "transactions", offset, limit))

    async def _list(self, credential: Credential, case_id: str, name: str, offset: int, limit: int) -> bytes:
        if not 1 <= limit <= SKULD_MAX_LIMIT:
            raise ValueError(f"Skuld serves 1 to {SKULD_MAX_LIMIT} items a page, not {limit}")
        response = await self._http.request(
            "GET",
            f"/api/v2/cases/{_segment(case_id)}/{name}",
            credential=credential,
            auth=self._auth(credential),
            params={"offset": offset, "limit": limit},
            allow=frozenset({404}),
        )
        if response.status == 404:
            raise NotFound(f"skuld has no case {case_id}")
        return response.content

    async def add_direct_payment(self, credential: Credential, case_id: str, body: SkuldDirectPayment) -> str:
        """`POST /direct-payments` → the transactionId (also of a repeat: 409 duplicate_transaction)."""
        response = await self._http.request(
            "POST",
            f"/api/v2/cases/{_segment(case_id)}/direct-payments",
            credential=credential,
            auth=self._auth(credential),
            json=body,
            write=True,
            allow=frozenset({409}),
        )
        if response.status == 409:
            error = _ERROR.decode(response.content)
            if error.error != "duplicate_transaction" or not error.transaction_id:
                raise AgencyRejected(error.detail or "conflict", agency=AGENCY)
            return error.transaction_id
        return _TRANSACTION.decode(response.content).transaction_id

    async def withdraw(self, credential: Credential, case_id: str, body: SkuldWithdrawal) -> SkuldCase:
        """`POST /withdraw`: the whole case. Withdrawing a withdrawn case again changes nothing."""
        response = await self._http.request(
            "POST",
            f"/api/v2/cases/{_segment(case_id)}/withdraw",
            credential=credential,
            auth=self._auth(credential),
            json=body,
            write=True,
        )
        return _CASE.decode(response.content)
