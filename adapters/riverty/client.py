"""Riverty's HTTP calls: auth, headers, bodies. Sending is the shared upstream client's job.

- Auth: OAuth2 client credentials at the identity provider's `token_url` with Riverty's
  `audience`; tokens live 24 h and are cached by the upstream client (agency-api-notes, Riverty).
- Every call carries `X-Client-Global-Id` (the credential's `client_global_id`, a number) and
  `X-Client-Reference` (an array: sent as a comma-separated header list of our own references —
  the gateway claim id, and for writes the operation id).
- Bodies are encoded here with `Decimal` as JSON **numbers** (Riverty's amounts are numbers, not
  strings) and handed to the upstream client pre-encoded (`msgspec.Raw`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from adapters.riverty.wire import (
    RivertyCancellation,
    RivertyClaimCreate,
    RivertyClaimSummary,
    RivertyCreditWaiver,
    RivertyInvoice,
    RivertyPage,
    RivertyPagination,
    RivertyPayment,
    RivertyRecall,
    RivertyRequestAccepted,
    RivertyTransaction,
)
from adapters.sdk import (
    AgencyUnavailable,
    Credential,
    NotFound,
    OAuth2ClientCredentials,
    UpstreamClient,
    UpstreamResponse,
)

__all__ = ["RivertyClient", "RivertyItems", "WriteAnswer"]

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DUPLICATE = 409


class WriteAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Riverty's answer to a write: accepted with a requestId, or refused as a duplicate of an
    earlier write with the same client number (paymentNumber, creditWaiverNumber)."""

    request_id: str | None = None
    duplicate: bool = False
    message: str = ""


class RivertyItems(msgspec.Struct, kw_only=True):
    """One decoded page: the items and Riverty's pagination object as sent."""

    items: list[Any]
    pagination: RivertyPagination


class _Message(msgspec.Struct):
    message: str | None = None


