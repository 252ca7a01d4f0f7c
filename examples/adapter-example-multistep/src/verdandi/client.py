"""Verdandi's HTTP calls (docs/verdandi-api.md), described; the shared `UpstreamClient` sends them.

- Auth: `Authorization: Bearer <api key>`, the tenant credential's `api_key` (config:
  `api_key_env = "VAR"`).
- No idempotency key: every `POST` creates. Each write here has a `find_*` look-up by the
  external id the adapter chose (`?externalId=`), which the adapter calls before it resends
  anything that may have been carried out (`adapters.sdk.Steps`).
- Lists: page numbers from 1, `page_size` at most 25, `count/next/previous`; a page past the end
  is 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec

from adapters.sdk import AgencyAuthFailed, BearerAuth, Credential, NotFound, UpstreamClient

from verdandi.wire import (
    VERDANDI_MAX_PAGE_SIZE,
    VerdandiClaim,
    VerdandiClaimCreate,
    VerdandiDebtor,
    VerdandiDebtorCreate,
    VerdandiPage,
    VerdandiPayment,
    VerdandiPaymentCreate,
    VerdandiRelease,
    VerdandiReleaseCreate,
    VerdandiWithdrawal,
)

__all__ = ["VerdandiClient"]

AGENCY = "verdandi"

_DEBTOR = msgspec.json.Decoder(VerdandiDebtor)
_DEBTORS = msgspec.json.Decoder(VerdandiPage[VerdandiDebtor])
_CLAIM = msgspec.json.Decoder(VerdandiClaim)
_CLAIMS = msgspec.json.Decoder(VerdandiPage[VerdandiClaim])
_RELEASE = msgspec.json.Decoder(VerdandiRelease)
_RELEASES = msgspec.json.Decoder(VerdandiPage[VerdandiRelease])
_PAYMENT = msgspec.json.Decoder(VerdandiPayment)
_PAYMENTS = msgspec.json.Decoder(VerdandiPage[VerdandiPayment])


def _segment(value: str) -> str:
    return quote(value, safe="")


def _first_id(page: VerdandiPage[Any]) -> str | None:
    """The id of what a look-up by external id found (the oldest, should there be several)."""
    return str(page.results[0].id) if page.results else None


class VerdandiClient:
    """One per adapter; stateless apart from the shared upstream client it sends through."""

    def __init__(self, http: UpstreamClient) -> None:
        self._http = http

    @staticmethod
    def _auth(credential: Credential) -> BearerAuth:
        api_key = credential.get("api_key")
        if not api_key:
            raise AgencyAuthFailed("verdandi: the tenant's credential has no api_key", agency=AGENCY)
        return BearerAuth(token=api_key)

    async def _get(
        self, credential: Credential, path: str, params: dict[str, Any] | None = None
    ) -> bytes | None:
        """A read; None for 404."""
        response = await self._http.request(
            "GET",
            path,
            credential=credential,
            auth=self._auth(credential),
            params=params,
            allow=frozenset({404}),
        )
        return None if response.status == 404 else response.content

    async def _post(self, credential: Credential, path: str, body: Any) -> bytes:
        response = await self._http.request(
            "POST", path, credential=credential, auth=self._auth(credential), json=body, write=True
        )
        return response.content

    async def _by_external_id(self, credential: Credential, path: str, external_id: str) -> bytes:
        content = await self._get(credential, path, {"externalId": external_id, "page_size": 1})
        return content if content is not None else b'{"count": 0, "results": []}'

    # --- the three steps of a create, each with its look-up ------------------------------------

    async def create_debtor(self, credential: Credential, body: VerdandiDebtorCreate) -> str:
        return _DEBTOR.decode(await self._post(credential, "/v1/debtors", body)).id

    async def find_debtor(self, credential: Credential, external_id: str) -> str | None:
        return _first_id(_DEBTORS.decode(await self._by_external_id(credential, "/v1/debtors", external_id)))

    async def create_claim(self, credential: Credential, body: VerdandiClaimCreate) -> str:
        return _CLAIM.decode(await self._post(credential, "/v1/claims", body)).id

    async def find_claim(self, credential: Credential, external_id: str) -> str | None:
        return _first_id(_CLAIMS.decode(await self._by_external_id(credential, "/v1/claims", external_id)))

    async def create_release(self, credential: Credential, body: VerdandiReleaseCreate) -> str:
        return _RELEASE.decode(await self._post(credential, "/v1/releases", body)).id

    async def find_release(self, credential: Credential, external_id: str) -> str | None:
        return _first_id(
            _RELEASES.decode(await self._by_external_id(credential, "/v1/releases", external_id))
        )

    # --- reads ---------------------------------------------------------------------------------

    async def get_release(self, credential: Credential, release_id: str) -> VerdandiRelease:
        content = await self._get(credential, f"/v1/releases/{_segment(release_id)}")
        if content is None:
            raise NotFound(f"verdandi has no release {release_id}")
        return _RELEASE.decode(content)

    async def claims(
        self, credential: Credential, release_id: str, page: int, page_size: int = VERDANDI_MAX_PAGE_SIZE
    ) -> VerdandiPage[VerdandiClaim]:
        """One page of a release's claims (an empty page past the end)."""
        content = await self._get(credential, "/v1/claims", self._window(release_id, page, page_size))
        return _CLAIMS.decode(content) if content is not None else VerdandiPage(count=0)

    async def payments(
        self, credential: Credential, release_id: str, page: int, page_size: int = VERDANDI_MAX_PAGE_SIZE
    ) -> VerdandiPage[VerdandiPayment]:
        content = await self._get(credential, "/v1/payments", self._window(release_id, page, page_size))
        return _PAYMENTS.decode(content) if content is not None else VerdandiPage(count=0)

    @staticmethod
    def _window(release_id: str, page: int, page_size: int) -> dict[str, Any]:
        if page < 1 or not 1 <= page_size <= VERDANDI_MAX_PAGE_SIZE:
            raise ValueError(f"Verdandi serves pages from 1 of 1 to {VERDANDI_MAX_PAGE_SIZE} items")
        return {"release": release_id, "page": page, "page_size": page_size}

    # --- follow-ups ----------------------------------------------------------------------------

    async def create_payment(self, credential: Credential, claim_id: str, body: VerdandiPaymentCreate) -> str:
        path = f"/v1/claims/{_segment(claim_id)}/payments"
        return _PAYMENT.decode(await self._post(credential, path, body)).id

    async def find_payment(self, credential: Credential, external_id: str) -> str | None:
        return _first_id(
            _PAYMENTS.decode(await self._by_external_id(credential, "/v1/payments", external_id))
        )

    async def withdraw(
        self, credential: Credential, claim_id: str, body: VerdandiWithdrawal
    ) -> VerdandiClaim:
        """Withdrawing a withdrawn claim again answers 200 and changes nothing: safe to resend."""
        path = f"/v1/claims/{_segment(claim_id)}/withdrawal"
        return _CLAIM.decode(await self._post(credential, path, body))
