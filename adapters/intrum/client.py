"""Intrum CPS-API V1 calls: paths, headers, credentials and decoding. Sending is the upstream's.

Every call goes through the shared upstream client (`context.http`), which authenticates with
OAuth2 client credentials, rate-limits per credential, retries and translates failures. This
module only knows Intrum: which path, which query parameters, which `Idempotency-Key`, which of
a tenant's two Intrum accounts.

Accounts (Authentication, "Read-Only vs. Read/Write Credentials"): a tenant may hold a read-only
pair (`read_client_id` / `read_client_secret`) besides its read/write pair; GETs use the read-only
one when present (least privilege), POSTs always the read/write one. `/tracking` also uses the
read/write pair: "only tracking records created by the authenticated client can be queried".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import msgspec

from adapters.intrum.wire import (
    DECODE_ERRORS,
    ENCODER,
    IntrumAccepted,
    IntrumCasePage,
    IntrumCreditNote,
    IntrumFeedPage,
    IntrumInvoice,
    IntrumPayment,
    IntrumPaymentReversal,
    IntrumPaymentsPage,
    IntrumRegistration,
    IntrumStatusUpdatePage,
    IntrumTracking,
    IntrumWithdrawal,
)
from adapters.sdk import AgencyUnavailable, Credential, OAuth2ClientCredentials

__all__ = ["IntrumClient", "Upstream", "UpstreamAnswer"]

T = TypeVar("T")

#: "limit: Maximum number of items to return per page (default: 10, max: 100)" (Pagination)
MAX_LIMIT = 100


class UpstreamAnswer(Protocol):
    @property
    def content(self) -> bytes: ...


class Upstream(Protocol):
    """What this client needs of `adapters._upstream.UpstreamClient`."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        credential: Credential,
        auth: Any,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
    ) -> UpstreamAnswer: ...


