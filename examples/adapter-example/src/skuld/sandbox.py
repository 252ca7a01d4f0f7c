"""A simulator of Skuld (docs/skuld-api.md), a small Litestar app with the fault switches and
ledger every sandbox shares (`PUT /_sandbox/faults`, `GET /_sandbox/ledger`).

As Skuld does:
- bearer API key (the demo key is DEMO_API_KEY), else 401; errors `{"error", "detail"}`;
- amounts are decimal strings in major units: a JSON number, "12,50", "1e3" or more decimals
  than the currency has is 400; currencies other than EUR, SEK, NOK, DKK are 422;
- `POST /cases` answers 202 RECEIVED and registers asynchronously; a repeated `clientCaseId`
  answers 409 duplicate_case with the caseId; a repeated `clientTransactionId` on a case
  answers 409 duplicate_transaction with the transactionId;
- offset pagination, `limit` 1-50, no totals; transactions signed from the debtor's side;
- 120 requests per minute per API key, then 429 with `Retry-After`.

Readings where the document is silent (the adapter takes the same ones):
- "Skuld then validates the case": here the first read of a new case (`GET /cases/{id}`) still
  answers RECEIVED and validation is done before the next, so a poller sees both states and a
  test never waits for a clock. It ends REGISTERED, or REFUSED after `POST
  /_sandbox/skuld/refuse-next {"reason": ...}` (the next case registered is refused);
- a direct payment larger than what is outstanding is 422; withdrawing a withdrawn case again
  answers 200 and changes nothing; writes to a case not REGISTERED (or IN_COLLECTION) are 422.

Sandbox-only: `POST /_sandbox/skuld/cases/{caseId}/transactions` posts a transaction the way
Skuld's own staff would (a PAYMENT it collected, a FEE, ...), signed as Skuld lists it.
"""

from __future__ import annotations

import collections
import itertools
import time
from typing import Any, TypeVar

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from adapters.sdk import MoneyError, SandboxState, from_major, to_major, with_faults

from skuld.wire import (
    SKULD_CURRENCIES,
    SKULD_MAX_LIMIT,
    SkuldCaseCreate,
    SkuldDirectPayment,
    SkuldWithdrawal,
)

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_KEY_ENV",
    "SkuldSandbox",
    "agency_config",
    "create_app",
    "demo_credentials",
    "demo_secrets",
]

T = TypeVar("T")

DEMO_API_KEY = "skuld-demo-key"
DEMO_API_KEY_ENV = "SKULD_DEMO_API_KEY"
#: "120 requests per minute per API key".
RATE_LIMIT = (120, 60.0)

AnyRequest = Request[Any, Any, Any]
_WRITABLE = ("REGISTERED", "IN_COLLECTION")


class _SkuldError(Exception):
    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.body = {"error": error, "detail": detail, **extra}


class _Transaction(msgspec.Struct, kw_only=True):
    """A sandbox-only posting: a transaction as Skuld's staff would book it."""

    type: str
    amount: str
    booking_date: str = msgspec.field(name="bookingDate")
    invoice_no: str | None = msgspec.field(default=None, name="invoiceNo")


class SkuldSandbox:
    """Skuld's state. One event loop serves it, so no locks."""

    def __init__(self) -> None:
        self.kit = SandboxState()
        self.cases: dict[str, dict[str, Any]] = {}
        self.by_client_case_id: dict[str, str] = {}
        self.refuse_next: str | None = None
        self._ids = itertools.count(1)
        self._calls: dict[str, collections.deque[float]] = {}

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def authorize(self, request: AnyRequest) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != DEMO_API_KEY:
            raise _SkuldError(401, "unauthorized", "missing or unknown API key")
        count, period = RATE_LIMIT
        calls = self._calls.setdefault(token, collections.deque())
        now = time.monotonic()
        while calls and calls[0] <= now - period:
            calls.popleft()
        if len(calls) >= count:
            retry_after = max(1, int(calls[0] + period - now) + 1)
            raise _SkuldError(429, "rate_limited", f"{count} requests per minute", retry_after=retry_after)
        calls.append(now)

    def case(self, case_id: str) -> dict[str, Any]:
        case = self.cases.get(case_id)
        if case is None:
            raise _SkuldError(404, "not_found", f"case {case_id} not found")
        return case

    def writable(self, case_id: str) -> dict[str, Any]:
        case = self.case(case_id)
        if case["state"] not in _WRITABLE:
            raise _SkuldError(422, "case_not_open", f"case {case_id} is {case['state']}")
        return case

    def view(self, case: dict[str, Any]) -> dict[str, Any]:
        owed = sum(invoice["outstanding"] + invoice["fees"] for invoice in case["invoices"])
        return {
            "caseId": case["caseId"],
            "clientCaseId": case["clientCaseId"],
            "clientReference": case["clientReference"],
            "currency": case["currency"],
            "state": case["state"],
            "refusalReason": case["refusalReason"],
            "debtor": case["debtor"],
            "balance": _text(owed, case["currency"]),
        }