class RivertyClient:
    def __init__(self, http: UpstreamClient, *, token_url: str, audience: str | None) -> None:
        self._http = http
        self._token_url = token_url
        self._audience = audience

    @property
    def agency(self) -> str:
        return self._http.agency

    # --- plumbing ----------------------------------------------------------------------------

    def _auth(self, credential: Credential) -> OAuth2ClientCredentials:
        return OAuth2ClientCredentials(
            token_url=self._token_url,
            client_id=credential.get("client_id"),
            client_secret=credential.get("client_secret"),
            audience=self._audience,
        )

    @staticmethod
    def _headers(credential: Credential, references: Sequence[str]) -> dict[str, str]:
        return {
            "X-Client-Global-Id": credential.get("client_global_id"),
            "X-Client-Reference": ", ".join(ref for ref in references if ref) or credential.tenant,
            "Accept": "application/json",
        }

    async def _call(
        self,
        method: str,
        path: str,
        credential: Credential,
        references: Sequence[str],
        *,
        params: Mapping[str, Any] | None = None,
        body: msgspec.Struct | None = None,
        allow: frozenset[int] = frozenset(),
    ) -> UpstreamResponse:
        return await self._http.request(
            method,
            path,
            credential=credential,
            auth=self._auth(credential),
            params=params,
            json=None if body is None else msgspec.Raw(_ENCODER.encode(body)),
            headers=self._headers(credential, references),
            write=method != "GET",
            allow=allow,
        )

    def _decode(self, response: UpstreamResponse, kind: type[T]) -> T:
        try:
            return response.json(kind)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise AgencyUnavailable(f"{self.agency}: unexpected answer ({exc})", agency=self.agency) from exc

    def _page(self, response: UpstreamResponse, item: type[T]) -> RivertyItems:
        page = self._decode(response, RivertyPage)
        try:
            items = [msgspec.json.decode(raw, type=item) for raw in page.items]
        except msgspec.DecodeError as exc:
            raise AgencyUnavailable(f"{self.agency}: unexpected item ({exc})", agency=self.agency) from exc
        return RivertyItems(items=items, pagination=page.pagination or RivertyPagination())

    async def _write(
        self, path: str, credential: Credential, references: Sequence[str], body: msgspec.Struct
    ) -> WriteAnswer:
        response = await self._call(
            "POST", path, credential, references, body=body, allow=frozenset({_DUPLICATE})
        )
        if response.status == _DUPLICATE:
            message = self._decode(response, _Message).message or "duplicate"
            return WriteAnswer(duplicate=True, message=message)
        return WriteAnswer(request_id=self._decode(response, RivertyRequestAccepted).request_id)

    # --- claims ------------------------------------------------------------------------------

    async def submit_claim(
        self, credential: Credential, body: RivertyClaimCreate, references: Sequence[str]
    ) -> str:
        """`POST /claims` → `202 {requestId}` (the claim number comes later, in /transactions)."""
        answer = await self._write("/claims", credential, references, body)
        if answer.request_id is None:  # no client key on claims: a 409 here is not a duplicate
            raise AgencyUnavailable(f"{self.agency}: POST /claims answered 409: {answer.message}")
        return answer.request_id

    async def search_claims(
        self, credential: Credential, references: Sequence[str], **filters: str
    ) -> list[RivertyClaimSummary]:
        """`GET /claims/search?contractNumber=…|claimNumber=…` (first page is plenty: the filters
        the adapter uses name at most one claim)."""
        response = await self._call(
            "GET", "/claims/search", credential, references, params={**filters, "page": 1, "pageSize": 10}
        )
        return self._page(response, RivertyClaimSummary).items

    async def invoices(
        self, credential: Credential, claim_number: str, page: int, page_size: int, references: Sequence[str]
    ) -> RivertyItems:
        """`GET /claims/{claimNumber}/invoices?page=&pageSize=` (1-based pages)."""
        response = await self._call(
            "GET",
            f"/claims/{claim_number}/invoices",
            credential,
            references,
            params={"page": page, "pageSize": page_size},
            allow=frozenset({404}),
        )
        self._found(response, claim_number)
        return self._page(response, RivertyInvoice)

    def _found(self, response: UpstreamResponse, claim_number: str) -> None:
        if response.status == 404:
            raise NotFound(f"{self.agency} does not know claim {claim_number}")

    # --- the outcome feed --------------------------------------------------------------------

    async def transactions(
        self, credential: Credential, since: dt.datetime, page: int, page_size: int
    ) -> RivertyItems:
        """One page of `GET /transactions?from=` — oldest first, `from` inclusive, 1-based pages.
        Items stay raw (`msgspec.Raw`): `transactions_since` decodes them one by one."""
        response = await self._call(
            "GET",
            "/transactions",
            credential,
            (credential.tenant,),
            params={"from": since.isoformat(), "page": page, "pageSize": page_size},
        )
        page_ = self._decode(response, RivertyPage)
        return RivertyItems(items=list(page_.items), pagination=page_.pagination or RivertyPagination())

    async def transactions_since(
        self,
        credential: Credential,
        since: dt.datetime,
        *,
        page_size: int = 100,
        on_unreadable: Callable[[bytes, str], None] | None = None,
    ) -> AsyncGenerator[RivertyTransaction, None]:
        """Every transaction from `since` (inclusive), oldest first, over as many pages as it takes.

        Whatever page size Riverty serves (the one asked, a smaller cap, its own default) each
        transaction is yielded once and every call moves forward: an item's place in the feed is
        where Riverty says its page starts, `(currentPage - 1) * pageSize`, plus its index; the
        next page asked is the one holding the first item not yet yielded, in Riverty's page
        size. The feed ends at an empty page, at `totalItems` / `totalPages`, or (no totals) at a
        page shorter than its size. An item that does not decode is handed to `on_unreadable`
        (raw bytes, reason) and skipped: one bad record never blocks the feed. A Riverty whose
        pages do not line up (a page that brings nothing new) raises AgencyUnavailable.
        """
        offset = 0  # the feed index of the next transaction to yield
        size = max(1, page_size)
        while True:
            asked = offset // size + 1
            result = await self.transactions(credential, since, asked, size)
            items, pagination = result.items, result.pagination
            if not items:
                return
            current = pagination.current_page or asked
            served = pagination.page_size or size
            # No pageSize said: a short first page with more to come is Riverty's cap.
            total = pagination.total_items
            if (
                not pagination.page_size
                and current == 1
                and total is not None
                and len(items) < min(size, total)
            ):
                served = len(items)
            start = (current - 1) * served
            end = start + len(items)
            if start > offset or end <= offset:  # a gap, or nothing new: never skip, never spin
                raise AgencyUnavailable(
                    f"{self.agency}: /transactions pages do not line up", agency=self.agency
                )
            for raw in items[offset - start :]:
                try:
                    yield msgspec.json.decode(raw, type=RivertyTransaction)
                except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
                    if on_unreadable is not None:
                        on_unreadable(bytes(raw), str(exc))
            offset = end
            if pagination.total_items is not None:
                if offset >= pagination.total_items:
                    return
            elif pagination.total_pages is not None:
                if current >= pagination.total_pages:
                    return
            elif len(items) < served:
                return
            size = served  # ask in Riverty's own page size from now on

    # --- follow-up writes --------------------------------------------------------------------

    async def report_payment(
        self, credential: Credential, claim_number: str, body: RivertyPayment, references: Sequence[str]
    ) -> WriteAnswer:
        return await self._write(f"/claims/{claim_number}/payments", credential, references, body)

    async def add_credit_waiver(
        self, credential: Credential, claim_number: str, body: RivertyCreditWaiver, references: Sequence[str]
    ) -> WriteAnswer:
        return await self._write(f"/claims/{claim_number}/creditWaivers", credential, references, body)

    async def recall(
        self, credential: Credential, claim_number: str, body: RivertyRecall, references: Sequence[str]
    ) -> WriteAnswer:
        return await self._write(f"/claims/{claim_number}/recalls", credential, references, body)

    async def cancel_document(
        self, credential: Credential, claim_number: str, body: RivertyCancellation, references: Sequence[str]
    ) -> WriteAnswer:
        return await self._write(
            f"/claims/{claim_number}/accountingDocuments/cancellations", credential, references, body
        )
