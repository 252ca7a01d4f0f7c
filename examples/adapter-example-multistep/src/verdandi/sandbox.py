"""A simulator of Verdandi (docs/verdandi-api.md), a small Litestar app with the fault switches and
ledger every sandbox shares (`PUT /_sandbox/faults`, `GET /_sandbox/ledger`).

As Verdandi does:
- bearer API key (the demo key is DEMO_API_KEY), else 401; errors `{"code", "message"}`;
- amounts are `{"value": "12.50"}`: a JSON number, "12,50", "1e3", a sign or more decimals
  than the currency has is 400; currencies other than EUR, CHF are 422;
- **no idempotency key**: every POST creates, also a repeat; every list filters by
  `externalId`; one claim per invoice, released for review in a release;
- page numbers from 1, `page_size` 1-25, `count/next/previous`, a page past the end is 404;
- 300 requests per minute per API key, then 429 with `Retry-After`.

Readings where the document is silent (the adapter takes the same ones):
- "reviewed by hand within five working days": here the first read of a new release
  (`GET /v1/releases/{id}`) still answers IN_REVIEW and the review is done before the next, so a
  poller sees both states and a test never waits for a clock. Each claim ends OPEN, or REFUSED
  when its invoice number was named to `POST /_sandbox/verdandi/refuse-invoice
  {"invoice_number": ..., "reason": ...}` (the declared `SandboxSpec.refuse_invoice_path`: the
  conformance kit uses it to check partial acceptance);
- a payment larger than what is outstanding is 422; payments and withdrawals need an OPEN claim.

Sandbox-only: `POST /_sandbox/verdandi/claims/{id}/payments {"type": "COLLECTED" | "REVERSAL",
"amount": "10.00", "bookedOn": ...}` books a payment the way Verdandi's staff would.
"""

from __future__ import annotations

import collections
import itertools
import time
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from adapters.sdk import MoneyError, SandboxState, from_major, to_major, with_faults

from verdandi.wire import (
    VERDANDI_CURRENCIES,
    VERDANDI_MAX_PAGE_SIZE,
    VerdandiAmount,
    VerdandiClaimCreate,
    VerdandiDebtorCreate,
    VerdandiPaymentCreate,
    VerdandiReleaseCreate,
    VerdandiWithdrawal,
)

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_KEY_ENV",
    "REFUSE_INVOICE_PATH",
    "VerdandiSandbox",
    "agency_config",
    "create_app",
    "demo_credentials",
    "demo_secrets",
]

T = TypeVar("T")

DEMO_API_KEY = "verdandi-demo-key"
DEMO_API_KEY_ENV = "VERDANDI_DEMO_API_KEY"
#: "300 requests per minute per API key".
RATE_LIMIT = (300, 60.0)
#: The sandbox control that makes the review refuse one invoice (and accept the others).
REFUSE_INVOICE_PATH = "/_sandbox/verdandi/refuse-invoice"

AnyRequest = Request[Any, Any, Any]


class _VerdandiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message, **extra}


class _Refusal(msgspec.Struct, kw_only=True):
    invoice_number: str
    reason: str = "refused by the sandbox"


class _StaffPayment(msgspec.Struct, kw_only=True, rename="camel"):
    type: str
    amount: str
    booked_on: str