class IntrumClient:
    def __init__(self, http: Upstream, *, token_url: str) -> None:
        self._http = http
        self._token_url = token_url

    # --- credentials ---

    def write_auth(self, credential: Credential) -> OAuth2ClientCredentials:
        return OAuth2ClientCredentials(
            token_url=self._token_url,
            client_id=credential.get("client_id"),
            client_secret=credential.get("client_secret"),
        )

    def read_auth(self, credential: Credential) -> OAuth2ClientCredentials:
        client_id, secret = credential.get("read_client_id"), credential.get("read_client_secret")
        if client_id and secret:
            return OAuth2ClientCredentials(
                token_url=self._token_url, client_id=client_id, client_secret=secret
            )
        return self.write_auth(credential)

    # --- writes: every POST is asynchronous at Intrum and answers 202 {trackingId} ---

    async def register(self, credential: Credential, key: str, body: IntrumRegistration) -> IntrumAccepted:
        return await self._post("/portfolio/registration", credential, key, body)

    async def report_payment(self, credential: Credential, key: str, body: IntrumPayment) -> IntrumAccepted:
        return await self._post("/invoices/payment", credential, key, body)

    async def reverse_payment(
        self, credential: Credential, key: str, body: IntrumPaymentReversal
    ) -> IntrumAccepted:
        return await self._post("/invoices/paymentReversal", credential, key, body)

    async def add_credit_note(
        self, credential: Credential, key: str, body: IntrumCreditNote
    ) -> IntrumAccepted:
        return await self._post("/invoices/creditNote", credential, key, body)

    async def withdraw(self, credential: Credential, key: str, body: IntrumWithdrawal) -> IntrumAccepted:
        return await self._post("/invoices/withdrawal", credential, key, body)

    async def _post(
        self, path: str, credential: Credential, key: str, body: msgspec.Struct
    ) -> IntrumAccepted:
        # The Idempotency-Key is the operation's token, the same on every attempt: Intrum answers
        # a repeat within 7 days with the first answer instead of acting twice (Idempotency).
        # The body is encoded here so that Decimals go out as JSON numbers (Raw is sent verbatim).
        answer = await self._http.request(
            "POST",
            path,
            credential=credential,
            auth=self.write_auth(credential),
            json=msgspec.Raw(ENCODER.encode(body)),
            headers={"Idempotency-Key": key, "Accept": "application/json"},
            write=True,
        )
        return _decode(answer.content, IntrumAccepted, path)

    # --- reads ---

    async def query_cases(
        self,
        credential: Credential,
        *,
        case_number: int | None = None,
        customer_reference: str | None = None,
        starting_after: str | None = None,
        limit: int = MAX_LIMIT,
    ) -> IntrumCasePage:
        params: dict[str, Any] = {"limit": min(limit, MAX_LIMIT)}
        if case_number is not None:
            params["caseNumber"] = case_number
        if customer_reference is not None:
            params["customerReference"] = customer_reference
        if starting_after is not None:
            params["startingAfter"] = starting_after
        return await self._get("/portfolio/query", credential, params, IntrumCasePage)

    async def query_invoice(self, credential: Credential, invoice_number: str) -> IntrumInvoice:
        params = {"invoiceNumber": invoice_number, "addInvoiceAttributes": "true"}
        return await self._get("/invoices/query", credential, params, IntrumInvoice)

    async def payments(
        self,
        credential: Credential,
        *,
        journalized_from: dt.date,
        journalized_to: dt.date,
        starting_after: str | None = None,
        limit: int = MAX_LIMIT,
    ) -> IntrumPaymentsPage:
        params: dict[str, Any] = {
            "fromJournalizedDate": journalized_from.isoformat(),
            "toJournalizedDate": journalized_to.isoformat(),
            "limit": min(limit, MAX_LIMIT),
        }
        if starting_after is not None:
            params["startingAfter"] = starting_after
        return await self._get("/portfolio/payments", credential, params, IntrumPaymentsPage)

    async def status_updates(
        self,
        credential: Credential,
        *,
        updated_from: dt.datetime,
        starting_after: tuple[dt.datetime, str] | None = None,
        limit: int = MAX_LIMIT,
    ) -> IntrumStatusUpdatePage:
        params: dict[str, Any] = {"lastUpdatedFrom": _timestamp(updated_from), "limit": min(limit, MAX_LIMIT)}
        if starting_after is not None:
            # the dual cursor: both parts or none (statusUpdate, "Query Parameters")
            params["startingAfterTimestamp"] = _timestamp(starting_after[0])
            params["startingAfterInvoiceNumber"] = starting_after[1]
        return await self._get("/portfolio/statusUpdate", credential, params, IntrumStatusUpdatePage)

    # --- the change feed: the same two endpoints, each record left undecoded for the adapter ---

    async def status_updates_feed(
        self,
        credential: Credential,
        *,
        updated_from: dt.datetime,
        starting_after: tuple[dt.datetime, str] | None,
        limit: int,
    ) -> IntrumFeedPage:
        params: dict[str, Any] = {"lastUpdatedFrom": _timestamp(updated_from), "limit": min(limit, MAX_LIMIT)}
        if starting_after is not None:
            params["startingAfterTimestamp"] = _timestamp(starting_after[0])
            params["startingAfterInvoiceNumber"] = starting_after[1]
        return await self._get("/portfolio/statusUpdate", credential, params, IntrumFeedPage)

    async def payments_feed(
        self,
        credential: Credential,
        *,
        journalized_from: dt.date,
        journalized_to: dt.date,
        starting_after: str | None,
        limit: int,
    ) -> IntrumFeedPage:
        params: dict[str, Any] = {
            "fromJournalizedDate": journalized_from.isoformat(),
            "toJournalizedDate": journalized_to.isoformat(),
            "limit": min(limit, MAX_LIMIT),
        }
        if starting_after is not None:
            params["startingAfter"] = starting_after
        return await self._get("/portfolio/payments", credential, params, IntrumFeedPage)

    async def tracking(self, credential: Credential, tracking_id: int) -> IntrumTracking:
        answer = await self._http.request(
            "GET",
            "/tracking",
            credential=credential,
            auth=self.write_auth(credential),
            params={"trackingId": tracking_id},
            headers={"Accept": "application/json"},
        )
        return _decode(answer.content, IntrumTracking, "/tracking")

    async def _get(self, path: str, credential: Credential, params: Mapping[str, Any], type: type[T]) -> T:
        answer = await self._http.request(
            "GET",
            path,
            credential=credential,
            auth=self.read_auth(credential),
            params=params,
            headers={"Accept": "application/json"},
        )
        return _decode(answer.content, type, path)


def _decode(content: bytes, type: type[T], path: str) -> T:
    try:
        return msgspec.json.decode(content, type=type)
    except DECODE_ERRORS as exc:
        # Intrum answered 2xx with a body we cannot read: its fault, and not ours to crash on.
        raise AgencyUnavailable(f"intrum: unreadable answer from {path}: {exc}", agency="intrum") from exc


def _timestamp(value: dt.datetime) -> str:
    # "Format: YYYY-MM-DDTHH:MM:SSZ"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