def _text(minor: int, currency: str) -> str:
    return f"{to_major(minor, currency):f}"


def _amount(value: str, currency: str) -> int:
    try:
        return from_major(value, currency)
    except MoneyError as exc:
        raise _SkuldError(400, "invalid_amount", str(exc)) from None


async def _decode(request: AnyRequest, type_: type[T]) -> T:
    """Strict, as Skuld validates: no coercion, no unknown fields."""
    try:
        return msgspec.json.decode(await request.body(), type=type_, strict=True)
    except msgspec.ValidationError as exc:
        raise _SkuldError(400, "invalid_body", str(exc)) from None
    except msgspec.DecodeError:
        raise _SkuldError(400, "invalid_body", "malformed JSON") from None


def _window(request: AnyRequest) -> tuple[int, int]:
    try:
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        raise _SkuldError(400, "invalid_parameter", "offset and limit are integers") from None
    if offset < 0 or not 1 <= limit <= SKULD_MAX_LIMIT:
        raise _SkuldError(400, "invalid_parameter", f"offset >= 0 and limit 1-{SKULD_MAX_LIMIT}")
    return offset, limit


def _error_response(request: AnyRequest, exc: Exception) -> Response[Any]:
    if isinstance(exc, _SkuldError):
        headers = {"Retry-After": str(exc.body["retry_after"])} if exc.status == 429 else None
        return Response(exc.body, status_code=exc.status, headers=headers)
    if isinstance(exc, HTTPException):
        return Response({"error": "http", "detail": str(exc.detail)}, status_code=exc.status_code)
    return Response({"error": "internal", "detail": "internal error"}, status_code=500)  # pragma: no cover