class VerdandiSandbox:
    """Verdandi's state. One event loop serves it, so no locks."""

    def __init__(self) -> None:
        self.kit = SandboxState()
        self.debtors: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.releases: dict[str, dict[str, Any]] = {}
        self.payments: list[dict[str, Any]] = []
        #: invoice number → refusal reason, for the next reviews.
        self.refuse: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._calls: dict[str, collections.deque[float]] = {}

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def authorize(self, request: AnyRequest) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != DEMO_API_KEY:
            raise _VerdandiError(401, "unauthorized", "missing or unknown API key")
        count, period = RATE_LIMIT
        calls = self._calls.setdefault(token, collections.deque())
        now = time.monotonic()
        while calls and calls[0] <= now - period:
            calls.popleft()
        if len(calls) >= count:
            retry_after = max(1, int(calls[0] + period - now) + 1)
            raise _VerdandiError(429, "rate_limited", f"{count} requests per minute", retry_after=retry_after)
        calls.append(now)

    def claim(self, claim_id: str) -> dict[str, Any]:
        claim = self.claims.get(claim_id)
        if claim is None:
            raise _VerdandiError(404, "not_found", f"claim {claim_id} not found")
        return claim

    def claim_view(self, claim: dict[str, Any]) -> dict[str, Any]:
        currency = claim["currency"]
        return {
            **{k: v for k, v in claim.items() if k not in ("principal", "costs", "outstanding")},
            "principal": _amount_text(claim["principal"], currency),
            "costs": _amount_text(claim["costs"], currency),
            "outstanding": _amount_text(claim["outstanding"], currency),
        }

    def release_view(self, release: dict[str, Any]) -> dict[str, Any]:
        debtor = self.debtors[release["debtorId"]]
        return {
            "id": release["id"],
            "externalId": release["externalId"],
            "state": release["state"],
            "claimIds": release["claimIds"],
            "debtor": {
                "id": debtor["id"],
                "customerNumber": debtor["customerNumber"],
                "name": debtor["name"],
            },
        }

    def review(self, release: dict[str, Any]) -> None:
        """Verdandi's staff decide: each claim OPEN, or REFUSED where told to refuse its invoice."""
        for claim_id in release["claimIds"]:
            claim = self.claims[claim_id]
            reason = self.refuse.get(claim["invoiceNumber"])
            if reason is None:
                claim["state"] = "OPEN"
            else:
                claim["state"] = "REFUSED"
                claim["refusalReason"] = reason
                claim["outstanding"] = 0
        release["state"] = "DECIDED"


def _amount_text(minor: int, currency: str) -> dict[str, str]:
    return {"value": f"{to_major(minor, currency):f}"}


def _amount(amount: VerdandiAmount, currency: str) -> int:
    try:
        return from_major(amount.value, currency)
    except MoneyError as exc:
        raise _VerdandiError(400, "invalid_amount", str(exc)) from None


async def _decode(request: AnyRequest, type_: type[T]) -> T:
    """Strict, as Verdandi validates: no coercion, no unknown fields."""
    try:
        return msgspec.json.decode(await request.body(), type=type_, strict=True)
    except msgspec.ValidationError as exc:
        raise _VerdandiError(400, "invalid_body", str(exc)) from None
    except msgspec.DecodeError:
        raise _VerdandiError(400, "invalid_body", "malformed JSON") from None


