"""Debbie's HTTP calls, described; the shared `UpstreamClient` sends them.

Auth (notes, Debbie): `Authorization: Bearer <token>`, one static API token per tenant credential
(`token_env` in config.md). Every path is scoped by Debbie's tenantId, which is the credential's
`account_id`: `/v1/{account_id}/...`.

Writes are synchronous (the case exists when `POST /cases` returns), so a write is marked
`write=True`: a timeout after sending it raises `OutcomeUnknown` and the adapter looks it up by
referenceId before sending again.

Pages (notes: `GET /cases?page=0&pageSize=50`) are 0-based and carry no totals: a page shorter
than the page size is the last one, so a scan stops without asking for an empty page unless
the last page happens to be exactly full.
"""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from adapters.debbie.wire import (
    DebbieCase,
    DebbieCaseCreate,
    DebbieCaseCreated,
    DebbieCasePage,
    DebbieCaseStatusUpdate,
    DebbieCaseVoucher,
    DebbieCaseVoucherCreate,
    DebbieCaseVoucherCreated,
    DebbieCustomer,
    DebbieCustomerCreate,
)
from adapters.sdk import AgencyAuthFailed, AgencyUnavailable, BearerAuth, Credential, NotFound, UpstreamClient

__all__ = ["CASE_PAGE_SIZE", "DebbieClient"]

#: Cases asked per page when scanning for a referenceId (the sandbox serves up to 100).
CASE_PAGE_SIZE = 100

_CUSTOMER = msgspec.json.Decoder(DebbieCustomer)
_CASE = msgspec.json.Decoder(DebbieCase)
_CASE_CREATED = msgspec.json.Decoder(DebbieCaseCreated)
_CASE_PAGE = msgspec.json.Decoder(DebbieCasePage)
_VOUCHERS = msgspec.json.Decoder(list[DebbieCaseVoucher])
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


class RawCasePage(msgspec.Struct, kw_only=True):
    """A page of cases with each case left undecoded (the sweep reads them one by one)."""

    items: list[msgspec.Raw] = []


_VOUCHER_CREATED = msgspec.json.Decoder(DebbieCaseVoucherCreated)


def _segment(value: str) -> str:
    return quote(value, safe="")


