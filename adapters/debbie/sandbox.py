"""A faithful Debbie simulator (Litestar), with the fault switches and ledger every sandbox shares.

What it does as Debbie does (`debbie-case-vouchers.txt`, notes "Debbie"):
- bearer token per tenant, every path under `/v1/{tenantId}/`;
- amounts are JSON integers in minor units: `12.5`, `12.0` or `"12"` is refused with 400
  (bodies are decoded strictly here, not with Litestar's lenient coercion);
- currency enum DKK SEK NOK USD EUR GBP CHF; a voucher's currency must be its case's;
- sign convention: negative = debt, positive = credit. Interest and cost vouchers must be
  negative; principal may be either (a positive one is a credit note against principal);
  transactions may be either (a negative one is a reversal); zero is refused;
- customers (by id, by reference id), cases (`POST` synchronous → `201 {id, caseSeqId}`, 0-based
  pages with a `meta` and no totals, status `PATCH`), case vouchers (`POST`, `GET` with
  `pointInTime`), each voucher's `category` and `label` taken from its voucher type;
- a case's `balance` (reading: the signed sum of its live vouchers, negative = owed).

Readings where the notes are silent (the adapter takes the same ones): the error body is
`{"statusCode", "message"}`; the case list is `{"items": [...], "meta": {"page", "pageSize"}}`
with `pageSize` 1 to 100; a second customer with a reference id already used is allowed (Debbie is
not known to refuse it).

Webhooks (notes: "`{event, time, data}`, events such as `cases.status-change`,
`case-vouchers.create`"): once a receiver is set (`PUT /_sandbox/callbacks {"url", "secret"}`),
every case status change and every new case voucher — the creditor's own and Debbie's — is POSTed
there as `{"event", "time", "data"}`, `data` being the case or the voucher exactly as
`GET /cases/{id}` and `GET /case-vouchers/{caseId}` show it. Readings where the notes are silent:
the receiver authenticates Debbie by the shared secret sent as `Authorization: Bearer <secret>`
(Debbie's own scheme for its API); one attempt per event, no retries (the creditor's reconcile
sweep is the safety net); `GET /_sandbox/callbacks` lists the attempts and their answers.

Sandbox-only controls, outside the fault plan: `POST /_sandbox/debbie/case-vouchers/{id}/delete`
marks a voucher deleted the way Debbie lists deleted vouchers (with `deletedAt`); the agency acting
on its own: `POST /_sandbox/debbie/cases/{id}/collected {"amount"}` (Debbie collected a payment: a
positive `transaction` voucher with source COLLECTOR), `POST /_sandbox/debbie/case-vouchers/{id}/reversal`
(Debbie takes a collection back: a negative `transaction` voucher whose `referenceCaseVoucherId` is
the original) and `POST /_sandbox/debbie/cases/{id}/status {"status", "exitReason"}`. The activity
step verifies the oldest PENDING case, else collects a quarter of the principal of the VERIFIED case
with the fewest vouchers (no exit reason but WITHDRAWN is documented, so it never ends a case).
`create_app()` starts with the demo tenant (`DEMO_TENANT_ID`, `DEMO_TOKEN`, `DEMO_VOUCHER_TYPES`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
import msgspec
from litestar import Litestar, Request, Response, get, patch, post, put
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from adapters.debbie.wire import (
    DebbieCaseCreate,
    DebbieCaseStatusUpdate,
    DebbieCaseVoucherCreate,
    DebbieCustomerCreate,
)
from adapters.sdk import SandboxState, with_faults

__all__ = [
    "DEMO_CALLBACK_SECRET",
    "DEMO_CALLBACK_SECRET_ENV",
    "DEMO_CREDITOR_ID",
    "DEMO_TENANT_ID",
    "DEMO_TOKEN",
    "DEMO_TOKEN_ENV",
    "DEMO_VOUCHER_TYPES",
    "EXTRA_VOUCHER_TYPES",
    "DebbieSandbox",
    "SandboxTenant",
    "agency_config",
    "create_app",
    "demo_credentials",
    "demo_secrets",
]

T = TypeVar("T")

DEMO_TENANT_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
DEMO_CREDITOR_ID = "7b1d2a40-5c8e-4f6a-9d3b-2e4f6a8c0b1d"
DEMO_TOKEN = "debbie-demo-token"
DEMO_TOKEN_ENV = "CG_DEMO_DEBBIE_TOKEN"
#: The shared secret Debbie's webhooks carry (config.md Turn 2: `callback_secret_env`).
DEMO_CALLBACK_SECRET = "debbie-demo-callback-secret"
DEMO_CALLBACK_SECRET_ENV = "CG_DEMO_DEBBIE_CALLBACK_SECRET"

#: The demo tenant's voucher types for what the gateway writes (config.md `voucher_types`).
DEMO_VOUCHER_TYPES: dict[str, str] = {
    "principal": "0b6c8f8e-1a1e-4d6b-9a51-000000000001",
    "cost": "0b6c8f8e-1a1e-4d6b-9a51-000000000002",
    "interest": "0b6c8f8e-1a1e-4d6b-9a51-000000000003",
    "payment": "0b6c8f8e-1a1e-4d6b-9a51-000000000004",
    "credit_note": "0b6c8f8e-1a1e-4d6b-9a51-000000000005",
}
#: Voucher types Debbie's own staff use and the gateway is not configured with (read by category).
EXTRA_VOUCHER_TYPES: dict[str, str] = {
    "collector_payment": "0b6c8f8e-1a1e-4d6b-9a51-000000000011",
    "court_fee": "0b6c8f8e-1a1e-4d6b-9a51-000000000012",
    "collector_interest": "0b6c8f8e-1a1e-4d6b-9a51-000000000013",
}
_CATEGORIES: dict[str, tuple[str, str]] = {  # kind → (Debbie category, label)
    "principal": ("principal", "Invoice"),
    "cost": ("cost", "Reminder fee"),
    "interest": ("interest", "Interest"),
    "payment": ("transaction", "Direct payment"),
    "credit_note": ("principal", "Credit note"),
    "collector_payment": ("transaction", "Deposit"),
    "court_fee": ("courtcost", "Court fee"),
    "collector_interest": ("interest", "Late interest"),
}

_MAX_PAGE_SIZE = 100
_CASE_STATUSES = ("PENDING", "VERIFIED", "ENDED")


class SandboxTenant(msgspec.Struct, kw_only=True):
    token: str
    creditor_id: str
    #: voucherTypeId (lower case) → (category, label)
    voucher_types: dict[str, tuple[str, str]]


def _demo_tenant() -> SandboxTenant:
    types = {**DEMO_VOUCHER_TYPES, **EXTRA_VOUCHER_TYPES}
    return SandboxTenant(
        token=DEMO_TOKEN,
        creditor_id=DEMO_CREDITOR_ID,
        voucher_types={type_id: _CATEGORIES[kind] for kind, type_id in types.items()},
    )


class _DebbieError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DebbieSandbox:
    """Debbie's state: tenants, customers, cases, vouchers. One event loop serves it (no locks)."""

    def __init__(self, tenants: Mapping[str, SandboxTenant] | None = None) -> None:
        self.kit = SandboxState()
        self.tenants: dict[str, SandboxTenant] = dict(tenants or {DEMO_TENANT_ID: _demo_tenant()})
        self.customers: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}  # insertion order = the list order
        self.vouchers: dict[str, list[dict[str, Any]]] = {}  # case id → its vouchers
        self._case_seq = itertools.count(1001)
        self._voucher_seq = itertools.count(1)
        #: where Debbie sends its webhooks, and the shared secret it authenticates with
        self.webhook_url: str | None = None
        self.webhook_secret = ""
        self.webhook_attempts: list[dict[str, Any]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.kit.on_activity(self.activity_step)
        self.kit.on_poison(self.poison)

    def poison(self) -> dict[str, Any] | None:
        """A voucher no one can read on the newest case: an amount that is not minor units."""
        if not self.cases:
            return None
        case = list(self.cases.values())[-1]
        voucher = {
            "caseVoucherId": str(uuid.uuid4()),
            "id": next(self._voucher_seq),
            "caseId": case["id"],
            "currency": case["currency"],
            "amount": 12.5,
            "date": dt.date.today().isoformat(),
            "source": "COLLECTOR",
            "category": "transaction",
            "deletedAt": None,
        }
        self.vouchers[case["id"]].append(voucher)
        return {"caseId": case["id"], "caseVoucherId": voucher["caseVoucherId"]}

    # --- webhooks and the agency's own activity ---------------------------------------------

    def notify(self, event: str, data: dict[str, Any]) -> None:
        """Send `{event, time, data}` to the receiver, if one is set, without holding the answer."""
        if self.webhook_url is None:
            return
        body = {"event": event, "time": _now(), "data": data}
        task = asyncio.get_running_loop().create_task(self._send(self.webhook_url, self.webhook_secret, body))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, url: str, secret: str, body: dict[str, Any]) -> None:
        attempt: dict[str, Any] = {"event": body["event"], "status_code": None, "error": None}
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.post(url, json=body, headers={"Authorization": f"Bearer {secret}"})
            attempt["status_code"] = answer.status_code
        except httpx.HTTPError as exc:
            attempt["error"] = str(exc) or type(exc).__name__
        self.webhook_attempts.append(attempt)

    def collect(self, case_id: str, amount: int, date: str | None = None) -> dict[str, Any]:
        """Debbie collected a payment from the debtor: a positive COLLECTOR transaction voucher."""
        case = self.cases.get(case_id)
        if case is None:
            raise _DebbieError(404, f"Case {case_id} not found")
        if case["status"] == "ENDED":
            raise _DebbieError(422, "The case has ended")
        if amount <= 0:
            raise _DebbieError(422, "amount must be positive")
        voucher = DebbieCaseVoucherCreate(
            voucher_type_id=EXTRA_VOUCHER_TYPES["collector_payment"],
            amount=amount,
            currency=case["currency"],
            date=date or dt.date.today().isoformat(),
            source="COLLECTOR",
        )
        return self._agency_voucher(case, voucher)

    def reverse(self, case_voucher_id: str) -> dict[str, Any]:
        """Debbie takes a collection back (a returned debit): a negative transaction voucher."""
        for case_id, vouchers in self.vouchers.items():
            for original in vouchers:
                if original["caseVoucherId"] != case_voucher_id:
                    continue
                if original["category"] != "transaction" or original["amount"] <= 0:
                    raise _DebbieError(422, "only a payment can be reversed")
                if any(v.get("referenceCaseVoucherId") == case_voucher_id for v in vouchers):
                    raise _DebbieError(422, "already reversed")
                voucher = DebbieCaseVoucherCreate(
                    voucher_type_id=original["voucherTypeId"],
                    amount=-original["amount"],
                    currency=original["currency"],
                    date=dt.date.today().isoformat(),
                    source="COLLECTOR",
                )
                return self._agency_voucher(self.cases[case_id], voucher, reverses=case_voucher_id)
        raise _DebbieError(404, f"Case voucher {case_voucher_id} not found")

    def _agency_voucher(
        self, case: dict[str, Any], voucher: DebbieCaseVoucherCreate, reverses: str | None = None
    ) -> dict[str, Any]:
        tenant = self.tenants[case["tenantId"]]
        kind = self.check_voucher(tenant, voucher, case["currency"])
        stored = self.add_voucher(case["tenantId"], case["id"], voucher, kind)
        stored["paymentType"] = "BANK_TRANSFER"
        stored["referenceCaseVoucherId"] = reverses
        case["updatedAt"] = _now()
        self.kit.record("collector_voucher.create", stored["caseVoucherId"], dict(stored))
        self.notify("case-vouchers.create", dict(stored))
        return stored

    def owed(self, case_id: str) -> int:
        return -sum(
            v["amount"]
            for v in self.vouchers[case_id]
            if v["deletedAt"] is None and isinstance(v["amount"], int)
        )

    def set_status(self, case: dict[str, Any], status: str, exit_reason: str | None) -> None:
        if status not in _CASE_STATUSES:
            raise _DebbieError(422, f"status must be one of {', '.join(_CASE_STATUSES)}")
        if status == "ENDED" and not exit_reason:
            raise _DebbieError(422, "exitReason is required to end a case")
        same = (case["status"], case["exitReason"]) == (status, exit_reason)
        if case["status"] == "ENDED" and not same:
            raise _DebbieError(422, "The case has ended")
        if status == "PENDING" and case["status"] != "PENDING":
            raise _DebbieError(422, f"A {case['status']} case cannot go back to PENDING")
        case.update(status=status, exitReason=exit_reason, updatedAt=_now())
        if not same:
            self.notify("cases.status-change", self.case_view(case))

    def activity_step(self) -> dict[str, Any] | None:
        pending = [c for c in self.cases.values() if c["status"] == "PENDING"]
        if pending:
            self.set_status(pending[0], "VERIFIED", None)
            return {"caseId": pending[0]["id"], "status": "VERIFIED"}
        verified = [c for c in self.cases.values() if c["status"] == "VERIFIED" and self.owed(c["id"]) > 0]
        if not verified:
            return None
        case = min(verified, key=lambda c: len(self.vouchers[c["id"]]))
        principal = -sum(
            v["amount"] for v in self.vouchers[case["id"]] if v["category"] == "principal" and v["amount"] < 0
        )
        amount = min(max(1, principal // 4), self.owed(case["id"]))
        voucher = self.collect(case["id"], amount)
        return {"caseId": case["id"], "caseVoucherId": voucher["caseVoucherId"], "amount": amount}

    # --- helpers ---------------------------------------------------------------------------

    def tenant(self, request: Request[Any, Any, Any], tenant_id: str) -> SandboxTenant:
        """Bearer auth for the tenant in the path: no/wrong token → 401, another tenant's → 403."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _DebbieError(401, "Unauthorized")
        tenant = self.tenants.get(tenant_id.lower())
        if tenant is None or tenant.token != token:
            if any(t.token == token for t in self.tenants.values()):
                raise _DebbieError(403, "Forbidden: the token does not belong to this tenant")
            raise _DebbieError(401, "Unauthorized")
        return tenant

    def case_of(self, tenant_id: str, case_id: str) -> dict[str, Any]:
        case = self.cases.get(case_id)
        if case is None or case["tenantId"] != tenant_id.lower():
            raise _DebbieError(404, f"Case {case_id} not found")
        return case

    def case_view(self, case: dict[str, Any]) -> dict[str, Any]:
        live = (
            v["amount"]
            for v in self.vouchers[case["id"]]
            if v["deletedAt"] is None and isinstance(v["amount"], int)  # a poisoned one is no money
        )
        return {**case, "balance": sum(live)}

    def check_voucher(
        self, tenant: SandboxTenant, voucher: DebbieCaseVoucherCreate, currency: str
    ) -> tuple[str, str]:
        kind = tenant.voucher_types.get(voucher.voucher_type_id.lower())
        if kind is None:
            raise _DebbieError(422, f"Unknown voucherTypeId {voucher.voucher_type_id}")
        category, _ = kind
        if voucher.currency != currency:
            raise _DebbieError(422, f"Voucher currency {voucher.currency} differs from the case's {currency}")
        if voucher.amount == 0:
            raise _DebbieError(422, "amount must not be 0")
        if category in ("cost", "courtcost", "interest") and voucher.amount > 0:
            raise _DebbieError(422, f"A {category} voucher is a debt: its amount must be negative")
        for field in (voucher.date, voucher.due_date):
            if field is not None:
                try:
                    dt.date.fromisoformat(field)
                except ValueError:
                    raise _DebbieError(400, f"Invalid date {field}") from None
        return kind

    def add_voucher(
        self, tenant_id: str, case_id: str, voucher: DebbieCaseVoucherCreate, kind: tuple[str, str]
    ) -> dict[str, Any]:
        category, label = kind
        stored: dict[str, Any] = {
            "voucherTypeId": voucher.voucher_type_id,
            "referenceId": voucher.reference_id,
            "currency": voucher.currency,
            "amount": voucher.amount,
            "date": voucher.date,
            "dueDate": voucher.due_date,
            "text": voucher.text,
            "caseVoucherId": str(uuid.uuid4()),
            "id": next(self._voucher_seq),
            "tenantId": tenant_id,
            "source": voucher.source,
            "interest": voucher.interest,
            "caseId": case_id,
            "tags": [],
            "createdAt": _now(),
            "createdBy": {"id": tenant_id, "type": "API"},
            "state": "UNMAPPED" if category == "transaction" else "PENDING",
            "category": category,
            "label": label,
            "deletedAt": None,
            "deletedBy": None,
            "exported": False,
            "expired": False,
        }
        self.vouchers[case_id].append(stored)
        return stored


class _WebhookReceiver(msgspec.Struct, kw_only=True):
    url: str | None
    secret: str = ""


class _Collected(msgspec.Struct, kw_only=True):
    amount: int
    date: str | None = None


async def _decode(request: Request[Any, Any, Any], type_: type[T]) -> T:
    """Strict, as Debbie validates: no coercion of `12.0` or `"12"` into an integer amount."""
    try:
        return msgspec.json.decode(await request.body(), type=type_)
    except msgspec.ValidationError as exc:
        raise _DebbieError(400, f"Invalid request body: {exc}") from None
    except msgspec.DecodeError:
        raise _DebbieError(400, "Malformed JSON") from None


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, _DebbieError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:  # pragma: no cover - a bug in the sandbox
        status, message = 500, "Internal server error"
    return Response({"statusCode": status, "message": message}, status_code=status)


def create_app(sandbox: DebbieSandbox | None = None) -> Any:
    """The sandbox as an ASGI app, ready with the demo tenant (or the given state)."""
    box = sandbox or DebbieSandbox()
    kit = box.kit

    @post("/v1/{tenant_id:str}/customers", status_code=201)
    async def create_customer(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Any:
        tenant = box.tenant(request, tenant_id)
        creditor = request.query_params.get("creditorId")  # notes: `POST /customers?creditorId=...`
        if creditor != tenant.creditor_id:
            raise _DebbieError(422, f"Unknown creditorId {creditor}")
        body = await _decode(request, DebbieCustomerCreate)
        customer = {
            **msgspec.to_builtins(body),
            "id": str(uuid.uuid4()),
            "creditorId": creditor,
            "tenantId": tenant_id.lower(),
            "createdAt": _now(),
        }
        box.customers[customer["id"]] = customer
        kit.record("customer.create", customer["id"], msgspec.to_builtins(body))
        return customer

    @get("/v1/{tenant_id:str}/customers/by-reference-id/{reference_id:path}")
    async def customer_by_reference(
        request: Request[Any, Any, Any], tenant_id: FromPath[str], reference_id: FromPath[str]
    ) -> Any:
        box.tenant(request, tenant_id)
        wanted = reference_id.lstrip("/")
        for customer in box.customers.values():
            if customer["tenantId"] == tenant_id.lower() and customer["referenceId"] == wanted:
                return customer
        raise _DebbieError(404, f"Customer with reference id {wanted} not found")

    @get("/v1/{tenant_id:str}/customers/{customer_id:str}")
    async def customer_by_id(
        request: Request[Any, Any, Any], tenant_id: FromPath[str], customer_id: FromPath[str]
    ) -> Any:
        box.tenant(request, tenant_id)
        customer = box.customers.get(customer_id)
        if customer is None or customer["tenantId"] != tenant_id.lower():
            raise _DebbieError(404, f"Customer {customer_id} not found")
        return customer

    @post("/v1/{tenant_id:str}/cases", status_code=201)
    async def create_case(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Any:
        tenant = box.tenant(request, tenant_id)
        body = await _decode(request, DebbieCaseCreate)
        customer = box.customers.get(body.customer_id)
        if customer is None or customer["tenantId"] != tenant_id.lower():
            raise _DebbieError(422, f"Unknown customerId {body.customer_id}")
        kinds = [box.check_voucher(tenant, v, body.currency) for v in body.case_vouchers]
        case_id = str(uuid.uuid4())
        now = _now()
        case = {
            "id": case_id,
            "caseSeqId": next(box._case_seq),
            "tenantId": tenant_id.lower(),
            "customerId": body.customer_id,
            "currency": body.currency,
            "referenceId": body.reference_id,
            "status": "PENDING",
            "exitReason": None,
            "createdAt": now,
            "updatedAt": now,
        }
        box.cases[case_id] = case
        box.vouchers[case_id] = []
        for voucher, kind in zip(body.case_vouchers, kinds, strict=True):
            box.add_voucher(tenant_id.lower(), case_id, voucher, kind)
        kit.record("case.create", case_id, msgspec.to_builtins(body))
        return {"id": case_id, "caseSeqId": case["caseSeqId"]}

    @get("/v1/{tenant_id:str}/cases")
    async def list_cases(request: Request[Any, Any, Any], tenant_id: FromPath[str]) -> Any:
        box.tenant(request, tenant_id)
        try:
            page = int(request.query_params.get("page", "0"))
            size = int(request.query_params.get("pageSize", "50"))
        except ValueError:
            raise _DebbieError(400, "page and pageSize must be integers") from None
        if page < 0 or not 1 <= size <= _MAX_PAGE_SIZE:
            raise _DebbieError(400, f"page must be >= 0 (0-based) and pageSize 1-{_MAX_PAGE_SIZE}")
        mine = [c for c in box.cases.values() if c["tenantId"] == tenant_id.lower()]
        items = [box.case_view(c) for c in mine[page * size : (page + 1) * size]]
        return {"items": items, "meta": {"page": page, "pageSize": size}}

    @get("/v1/{tenant_id:str}/cases/{case_id:str}")
    async def get_case(
        request: Request[Any, Any, Any], tenant_id: FromPath[str], case_id: FromPath[str]
    ) -> Any:
        box.tenant(request, tenant_id)
        return box.case_view(box.case_of(tenant_id, case_id))

    @patch("/v1/{tenant_id:str}/cases/{case_id:str}")
    async def update_case(
        request: Request[Any, Any, Any], tenant_id: FromPath[str], case_id: FromPath[str]
    ) -> Any:
        box.tenant(request, tenant_id)
        case = box.case_of(tenant_id, case_id)
        body = await _decode(request, DebbieCaseStatusUpdate)
        box.set_status(case, body.status, body.exit_reason)
        kit.record("case.status", case_id, msgspec.to_builtins(body))
        return box.case_view(case)

    @get("/v1/{tenant_id:str}/case-vouchers/{case_id:str}")
    async def case_vouchers(
        request: Request[Any, Any, Any], tenant_id: FromPath[str], case_id: FromPath[str]
    ) -> Any:
        box.tenant(request, tenant_id)
        box.case_of(tenant_id, case_id)
        vouchers = box.vouchers[case_id]
        point = request.query_params.get("pointInTime")
        if point is not None:
            try:
                day = dt.date.fromisoformat(point)
            except ValueError:
                raise _DebbieError(400, "pointInTime must be YYYY-MM-DD") from None
            # Document: "Only case vouchers with caseVoucher.date before this date will be returned."
            vouchers = [v for v in vouchers if dt.date.fromisoformat(v["date"]) < day]
        return vouchers

    @post("/v1/{tenant_id:str}/case-vouchers/{case_id:str}", status_code=201)
    async def create_case_voucher(
        request: Request[Any, Any, Any], tenant_id: FromPath[str], case_id: FromPath[str]
    ) -> Any:
        tenant = box.tenant(request, tenant_id)
        case = box.case_of(tenant_id, case_id)
        body = await _decode(request, DebbieCaseVoucherCreate)
        kind = box.check_voucher(tenant, body, case["currency"])
        stored = box.add_voucher(tenant_id.lower(), case_id, body, kind)
        case["updatedAt"] = _now()
        kit.record(
            "case_voucher.create", stored["caseVoucherId"], {"caseId": case_id, **msgspec.to_builtins(body)}
        )
        box.notify("case-vouchers.create", dict(stored))
        return {"caseVoucherId": stored["caseVoucherId"]}

    @post("/_sandbox/debbie/case-vouchers/{case_voucher_id:str}/delete", status_code=204)
    async def delete_case_voucher(case_voucher_id: FromPath[str]) -> None:
        for vouchers in box.vouchers.values():
            for voucher in vouchers:
                if voucher["caseVoucherId"] == case_voucher_id:
                    voucher.update(deletedAt=_now(), deletedBy={"id": "sandbox", "type": "USER"})
                    return
        raise _DebbieError(404, f"Case voucher {case_voucher_id} not found")

    @put("/_sandbox/callbacks", status_code=204)
    async def set_webhooks(request: Request[Any, Any, Any]) -> None:
        body = msgspec.json.decode(await request.body(), type=_WebhookReceiver)
        box.webhook_url, box.webhook_secret = body.url, body.secret

    @get("/_sandbox/callbacks")
    async def webhooks() -> dict[str, Any]:
        return {"url": box.webhook_url, "attempts": box.webhook_attempts}

    @post("/_sandbox/debbie/cases/{case_id:str}/collected", status_code=201)
    async def collected(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Any:
        body = await _decode(request, _Collected)
        return box.collect(case_id, body.amount, body.date)

    @post("/_sandbox/debbie/case-vouchers/{case_voucher_id:str}/reversal", status_code=201)
    async def reversal(case_voucher_id: FromPath[str]) -> Any:
        return box.reverse(case_voucher_id)

    @post("/_sandbox/debbie/cases/{case_id:str}/status", status_code=200)
    async def agency_status(request: Request[Any, Any, Any], case_id: FromPath[str]) -> Any:
        case = box.cases.get(case_id)
        if case is None:
            raise _DebbieError(404, f"Case {case_id} not found")
        body = await _decode(request, DebbieCaseStatusUpdate)
        box.set_status(case, body.status, body.exit_reason)
        return box.case_view(case)

    app: Any = Litestar(  # an ASGI app; Litestar types its scope more narrowly than the kit
        route_handlers=[
            create_customer,
            customer_by_reference,
            customer_by_id,
            create_case,
            list_cases,
            get_case,
            update_case,
            case_vouchers,
            create_case_voucher,
            delete_case_voucher,
            set_webhooks,
            webhooks,
            collected,
            reversal,
            agency_status,
            *kit.routes(),
        ],
        exception_handlers={_DebbieError: _error_response, HTTPException: _error_response},
        openapi_config=None,
    )
    return with_faults(app, kit)


def agency_config(base_url: str) -> dict[str, Any]:
    """The `[agencies.debbie]` section pointing at a running sandbox."""
    return {"base_url": base_url, "voucher_types": dict(DEMO_VOUCHER_TYPES)}


def demo_credentials() -> dict[str, Any]:
    """The demo tenant's `[tenants.<t>.credentials.debbie]` section (token and the webhooks'
    shared secret by env reference)."""
    return {
        "account_id": DEMO_TENANT_ID,
        "creditor_id": DEMO_CREDITOR_ID,
        "token_env": DEMO_TOKEN_ENV,
        "callback_secret_env": DEMO_CALLBACK_SECRET_ENV,
    }


def demo_secrets() -> dict[str, str]:
    return {DEMO_TOKEN_ENV: DEMO_TOKEN, DEMO_CALLBACK_SECRET_ENV: DEMO_CALLBACK_SECRET}
