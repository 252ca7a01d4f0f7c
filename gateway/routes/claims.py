"""Claims and their follow-up writes: `/v1/tenants/{tenant}/claims…`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import Body, FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from canonical import (
    Claim,
    ClaimCreate,
    ClaimStatus,
    CreditNoteCreate,
    Invoice,
    Operation,
    OperationKind,
    Page,
    Payment,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
)
from canonical.problems import BadRequest
from gateway.auth import require_admin, require_tenant
from gateway.routes._shared import (
    CLAIM_CREATE_RESPONSES,
    EXAMPLE_CLAIM,
    FOLLOW_UP_RESPONSES,
    READ_PROBLEMS,
    Cursor,
    Limit,
    PrincipalDep,
    Services,
    ServicesDep,
    StrictBody,
    answer_write,
    strict_body,
)
from gateway.services.privacy import PrivacyService

__all__ = ["ClaimController"]

#: A payment_id as PaymentReport takes it (canonical Reference).
_PAYMENT_ID = re.compile(r"^[\x21-\x7e]{1,64}$")

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", description="required: 1-255 characters", required=False),
]
Prefer = Annotated[
    str | None, HeaderParameter(name="Prefer", description="wait=N (N <= 30 s)", required=False)
]
_ACCEPTED = "202: the Operation (Location names it); 201/200 with Prefer: wait when it ended in time"


class ClaimController(Controller):
    path = "/v1/tenants/{tenant:str}/claims"
    tags = ["claims"]

    @post(
        "/",
        operation_id="submitClaim",
        status_code=202,
        summary="Submit a claim",
        description=_ACCEPTED,
        responses=CLAIM_CREATE_RESPONSES,
        dto=StrictBody[ClaimCreate],
        return_dto=None,
        opt={"requires": "claims:write"},
    )
    async def submit_claim(
        self,
        tenant: FromPath[str],
        data: Annotated[ClaimCreate, Body(examples=[EXAMPLE_CLAIM])],  # decoded strictly: StrictBody
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
        prefer: Prefer = None,
    ) -> Response[Operation]:
        require_tenant(principal, tenant, "claims:write")
        claim = data
        return await answer_write(  # type: ignore[return-value]
            request, services, tenant, lambda idem: services.writes.submit_claim(tenant, claim, idem), claim
        )

    @get("/", operation_id="listClaims", summary="List the tenant's claims", responses=READ_PROBLEMS)
    async def list_claims(
        self,
        tenant: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        status: FromQuery[ClaimStatus | None] = None,
        agency: FromQuery[str | None] = None,
        client_reference: FromQuery[str | None] = None,
        created_after: FromQuery[dt.datetime | None] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[Claim]:
        require_tenant(principal, tenant, "claims:read")
        filters: dict[str, object] = {
            "status": status,
            "agency": agency,
            "client_reference": client_reference,
            "created_after": created_after,
        }
        return await services.reads.list_claims(tenant, filters, cursor, limit)

    @get(
        "/{claim_id:str}",
        operation_id="getClaim",
        summary="One claim, from the gateway's claim ledger",
        description="Answered from the claim ledger (no agency call); `synced_at` says when it last "
        "agreed with the agency. `refresh=true` reads the agency first (spends its rate budget; "
        "none left: 503 agency_rate_limited with Retry-After).",
        responses=READ_PROBLEMS,
    )
    async def get_claim(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        expand: Annotated[str | None, QueryParameter(description="agency_data")] = None,
        refresh: Annotated[
            bool, QueryParameter(description="read the agency first (spends its rate budget)")
        ] = False,
    ) -> Claim:
        require_tenant(principal, tenant, "claims:read")
        return await services.reads.get_claim(
            tenant, claim_id, expand_agency_data=expand == "agency_data", refresh=refresh
        )

    @delete(
        "/{claim_id:str}/personal-data",
        operation_id="erasePersonalData",
        status_code=204,
        summary="Erase the debtor's personal data",
        description="Admin key, or a tenant key with claims:erase. Names, birth date, email, phone and "
        "address are erased from everything the gateway holds for the claim; ids, references and "
        "amounts stay; the audit records who erased what. The agency keeps its own copy.",
        responses=READ_PROBLEMS,
    )
    async def erase_personal_data(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> None:
        if principal.tenant is None:
            require_admin(principal)
        else:
            require_tenant(principal, tenant, "claims:erase")
        await PrivacyService(services.runtime).erase(
            tenant, claim_id, actor=principal.name, by_key=principal.key_id, why="request"
        )

    @get(
        "/{claim_id:str}/invoices",
        operation_id="listInvoices",
        summary="The claim's invoices",
        responses=READ_PROBLEMS,
    )
    async def list_invoices(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[Invoice]:
        require_tenant(principal, tenant, "claims:read")
        return await services.reads.list_invoices(tenant, claim_id, cursor, limit)

    @get(
        "/{claim_id:str}/payments",
        operation_id="listPayments",
        summary="Payments on the claim",
        responses=READ_PROBLEMS,
    )
    async def list_payments(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        principal: PrincipalDep,
        services: ServicesDep,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Page[Payment]:
        require_tenant(principal, tenant, "claims:read")
        return await services.reads.list_payments(tenant, claim_id, cursor, limit)

    @post(
        "/{claim_id:str}/payments",
        operation_id="reportPayment",
        status_code=202,
        summary="Report a payment the creditor received",
        description=_ACCEPTED,
        responses=FOLLOW_UP_RESPONSES,
        dto=StrictBody[PaymentReport],
        return_dto=None,
        opt={"requires": "claims:write"},
    )
    async def report_payment(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        data: JSONBody[PaymentReport],
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
        prefer: Prefer = None,
    ) -> Response[Operation]:
        require_tenant(principal, tenant, "claims:write")
        body = data
        return await _follow_up(request, services, tenant, claim_id, "payment.report", body)

    @post(
        "/{claim_id:str}/payments/{payment_id:str}/reversal",
        operation_id="reversePayment",
        status_code=202,
        summary="Reverse a reported payment in full",
        description=_ACCEPTED,
        responses=FOLLOW_UP_RESPONSES,
    )
    async def reverse_payment(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        payment_id: FromPath[str],
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        data: JSONBody[PaymentReversal | None] = None,
        idempotency_key: IdempotencyKey = None,
        prefer: Prefer = None,
    ) -> Response[Operation]:
        require_tenant(principal, tenant, "claims:write")
        if not _PAYMENT_ID.match(payment_id):
            raise BadRequest(
                "payment_id in the path: 1-64 printable ASCII characters, no spaces (as reported)",
                code="invalid_parameter",
            )
        body = await strict_body(request, PaymentReversal, optional=True) or PaymentReversal()
        return await _follow_up(
            request, services, tenant, claim_id, "payment.reverse", body, target=payment_id
        )

    @post(
        "/{claim_id:str}/credit-notes",
        operation_id="createCreditNote",
        status_code=202,
        summary="Credit an invoice",
        description=_ACCEPTED,
        responses=FOLLOW_UP_RESPONSES,
        dto=StrictBody[CreditNoteCreate],
        return_dto=None,
        opt={"requires": "claims:write"},
    )
    async def create_credit_note(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        data: JSONBody[CreditNoteCreate],
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
        prefer: Prefer = None,
    ) -> Response[Operation]:
        require_tenant(principal, tenant, "claims:write")
        body = data
        return await _follow_up(request, services, tenant, claim_id, "credit_note.create", body)

    @post(
        "/{claim_id:str}/withdrawal",
        operation_id="withdrawClaim",
        status_code=202,
        summary="Withdraw the claim or some of its invoices",
        description=_ACCEPTED,
        responses=FOLLOW_UP_RESPONSES,
        dto=StrictBody[Withdrawal],
        return_dto=None,
        opt={"requires": "claims:write"},
    )
    async def withdraw(
        self,
        tenant: FromPath[str],
        claim_id: FromPath[str],
        data: JSONBody[Withdrawal],
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        idempotency_key: IdempotencyKey = None,
        prefer: Prefer = None,
    ) -> Response[Operation]:
        require_tenant(principal, tenant, "claims:write")
        body = data
        return await _follow_up(request, services, tenant, claim_id, "claim.withdraw", body)


async def _follow_up(
    request: Request[Any, Any, Any],
    services: Services,
    tenant: str,
    claim_id: str,
    kind: OperationKind,
    body: PaymentReport | PaymentReversal | CreditNoteCreate | Withdrawal | None,
    target: str | None = None,
) -> Response[Operation]:
    """A write on an existing claim: to the claim's pinned agency, as an operation."""
    assert body is not None  # strict_body returns None only for an optional, empty body
    return await answer_write(  # type: ignore[return-value]
        request,
        services,
        tenant,
        lambda idem: services.writes.follow_up(tenant, claim_id, kind, body, idem, target=target),
        body,
    )