class DebbieClient:
    """One per adapter; stateless apart from the shared upstream client it sends through."""

    def __init__(self, http: UpstreamClient, *, case_page_size: int = CASE_PAGE_SIZE) -> None:
        self._http = http
        self.case_page_size = case_page_size

    @staticmethod
    def _auth(credential: Credential) -> BearerAuth:
        token = credential.get("token")
        if not token:
            raise AgencyAuthFailed("debbie: the tenant's credential has no token", agency="debbie")
        return BearerAuth(token=token)

    @staticmethod
    def _path(credential: Credential, *segments: str) -> str:
        tenant_id = credential.get("account_id")
        if not tenant_id:
            raise AgencyAuthFailed("debbie: the tenant's credential has no account_id", agency="debbie")
        return "/".join(("/v1", _segment(tenant_id), *segments))

    # --- customers ---------------------------------------------------------------------------

    async def find_customer(self, credential: Credential, reference_id: str) -> DebbieCustomer | None:
        """`GET /customers/by-reference-id/{ref}`; None when Debbie has no such customer (404)."""
        response = await self._http.request(
            "GET",
            self._path(credential, "customers", "by-reference-id", _segment(reference_id)),
            credential=credential,
            auth=self._auth(credential),
            allow=frozenset({404}),
        )
        if response.status == 404:
            return None
        return _CUSTOMER.decode(response.content)

    async def create_customer(self, credential: Credential, body: DebbieCustomerCreate) -> DebbieCustomer:
        """`POST /customers?creditorId=...` (customers live under the creditor, config.md `creditor_id`)."""
        response = await self._http.request(
            "POST",
            self._path(credential, "customers"),
            credential=credential,
            auth=self._auth(credential),
            params={"creditorId": credential.get("creditor_id")},
            json=body,
            write=True,
        )
        return _CUSTOMER.decode(response.content)

    async def get_customer(self, credential: Credential, customer_id: str) -> DebbieCustomer:
        response = await self._http.request(
            "GET",
            self._path(credential, "customers", _segment(customer_id)),
            credential=credential,
            auth=self._auth(credential),
            allow=frozenset({404}),
        )
        if response.status == 404:
            raise NotFound(f"debbie has no customer {customer_id}")
        return _CUSTOMER.decode(response.content)

    # --- cases -------------------------------------------------------------------------------

    async def create_case(self, credential: Credential, body: DebbieCaseCreate) -> DebbieCaseCreated:
        response = await self._http.request(
            "POST",
            self._path(credential, "cases"),
            credential=credential,
            auth=self._auth(credential),
            json=body,
            write=True,
        )
        return _CASE_CREATED.decode(response.content)

    async def cases_page(self, credential: Credential, page: int) -> list[DebbieCase]:
        """One 0-based page of the tenant's cases."""
        response = await self._http.request(
            "GET",
            self._path(credential, "cases"),
            credential=credential,
            auth=self._auth(credential),
            params={"page": page, "pageSize": self.case_page_size},
        )
        return _CASE_PAGE.decode(response.content).items

    async def raw_cases_page(self, credential: Credential, page: int, page_size: int) -> list[msgspec.Raw]:
        """One 0-based page of the tenant's cases, each case undecoded (the reconcile sweep)."""
        response = await self._http.request(
            "GET",
            self._path(credential, "cases"),
            credential=credential,
            auth=self._auth(credential),
            params={"page": page, "pageSize": page_size},
        )
        try:
            return msgspec.json.decode(response.content, type=RawCasePage).items
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise AgencyUnavailable(f"debbie: unreadable case list ({exc})", agency="debbie") from exc

    async def raw_case_vouchers(self, credential: Credential, case_id: str) -> list[msgspec.Raw]:
        """The case's vouchers, each undecoded; NotFound when Debbie does not know the case."""
        response = await self._http.request(
            "GET",
            self._path(credential, "case-vouchers", _segment(case_id)),
            credential=credential,
            auth=self._auth(credential),
            allow=frozenset({404}),
        )
        if response.status == 404:
            raise NotFound(f"debbie has no case {case_id}")
        try:
            return _RAW_LIST.decode(response.content)
        except msgspec.DecodeError as exc:
            raise AgencyUnavailable(f"debbie: unreadable voucher list ({exc})", agency="debbie") from exc

    async def find_case(self, credential: Credential, reference_id: str) -> DebbieCase | None:
        """The case whose referenceId is ours, by scanning the pages (Debbie has no lookup by it).

        notes, "Readings where the documents are unclear": no deduplication on referenceId is
        promised, so after a lost answer we list and match before re-sending.
        """
        page = 0
        while True:
            items = await self.cases_page(credential, page)
            for case in items:
                if case.reference_id == reference_id:
                    return case
            if len(items) < self.case_page_size:
                return None  # a short page is the last one (no totals in `meta`)
            page += 1

    async def get_case(self, credential: Credential, case_id: str) -> tuple[DebbieCase, bytes]:
        """The case and its body as received (for `agency_data`)."""
        response = await self._http.request(
            "GET",
            self._path(credential, "cases", _segment(case_id)),
            credential=credential,
            auth=self._auth(credential),
            allow=frozenset({404}),
        )
        if response.status == 404:
            raise NotFound(f"debbie has no case {case_id}")
        return _CASE.decode(response.content), response.content

    async def set_case_status(
        self, credential: Credential, case_id: str, update: DebbieCaseStatusUpdate
    ) -> None:
        await self._http.request(
            "PATCH",
            self._path(credential, "cases", _segment(case_id)),
            credential=credential,
            auth=self._auth(credential),
            json=update,
            write=True,
        )

    # --- case vouchers -----------------------------------------------------------------------

    async def case_vouchers(self, credential: Credential, case_id: str) -> list[DebbieCaseVoucher]:
        """Every voucher on the case in one answer (the document's endpoint has no paging).

        `pointInTime` is not sent: it keeps only vouchers dated *before* the given day, so a
        "now" read would miss today's payments; without it Debbie answers the current state.
        """
        response = await self._http.request(
            "GET",
            self._path(credential, "case-vouchers", _segment(case_id)),
            credential=credential,
            auth=self._auth(credential),
            allow=frozenset({404}),
        )
        if response.status == 404:
            raise NotFound(f"debbie has no case {case_id}")
        return _VOUCHERS.decode(response.content)

    async def add_voucher(
        self, credential: Credential, case_id: str, body: DebbieCaseVoucherCreate
    ) -> DebbieCaseVoucherCreated:
        response = await self._http.request(
            "POST",
            self._path(credential, "case-vouchers", _segment(case_id)),
            credential=credential,
            auth=self._auth(credential),
            json=body,
            write=True,
        )
        return _VOUCHER_CREATED.decode(response.content)