def _page(request: AnyRequest, items: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"count", "next", "previous", "results"}` for `?page=&page_size=`; 404 past the end."""
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("page_size", "10"))
    except ValueError:
        raise _VerdandiError(400, "invalid_parameter", "page and page_size are integers") from None
    if page < 1 or not 1 <= size <= VERDANDI_MAX_PAGE_SIZE:
        raise _VerdandiError(400, "invalid_parameter", f"page >= 1 and page_size 1-{VERDANDI_MAX_PAGE_SIZE}")
    start = (page - 1) * size
    if page > 1 and start >= len(items):
        raise _VerdandiError(404, "not_found", f"no page {page}")

    def link(number: int) -> str:
        query = {**dict(request.query_params), "page": str(number), "page_size": str(size)}
        return f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(query)}"

    return {
        "count": len(items),
        "next": link(page + 1) if start + size < len(items) else None,
        "previous": link(page - 1) if page > 1 else None,
        "results": items[start : start + size],
    }


def _filtered(request: AnyRequest, items: list[dict[str, Any]], **fields: str) -> list[dict[str, Any]]:
    """Items whose fields equal the query parameters named (`externalId`, `release`, ...)."""
    for parameter, field in fields.items():
        wanted = request.query_params.get(parameter)
        if wanted is not None:
            items = [item for item in items if item.get(field) == wanted]
    return items


def _error_response(request: AnyRequest, exc: Exception) -> Response[Any]:
    if isinstance(exc, _VerdandiError):
        headers = {"Retry-After": str(exc.body["retry_after"])} if exc.status == 429 else None
        return Response(exc.body, status_code=exc.status, headers=headers)
    if isinstance(exc, HTTPException):
        return Response({"code": "http", "message": str(exc.detail)}, status_code=exc.status_code)
    return Response({"code": "internal", "message": "internal error"}, status_code=500)  # pragma: no cover


def create_app(sandbox: VerdandiSandbox | None = None) -> Any:
    """The sandbox as an ASGI app (a fresh Verdandi, or the given state)."""
    box = sandbox or VerdandiSandbox()

    @post("/v1/debtors", status_code=201)
    async def create_debtor(request: AnyRequest) -> Any:
        box.authorize(request)
        body = await _decode(request, VerdandiDebtorCreate)
        debtor = {"id": box.next_id("D"), **msgspec.to_builtins(body)}
        box.debtors[debtor["id"]] = debtor
        box.kit.record("debtor.create", body.external_id, msgspec.to_builtins(body))
        return debtor

    @get("/v1/debtors")
    async def list_debtors(request: AnyRequest) -> Any:
        box.authorize(request)
        return _page(request, _filtered(request, list(box.debtors.values()), externalId="externalId"))

    @post("/v1/claims", status_code=201)
    async def create_claim(request: AnyRequest) -> Any:
        box.authorize(request)
        body = await _decode(request, VerdandiClaimCreate)
        if body.debtor_id not in box.debtors:
            raise _VerdandiError(422, "unknown_debtor", f"no debtor {body.debtor_id}")
        if body.currency not in VERDANDI_CURRENCIES:
            raise _VerdandiError(422, "unsupported_currency", f"Verdandi does not take {body.currency}")
        principal = _amount(body.principal, body.currency)
        costs = _amount(body.costs, body.currency) if body.costs else 0
        if principal <= 0:
            raise _VerdandiError(422, "invalid_amount", "principal > 0")
        claim: dict[str, Any] = {
            "id": box.next_id("C"),
            "externalId": body.external_id,
            "debtorId": body.debtor_id,
            "releaseId": None,
            "currency": body.currency,
            "invoiceNumber": body.invoice_number,
            "invoiceDate": body.invoice_date.isoformat(),
            "dueDate": body.due_date.isoformat(),
            "reference": body.reference,
            "principal": principal,
            "costs": costs,
            "outstanding": principal,
            "state": "DRAFT",
            "refusalReason": None,
        }
        box.claims[claim["id"]] = claim
        box.kit.record("claim.create", body.external_id, msgspec.to_builtins(body))
        return box.claim_view(claim)

    @get("/v1/claims")
    async def list_claims(request: AnyRequest) -> Any:
        box.authorize(request)
        claims = _filtered(request, list(box.claims.values()), externalId="externalId", release="releaseId")
        page = _page(request, claims)
        return {**page, "results": [box.claim_view(claim) for claim in page["results"]]}

    @get("/v1/claims/{claim_id:str}")
    async def get_claim(request: AnyRequest, claim_id: FromPath[str]) -> Any:
        box.authorize(request)
        return box.claim_view(box.claim(claim_id))

    @post("/v1/releases", status_code=201)
    async def create_release(request: AnyRequest) -> Any:
        box.authorize(request)
        body = await _decode(request, VerdandiReleaseCreate)
        claims = [box.claims.get(claim_id) for claim_id in body.claim_ids]
        if not claims or None in claims:
            raise _VerdandiError(422, "unknown_claim", "every claimId must name a claim")
        held = [claim for claim in claims if claim is not None]
        if any(claim["state"] != "DRAFT" for claim in held) or len({c["debtorId"] for c in held}) != 1:
            raise _VerdandiError(422, "invalid_release", "claims must be DRAFT and of one debtor")
        release = {
            "id": box.next_id("R"),
            "externalId": body.external_id,
            "state": "IN_REVIEW",
            "claimIds": list(body.claim_ids),
            "debtorId": held[0]["debtorId"],
            "reads": 0,
        }
        for claim in held:
            claim["state"] = "IN_REVIEW"
            claim["releaseId"] = release["id"]
        box.releases[release["id"]] = release
        box.kit.record("release.create", body.external_id, msgspec.to_builtins(body))
        return box.release_view(release)

    @get("/v1/releases")
    async def list_releases(request: AnyRequest) -> Any:
        box.authorize(request)
        page = _page(request, _filtered(request, list(box.releases.values()), externalId="externalId"))
        return {**page, "results": [box.release_view(release) for release in page["results"]]}

    @get("/v1/releases/{release_id:str}")
    async def get_release(request: AnyRequest, release_id: FromPath[str]) -> Any:
        box.authorize(request)
        release = box.releases.get(release_id)
        if release is None:
            raise _VerdandiError(404, "not_found", f"release {release_id} not found")
        if release["state"] == "IN_REVIEW" and release["reads"] > 0:  # reviewed between two reads
            box.review(release)
        release["reads"] += 1
        return box.release_view(release)

    @post("/v1/claims/{claim_id:str}/payments", status_code=201)
    async def create_payment(request: AnyRequest, claim_id: FromPath[str]) -> Any:
        box.authorize(request)
        claim = box.claim(claim_id)
        body = await _decode(request, VerdandiPaymentCreate)
        if claim["state"] != "OPEN":
            raise _VerdandiError(422, "claim_not_open", f"claim {claim_id} is {claim['state']}")
        paid = _amount(body.amount, claim["currency"])
        if paid <= 0 or paid > claim["outstanding"]:
            raise _VerdandiError(422, "invalid_amount", "0 < amount <= outstanding")
        claim["outstanding"] -= paid
        payment = {
            "id": box.next_id("PM"),
            "externalId": body.external_id,
            "claimId": claim_id,
            "releaseId": claim["releaseId"],
            "invoiceNumber": claim["invoiceNumber"],
            "type": "DIRECT",
            "amount": paid,
            "bookedOn": body.paid_on.isoformat(),
        }
        box.payments.append(payment)
        box.kit.record("payment.create", body.external_id, msgspec.to_builtins(body))
        return _payment_view(payment, claim["currency"])

    @get("/v1/payments")
    async def list_payments(request: AnyRequest) -> Any:
        box.authorize(request)
        payments = _filtered(request, list(box.payments), externalId="externalId", release="releaseId")
        page = _page(request, payments)
        return {
            **page,
            "results": [_payment_view(p, box.claims[p["claimId"]]["currency"]) for p in page["results"]],
        }

    @post("/v1/claims/{claim_id:str}/withdrawal", status_code=200)
    async def withdraw(request: AnyRequest, claim_id: FromPath[str]) -> Any:
        box.authorize(request)
        claim = box.claim(claim_id)
        body = await _decode(request, VerdandiWithdrawal)
        if claim["state"] != "WITHDRAWN":
            if claim["state"] != "OPEN":
                raise _VerdandiError(422, "claim_not_open", f"claim {claim_id} is {claim['state']}")
            claim["state"] = "WITHDRAWN"
            box.kit.record("claim.withdraw", claim_id, msgspec.to_builtins(body))
        return box.claim_view(claim)

    @post(REFUSE_INVOICE_PATH, status_code=204)
    async def refuse_invoice(request: AnyRequest) -> None:
        refusal = msgspec.json.decode(await request.body(), type=_Refusal)
        box.refuse[refusal.invoice_number] = refusal.reason

    @post("/_sandbox/verdandi/claims/{claim_id:str}/payments", status_code=201)
    async def staff_payment(request: AnyRequest, claim_id: FromPath[str]) -> Any:
        claim = box.claim(claim_id)
        body = msgspec.json.decode(await request.body(), type=_StaffPayment)
        amount = _amount(VerdandiAmount(value=body.amount), claim["currency"])
        claim["outstanding"] += amount if body.type == "REVERSAL" else -amount
        payment = {
            "id": box.next_id("PM"),
            "externalId": None,
            "claimId": claim_id,
            "releaseId": claim["releaseId"],
            "invoiceNumber": claim["invoiceNumber"],
            "type": body.type,
            "amount": amount,
            "bookedOn": body.booked_on,
        }
        box.payments.append(payment)
        return _payment_view(payment, claim["currency"])

    app: Any = Litestar(  # an ASGI app; Litestar types its scope more narrowly than the kit
        route_handlers=[
            create_debtor,
            list_debtors,
            create_claim,
            list_claims,
            get_claim,
            create_release,
            list_releases,
            get_release,
            create_payment,
            list_payments,
            withdraw,
            refuse_invoice,
            staff_payment,
            *box.kit.routes(),
        ],
        exception_handlers={_VerdandiError: _error_response, HTTPException: _error_response},
        openapi_config=None,
    )
    return with_faults(app, box.kit)


def _payment_view(payment: dict[str, Any], currency: str) -> dict[str, Any]:
    view = {k: v for k, v in payment.items() if k != "releaseId"}
    return {**view, "amount": _amount_text(payment["amount"], currency)}


def agency_config(base_url: str) -> dict[str, Any]:
    """The `[agencies.verdandi]` section pointing at a running sandbox."""
    return {"base_url": base_url}


def demo_credentials() -> dict[str, Any]:
    """A demo tenant's `[tenants.<t>.credentials.verdandi]` section (the key by env reference)."""
    return {"account_id": "demo", "api_key_env": DEMO_API_KEY_ENV}


def demo_secrets() -> dict[str, str]:
    return {DEMO_API_KEY_ENV: DEMO_API_KEY}