def create_app(sandbox: SkuldSandbox | None = None) -> Any:
    """The sandbox as an ASGI app (a fresh Skuld, or the given state)."""
    box = sandbox or SkuldSandbox()

    @post("/api/v2/cases", status_code=202)
    async def register_case(request: AnyRequest) -> Any:
        box.authorize(request)
        body = await _decode(request, SkuldCaseCreate)
        known = box.by_client_case_id.get(body.client_case_id)
        if known is not None:
            raise _SkuldError(409, "duplicate_case", "clientCaseId already used", caseId=known)
        if body.currency not in SKULD_CURRENCIES:
            raise _SkuldError(422, "unsupported_currency", f"Skuld does not take {body.currency}")
        numbers = [invoice.number for invoice in body.invoices]
        if not numbers or len(set(numbers)) != len(numbers):
            raise _SkuldError(422, "invalid_invoices", "invoices must be present with unique invoiceNo")
        invoices = []
        for invoice in body.invoices:
            principal = _amount(invoice.principal, body.currency)
            fees = _amount(invoice.fees, body.currency)
            if principal <= 0 or fees < 0:
                raise _SkuldError(422, "invalid_amount", "principal > 0 and fees >= 0")
            invoices.append(
                {
                    "invoiceNo": invoice.number,
                    "issueDate": invoice.issued_on.isoformat(),
                    "dueDate": invoice.due_on.isoformat(),
                    "principal": principal,
                    "fees": fees,
                    "outstanding": principal,
                }
            )
        case_id = box.next_id("SK")
        box.cases[case_id] = {
            "caseId": case_id,
            "clientCaseId": body.client_case_id,
            "clientReference": body.client_reference,
            "currency": body.currency,
            "state": "RECEIVED",
            "refusalReason": None,
            "debtor": {"customerNo": body.debtor.customer_no, "name": body.debtor.name},
            "invoices": invoices,
            "transactions": [],
            "reads": 0,
            "refuse": box.refuse_next,
        }
        box.refuse_next = None
        box.by_client_case_id[body.client_case_id] = case_id
        box.kit.record("case.register", body.client_case_id, msgspec.to_builtins(body))
        return {"caseId": case_id, "state": "RECEIVED"}

    @get("/api/v2/cases/{case_id:str}")
    async def get_case(request: AnyRequest, case_id: FromPath[str]) -> Any:
        box.authorize(request)
        case = box.case(case_id)
        view = box.view(case)
        if case["state"] == "RECEIVED" and case["reads"] > 0:  # validated between two reads
            case["state"] = "REFUSED" if case["refuse"] else "REGISTERED"
            case["refusalReason"] = case["refuse"]
            view = box.view(case)
        case["reads"] += 1
        return view

    @get("/api/v2/cases/{case_id:str}/invoices")
    async def list_invoices(request: AnyRequest, case_id: FromPath[str]) -> Any:
        box.authorize(request)
        case = box.case(case_id)
        offset, limit = _window(request)
        currency = case["currency"]
        items = [
            {
                **invoice,
                "principal": _text(invoice["principal"], currency),
                "fees": _text(invoice["fees"], currency),
                "outstanding": _text(invoice["outstanding"], currency),
            }
            for invoice in case["invoices"][offset : offset + limit]
        ]
        return {"items": items, "offset": offset, "limit": limit}

    @get("/api/v2/cases/{case_id:str}/transactions")
    async def list_transactions(request: AnyRequest, case_id: FromPath[str]) -> Any:
        box.authorize(request)
        case = box.case(case_id)
        offset, limit = _window(request)
        items = [
            {**transaction, "amount": _text(transaction["amount"], case["currency"])}
            for transaction in case["transactions"][offset : offset + limit]
        ]
        return {"items": items, "offset": offset, "limit": limit}

    @post("/api/v2/cases/{case_id:str}/direct-payments", status_code=201)
    async def add_direct_payment(request: AnyRequest, case_id: FromPath[str]) -> Any:
        box.authorize(request)
        case = box.writable(case_id)
        body = await _decode(request, SkuldDirectPayment)
        for existing in case["transactions"]:
            if existing["clientTransactionId"] == body.client_transaction_id:
                raise _SkuldError(
                    409,
                    "duplicate_transaction",
                    "clientTransactionId already used on this case",
                    transactionId=existing["transactionId"],
                )
        paid = _amount(body.amount, case["currency"])
        if paid <= 0:
            raise _SkuldError(422, "invalid_amount", "a direct payment's amount is positive")
        targets = [i for i in case["invoices"] if body.invoice_no in (None, i["invoiceNo"])]
        if not targets:
            raise _SkuldError(422, "unknown_invoice", f"no invoice {body.invoice_no} on case {case_id}")
        if paid > sum(invoice["outstanding"] for invoice in targets):
            raise _SkuldError(422, "overpayment", "the payment is larger than what is outstanding")
        left = paid
        for invoice in targets:  # the given invoice, or the oldest first
            take = min(left, invoice["outstanding"])
            invoice["outstanding"] -= take
            left -= take
        transaction = {
            "transactionId": box.next_id("TX"),
            "clientTransactionId": body.client_transaction_id,
            "type": "DIRECT_PAYMENT",
            "amount": -paid,  # listed from the debtor's side: a payment lowers the debt
            "bookingDate": body.payment_date.isoformat(),
            "invoiceNo": body.invoice_no,
        }
        case["transactions"].append(transaction)
        box.kit.record("direct_payment", body.client_transaction_id, msgspec.to_builtins(body))
        return {**transaction, "amount": _text(-paid, case["currency"])}

    @post("/api/v2/cases/{case_id:str}/withdraw", status_code=200)
    async def withdraw(request: AnyRequest, case_id: FromPath[str]) -> Any:
        box.authorize(request)
        case = box.case(case_id)
        body = await _decode(request, SkuldWithdrawal)
        if case["state"] != "WITHDRAWN":
            box.writable(case_id)
            case["state"] = "WITHDRAWN"
            box.kit.record("case.withdraw", case_id, msgspec.to_builtins(body))
        return box.view(case)

    @post("/_sandbox/skuld/refuse-next", status_code=204)
    async def refuse_next(request: AnyRequest) -> None:
        reason = msgspec.json.decode(await request.body(), type=dict[str, str]).get("reason")
        box.refuse_next = reason or "refused by the sandbox"

    @post("/_sandbox/skuld/cases/{case_id:str}/transactions", status_code=201)
    async def post_transaction(request: AnyRequest, case_id: FromPath[str]) -> Any:
        case = box.case(case_id)
        body = await _decode(request, _Transaction)
        transaction = {
            "transactionId": box.next_id("TX"),
            "clientTransactionId": None,
            "type": body.type,
            "amount": _amount(body.amount, case["currency"]),
            "bookingDate": body.booking_date,
            "invoiceNo": body.invoice_no,
        }
        case["transactions"].append(transaction)
        return {**transaction, "amount": body.amount}

    app: Any = Litestar(  # an ASGI app; Litestar types its scope more narrowly than the kit
        route_handlers=[
            register_case,
            get_case,
            list_invoices,
            list_transactions,
            add_direct_payment,
            withdraw,
            refuse_next,
            post_transaction,
            *box.kit.routes(),
        ],
        exception_handlers={_SkuldError: _error_response, HTTPException: _error_response},
        openapi_config=None,
    )
    return with_faults(app, box.kit)


def agency_config(base_url: str) -> dict[str, Any]:
    """The `[agencies.skuld]` section pointing at a running sandbox."""
    return {"base_url": base_url}


def demo_credentials() -> dict[str, Any]:
    """A demo tenant's `[tenants.<t>.credentials.skuld]` section (the key by env reference)."""
    return {"account_id": "demo", "api_key_env": DEMO_API_KEY_ENV}


def demo_secrets() -> dict[str, str]:
    return {DEMO_API_KEY_ENV: DEMO_API_KEY}
