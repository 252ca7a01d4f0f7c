"""A faithful Riverty (Back in Flow) simulator: a small Litestar app.

What it reproduces (riverty-claim-invoices.txt and agency-api-notes.md, Riverty):
- OAuth2 client credentials at `POST /oauth/token` with an `audience`; tokens live 24 h.
  Every API call needs the bearer token and `X-Client-Global-Id` matching the client.
- `POST /claims` and every write on a claim answer `202 {requestId}` and nothing else. The
  outcome appears in `GET /transactions` (CONFIRMATION with the new `claimNumber`, REJECTION
  with reasons), after `outcome_delay` seconds — 0 means "at the next request", which keeps
  tests fast and deterministic. STATUS, ACCOUNTING_DOCUMENT and CLOSING entries are in the feed
  too, and timestamps have whole seconds, so several entries often share one.
- A claim whose customerNumber starts with `REJECT` is REJECTED (reason CUSTOMER_REJECTED).
- 1-based pages `{items, pagination{totalItems, pageSize, currentPage, totalPages}}`, default
  page size `page_size` (the document's 10), larger sizes capped at `max_page_size`.
- A repeated `paymentNumber` / `creditWaiverNumber` on a claim is refused at once: 409.
- Amounts are JSON numbers in major units, > 0, at most 12 characters; the sandbox refuses a
  string amount like Riverty's schema does.

Where the documents are silent the simplest reading is taken (marked "reading:" below).
The feed's entries (reading: the notes name the types, not their members):
- every entry: `transactionId` (Riverty's id of the entry), `type`, `createdAt`, `claimNumber`;
- CONFIRMATION / REJECTION: `requestId` (+ `reasons`); STATUS and CLOSING: `status` (the claim's
  new status, from the documented REJECTED | IN_CREATION | PROCESSING | PAUSED | CLOSED);
- ACCOUNTING_DOCUMENT: the document booked on the claim, in the members the write bodies use:
  `documentNumber` (the client's paymentNumber / creditWaiverNumber, or Riverty's own number for
  a payment it collected), `documentType` (PAYMENT | CREDIT_WAIVER | CANCELLATION), `amount`,
  `currency`, `date` and `allocateTo` `[{invoiceNumber, amount}]`. A CANCELLATION names the
  document it cancels in `documentNumber`. Remaining amounts are read from the documented
  `GET /claims/{n}/invoices`.

Sandbox extras: the fault switches, ledger and activity of `adapters.sandbox_kit` (`/_sandbox/...`),
call counts per route at `GET /_sandbox/riverty/calls`, `PUT /_sandbox/riverty/held {"held": true}`
to hold every outcome back (a claim stays IN_CREATION until released), and the agency acting on its
own: `POST /_sandbox/riverty/claims/{n}/collected {"amount"}` (Riverty collected a payment, oldest
due date first), `POST /_sandbox/riverty/claims/{n}/documents/{number}/cancellation` (Riverty
cancels one of its collections) and `POST /_sandbox/riverty/claims/{n}/status {"status"}` (Riverty
pauses, resumes or closes the claim). The activity step collects a quarter of the oldest open
invoice of the claim touched least recently.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post, put
from litestar.params import FromPath

from adapters.sdk import SandboxState, with_faults

__all__ = [
    "AUDIENCE",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_GLOBAL_ID",
    "RivertySandbox",
    "build_sandbox",
    "create_app",
]

DEMO_CLIENT_ID = "demo"
DEMO_CLIENT_SECRET = "demo-riverty-secret"
DEMO_GLOBAL_ID = 4711
AUDIENCE = "https://api.sandbox.riverty.test/collection"
_DEMO_SECRET_ENV = "RIVERTY_DEMO_CLIENT_SECRET"


def agency_config(base_url: str) -> dict[str, Any]:
    """The `[agencies.riverty]` config section for a sandbox served at `base_url`."""
    base_url = base_url.rstrip("/")
    return {
        "base_url": base_url,
        "token_url": f"{base_url}/oauth/token",
        "audience": AUDIENCE,
        "poll_interval_seconds": 1,
    }


def demo_credentials() -> dict[str, Any]:
    """The demo tenant's credential section (the secret by env)."""
    return {
        "client_id": DEMO_CLIENT_ID,
        "client_secret_env": _DEMO_SECRET_ENV,
        "client_global_id": DEMO_GLOBAL_ID,
    }


def demo_secrets() -> dict[str, str]:
    return {_DEMO_SECRET_ENV: DEMO_CLIENT_SECRET}


TOKEN_SECONDS = 24 * 3600

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)  # numbers stay exact
_AMOUNT_KEYS = frozenset({"originalAmount", "remainingAmount", "amount", "rate"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")


# --- request bodies (strict, like Riverty's schema validation) -------------------------------


class _Strict(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    pass


class _Address(_Strict, kw_only=True):
    street: str
    house_number: str | None = None
    postal_code: str
    city: str
    country: str


class _Channel(_Strict, kw_only=True):
    type: str
    value: str


class _Customer(_Strict, kw_only=True):
    customer_number: str
    type: str
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    birth_date: dt.date | None = None
    language: str | None = None
    addresses: list[_Address] = []
    communication_channels: list[_Channel] = []
    bank_accounts: list[dict[str, Any]] = []


class _Property(_Strict, kw_only=True):
    key: str
    value: str


class _InvoiceIn(_Strict, kw_only=True):
    invoice_number: str
    reference_number: str | None = None
    invoice_date: dt.date
    due_date: dt.date
    original_amount: Decimal
    remaining_amount: Decimal
    currency: str
    claim_type: str = "PRINCIPAL_CLAIM"
    description: str | None = None
    additional_properties: list[_Property] = []


class _Contract(_Strict, kw_only=True):
    contract_number: str
    invoices: list[_InvoiceIn]


class _Cost(_Strict, kw_only=True):
    invoice_number: str
    amount: Decimal
    currency: str
    type: str


class _Interest(_Strict, kw_only=True):
    invoice_number: str
    type: str
    rate: Decimal
    last_calculation_date: dt.date | None = None


class _ClaimIn(_Strict, kw_only=True):
    customer: _Customer
    contracts: list[_Contract]
    costs: list[_Cost] = []
    interests: list[_Interest] = []


class _AllocationIn(_Strict, kw_only=True):
    invoice_number: str
    amount: Decimal


class _PaymentIn(_Strict, kw_only=True):
    payment_number: str
    payment_date: dt.date
    amount: Decimal
    currency: str
    allocate_to: list[_AllocationIn] = []


class _CreditWaiverIn(_Strict, kw_only=True):
    credit_waiver_number: str
    invoice_number: str
    date: dt.date
    amount: Decimal
    currency: str
    reason: str | None = None


class _RecallIn(_Strict, kw_only=True):
    reason: str
    invoice_numbers: list[str] | None = None


class _CancellationIn(_Strict, kw_only=True):
    document_number: str
    document_type: str
    reason: str | None = None


class _CollectedIn(msgspec.Struct, kw_only=True):
    amount: Decimal
    date: dt.date | None = None


# --- state -----------------------------------------------------------------------------------


class _Invoice(msgspec.Struct, kw_only=True):
    number: str
    reference_number: str | None
    invoice_date: dt.date
    due_date: dt.date
    original: Decimal
    remaining: Decimal
    currency: str
    claim_type: str
    description: str | None
    properties: list[_Property]
    placement_date: dt.date
    costs: Decimal | None = None
    interest: _Interest | None = None
    recalled: bool = False


class _Document(msgspec.Struct, kw_only=True):
    number: str
    type: str  # PAYMENT | CREDIT_WAIVER | CANCELLATION
    source: str
    amount: Decimal
    currency: str
    date: dt.date
    allocations: list[tuple[str, Decimal]]
    cancels: str | None = None
    cancelled: bool = False


class _Claim(msgspec.Struct, kw_only=True):
    number: str
    client_id: str
    status: str
    customer: _Customer
    contract_numbers: list[str]
    currency: str
    invoices: list[_Invoice]
    created_at: str
    closing_reason: str | None = None
    documents: list[_Document] = []
    #: client numbers (paymentNumber, creditWaiverNumber) taken on this claim
    numbers: set[str] = set()


class _Pending(msgspec.Struct, kw_only=True):
    request_id: str
    ready_at: float
    apply: Callable[[], list[dict[str, Any]] | None]
    client_id: str
    claim_number: str


class _Client(msgspec.Struct, kw_only=True):
    secret: str
    global_id: int


class _Problem(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class RivertySandbox:
    """The simulator's state and behaviour; `app` is the ASGI app serving it."""

    def __init__(
        self,
        *,
        page_size: int = 10,
        max_page_size: int = 100,
        max_transactions_page_size: int = 1000,
        outcome_delay: float = 0.0,
        token_seconds: int = TOKEN_SECONDS,
        audience: str = AUDIENCE,
        clients: dict[str, tuple[str, int]] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        #: What time the feed's entries get (tests freeze it to make entries share a timestamp).
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.max_transactions_page_size = max_transactions_page_size
        self.outcome_delay = outcome_delay
        #: While True nothing accepted is processed (tests hold a claim IN_CREATION at will).
        self.held = False
        self.token_seconds = token_seconds
        self.audience = audience
        self.clients = {
            client_id: _Client(secret=secret, global_id=global_id)
            for client_id, (secret, global_id) in (
                clients or {DEMO_CLIENT_ID: (DEMO_CLIENT_SECRET, DEMO_GLOBAL_ID)}
            ).items()
        }
        self.kit = SandboxState()
        self.calls: Counter[str] = Counter()
        self.tokens: dict[str, tuple[str, float]] = {}
        self.claims: dict[str, _Claim] = {}
        self.transactions: list[dict[str, Any]] = []
        self._queue: deque[_Pending] = deque()
        self._claim_seq = itertools.count(10_000_001)
        self._tx_seq = itertools.count(1)
        self.kit.on_activity(self.activity_step)
        self.kit.on_poison(self.poison)
        self.app = with_faults(self._litestar(), self.kit)

    # --- time and the asynchronous outcomes --------------------------------------------------

    def settle(self) -> None:
        """Carry out every accepted request whose processing time has come."""
        if self.held:
            return
        now = time.monotonic()
        while self._queue and self._queue[0].ready_at <= now:
            request = self._queue.popleft()
            try:
                extra = request.apply() or []
                self._emit(
                    request.client_id, "CONFIRMATION", request.claim_number, requestId=request.request_id
                )
            except _Problem as exc:
                extra = []
                self._emit(
                    request.client_id,
                    "REJECTION",
                    request.claim_number,
                    requestId=request.request_id,
                    reasons=[{"code": exc.code or "REJECTED", "message": exc.message}],
                )
            for entry in extra:
                self._emit(request.client_id, entry.pop("type"), request.claim_number, **entry)

    def _emit(self, client_id: str, kind: str, claim_number: str, **fields: Any) -> None:
        self.transactions.append(
            {
                "transactionId": f"T{next(self._tx_seq):09d}",
                "type": kind,
                # reading: timestamps with whole seconds (so entries do share one)
                "createdAt": self._now_text(),
                "claimNumber": claim_number,
                **fields,
                "_client": client_id,
            }
        )

    def _now_text(self) -> str:
        return self.clock().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _accept(
        self, client_id: str, claim_number: str, apply: Callable[[], list[dict[str, Any]] | None]
    ) -> str:
        request_id = str(uuid.uuid4())
        self._queue.append(
            _Pending(
                request_id=request_id,
                ready_at=time.monotonic() + self.outcome_delay,
                apply=apply,
                client_id=client_id,
                claim_number=claim_number,
            )
        )
        return request_id

    # --- auth --------------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client.secret, form.get("client_secret", "")):
            return 401, {"error": "invalid_client"}
        if form.get("audience") != self.audience:
            return 400, {"error": "invalid_request", "error_description": "unknown audience"}
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (form["client_id"], time.time() + self.token_seconds)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}

    def authorize(self, headers: Any) -> str:
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        entry = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if entry is None or entry[1] < time.time():
            raise _Problem(401, "request not authorized")
        client_id = entry[0]
        global_id = headers.get("x-client-global-id") or ""
        if not global_id.isdigit():
            raise _Problem(400, "X-Client-Global-Id header (a number) is required")
        if int(global_id) != self.clients[client_id].global_id:
            raise _Problem(403, "X-Client-Global-Id does not belong to this client")
        return client_id

    def claim(self, client_id: str, number: str) -> _Claim:
        claim = self.claims.get(number)
        if claim is None or claim.client_id != client_id:
            raise _Problem(404, "claim not found")
        return claim

    # --- writes ------------------------------------------------------------------------------

    def submit_claim(self, client_id: str, raw: Any) -> str:
        _numbers_only(raw)
        body = _convert(raw, _ClaimIn)
        invoices = _claim_invoices(body)
        number = f"RC{next(self._claim_seq)}"
        claim = _Claim(
            number=number,
            client_id=client_id,
            status="IN_CREATION",
            customer=body.customer,
            contract_numbers=[c.contract_number for c in body.contracts],
            currency=invoices[0].currency,
            invoices=invoices,
            created_at=self._now_text(),
        )
        self.claims[number] = claim
        self.kit.record("claim", number, _builtins(raw))

        def create() -> list[dict[str, Any]]:
            if claim.customer.customer_number.startswith("REJECT"):
                claim.status = "REJECTED"
                raise _Problem(
                    422,
                    f"customer {claim.customer.customer_number} cannot be taken into collection",
                    "CUSTOMER_REJECTED",
                )
            claim.status = "PROCESSING"
            return [{"type": "STATUS", "status": "PROCESSING"}]

        return self._accept(client_id, number, create)

    def report_payment(self, client_id: str, number: str, raw: Any) -> str:
        claim = self.claim(client_id, number)
        _numbers_only(raw)
        body = _convert(raw, _PaymentIn)
        _check_amount("amount", body.amount)
        for allocation in body.allocate_to:
            _check_amount("allocateTo.amount", allocation.amount)
        self._take_number(claim, body.payment_number, "paymentNumber", "DUPLICATE_PAYMENT_NUMBER")
        self.kit.record("payment", f"{number}/{body.payment_number}", _builtins(raw))

        def book() -> list[dict[str, Any]]:
            try:
                _writable(claim)
                if body.currency != claim.currency:
                    raise _Problem(422, f"currency must be {claim.currency}", "CURRENCY_MISMATCH")
                allocations = _allocate(
                    claim, body.amount, [(a.invoice_number, a.amount) for a in body.allocate_to]
                )
            except _Problem:
                claim.numbers.discard(body.payment_number)  # a rejected number may be used again
                raise
            for invoice_number, amount in allocations:
                _invoice(claim, invoice_number).remaining -= amount
            claim.documents.append(
                _Document(
                    number=body.payment_number,
                    type="PAYMENT",
                    source="CLIENT",
                    amount=body.amount,
                    currency=body.currency,
                    date=body.payment_date,
                    allocations=allocations,
                )
            )
            return [_document_entry(claim.documents[-1]), *_maybe_paid(claim)]

        return self._accept(client_id, number, book)

    def add_credit_waiver(self, client_id: str, number: str, raw: Any) -> str:
        claim = self.claim(client_id, number)
        _numbers_only(raw)
        body = _convert(raw, _CreditWaiverIn)
        _check_amount("amount", body.amount)
        self._take_number(
            claim, body.credit_waiver_number, "creditWaiverNumber", "DUPLICATE_CREDIT_WAIVER_NUMBER"
        )
        self.kit.record("credit_waiver", f"{number}/{body.credit_waiver_number}", _builtins(raw))

        def book() -> list[dict[str, Any]]:
            try:
                _writable(claim)
                invoice = _invoice(claim, body.invoice_number)
                if body.amount > invoice.remaining:
                    raise _Problem(422, "credit waiver exceeds the open amount", "AMOUNT_EXCEEDS_OPEN_AMOUNT")
            except _Problem:
                claim.numbers.discard(body.credit_waiver_number)
                raise
            invoice.remaining -= body.amount
            claim.documents.append(
                _Document(
                    number=body.credit_waiver_number,
                    type="CREDIT_WAIVER",
                    source="CLIENT",
                    amount=body.amount,
                    currency=body.currency,
                    date=body.date,
                    allocations=[(invoice.number, body.amount)],
                )
            )
            return [_document_entry(claim.documents[-1]), *_maybe_paid(claim)]

        return self._accept(client_id, number, book)

    def recall(self, client_id: str, number: str, raw: Any) -> str:
        claim = self.claim(client_id, number)
        body = _convert(raw, _RecallIn)
        self.kit.record("recall", number, _builtins(raw))

        def recall() -> list[dict[str, Any]]:
            if claim.status in ("IN_CREATION", "REJECTED"):
                raise _Problem(409, f"claim is {claim.status}", "CLAIM_NOT_ACTIVE")
            names = body.invoice_numbers or [i.number for i in claim.invoices]
            targets = [_invoice(claim, name) for name in names]  # every name first: all or nothing
            # reading: recalling what is already recalled changes nothing and is confirmed.
            for invoice in targets:
                invoice.recalled = True
            if all(i.recalled for i in claim.invoices) and claim.status != "CLOSED":
                claim.status, claim.closing_reason = "CLOSED", "RECALLED"
                return [{"type": "CLOSING", "status": "CLOSED"}]
            return []

        return self._accept(client_id, number, recall)

    def cancel_document(self, client_id: str, number: str, raw: Any) -> str:
        claim = self.claim(client_id, number)
        body = _convert(raw, _CancellationIn)
        self.kit.record("cancellation", f"{number}/{body.document_number}", _builtins(raw))

        def cancel() -> list[dict[str, Any]]:
            return self._cancel(claim, body.document_number, body.document_type)

        return self._accept(client_id, number, cancel)

    def _cancel(self, claim: _Claim, document_number: str, document_type: str) -> list[dict[str, Any]]:
        doc = next(
            (d for d in claim.documents if d.number == document_number and d.type == document_type),
            None,
        )
        if doc is None:
            raise _Problem(404, f"no {document_type} {document_number}", "DOCUMENT_NOT_FOUND")
        if doc.cancelled:
            raise _Problem(409, f"{document_number} is already cancelled", "ALREADY_CANCELLED")
        doc.cancelled = True
        for invoice_number, amount in doc.allocations:
            _invoice(claim, invoice_number).remaining += amount
        cancellation = _Document(
            number=f"{doc.number}-CANCEL",
            type="CANCELLATION",
            source=doc.source,
            amount=doc.amount,
            currency=doc.currency,
            date=self.clock().date(),
            allocations=list(doc.allocations),
            cancels=doc.number,
        )
        claim.documents.append(cancellation)
        entries: list[dict[str, Any]] = [_document_entry(cancellation)]
        if claim.status == "CLOSED" and claim.closing_reason == "PAID":
            claim.status, claim.closing_reason = "PROCESSING", None
            entries.append({"type": "STATUS", "status": "PROCESSING"})
        return entries

    def cancel_collected(self, number: str, document_number: str) -> None:
        """Sandbox extra: Riverty takes back a payment it collected (e.g. a returned debit)."""
        claim = self._sandbox_claim(number)
        for entry in self._cancel(claim, document_number, "PAYMENT"):
            self._emit(claim.client_id, entry.pop("type"), number, **entry)

    def set_status(self, number: str, status: str) -> None:
        """Sandbox extra: Riverty pauses, resumes or closes a claim on its own."""
        claim = self._sandbox_claim(number)
        if status not in ("PROCESSING", "PAUSED", "CLOSED"):
            raise _Problem(400, "status must be PROCESSING, PAUSED or CLOSED")
        if claim.status in ("IN_CREATION", "REJECTED", "CLOSED") or claim.status == status:
            raise _Problem(409, f"claim {number} is {claim.status}", "CLAIM_NOT_ACTIVE")
        claim.status = status
        claim.closing_reason = "CLOSED_BY_AGENCY" if status == "CLOSED" else None
        self._emit(claim.client_id, "CLOSING" if status == "CLOSED" else "STATUS", number, status=status)

    def activity_step(self) -> dict[str, Any] | None:
        """Riverty's own work as time passes: it collects a quarter of the oldest open invoice of
        the active claim it touched least recently."""
        active = [
            c
            for c in self.claims.values()
            if c.status == "PROCESSING" and any(i.remaining > 0 for i in c.invoices)
        ]
        if not active:
            return None
        claim = min(active, key=lambda c: (len(c.documents), c.number))
        invoice = min((i for i in claim.invoices if i.remaining > 0), key=lambda i: (i.due_date, i.number))
        quarter = (invoice.original / 4).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        amount = min(max(quarter, Decimal("0.01")), invoice.remaining)
        self.collected(claim.number, {"amount": amount})
        return {"claimNumber": claim.number, "amount": amount}

    def poison(self) -> dict[str, Any] | None:
        """An accounting document no one can read (its amount is words) on the newest claim."""
        if not self.claims:
            return None
        claim = list(self.claims.values())[-1]
        self._emit(
            claim.client_id,
            "ACCOUNTING_DOCUMENT",
            claim.number,
            documentNumber="POISON",
            documentType="PAYMENT",
            amount="twelve",
            currency=claim.currency,
            date=self.clock().date().isoformat(),
        )
        return {"claimNumber": claim.number, "transactionId": self.transactions[-1]["transactionId"]}

    def _sandbox_claim(self, number: str) -> _Claim:
        claim = self.claims.get(number)
        if claim is None:
            raise _Problem(404, "claim not found")
        return claim

    def collected(self, number: str, raw: Any) -> None:
        """Sandbox extra: Riverty collected a payment from the debtor (oldest due date first)."""
        claim = self._sandbox_claim(number)
        body = _convert(raw, _CollectedIn)
        _writable(claim)
        allocations = _allocate(claim, body.amount, [])
        for invoice_number, amount in allocations:
            _invoice(claim, invoice_number).remaining -= amount
        doc_number = f"RP{len(claim.documents) + 1:06d}"
        doc = _Document(
            number=doc_number,
            type="PAYMENT",
            source="AGENCY",
            amount=body.amount,
            currency=claim.currency,
            date=body.date or self.clock().date(),
            allocations=allocations,
        )
        claim.documents.append(doc)
        self.kit.record("collected", f"{number}/{doc_number}", _builtins(_document_entry(doc)))
        for entry in [_document_entry(doc), *_maybe_paid(claim)]:
            self._emit(claim.client_id, entry.pop("type"), number, **entry)

    def _take_number(self, claim: _Claim, value: str, field: str, code: str) -> None:
        if not value or len(value) > 40:
            raise _Problem(400, f"{field} must have 1 to 40 characters")
        if value in claim.numbers:
            raise _Problem(409, f"{field} {value} already exists on claim {claim.number}", code)
        claim.numbers.add(value)

    # --- reads -------------------------------------------------------------------------------

    def page(self, items: list[Any], query: Any, *, max_size: int | None = None) -> dict[str, Any]:
        page = _int_param(query, "page", 1)
        size = _int_param(query, "pageSize", self.page_size)
        size = min(size, max_size or self.max_page_size)  # reading: a larger page is capped, not refused
        start = (page - 1) * size
        return {
            "items": items[start : start + size],
            "pagination": {
                "totalItems": len(items),
                "pageSize": size,
                "currentPage": page,
                "totalPages": math.ceil(len(items) / size),
            },
        }

    def search(self, client_id: str, query: Any) -> dict[str, Any]:
        found = [
            _summary(claim)
            for claim in self.claims.values()
            if claim.client_id == client_id
            and query.get("claimNumber") in (None, claim.number)
            and query.get("contractNumber") in (None, *claim.contract_numbers)
            and query.get("customerNumber") in (None, claim.customer.customer_number)
            and query.get("status") in (None, claim.status)
        ]
        return self.page(found, query)

    def feed(self, client_id: str, query: Any) -> dict[str, Any]:
        since = _time_param(query, "from")
        until = _time_param(query, "to")
        types = set(query["type"].split(",")) if query.get("type") else None
        entries = []
        for tx in self.transactions:  # appended in time order: already oldest first
            if tx["_client"] != client_id:
                continue
            at = dt.datetime.fromisoformat(tx["createdAt"])
            if (since is not None and at < since) or (until is not None and at > until):
                continue
            if types is not None and tx["type"] not in types:
                continue
            entries.append({k: v for k, v in tx.items() if not k.startswith("_")})
        return self.page(entries, query, max_size=self.max_transactions_page_size)

    # --- the app -----------------------------------------------------------------------------

    def _litestar(self) -> Any:
        sandbox = self

        def answer(status: int, content: Any) -> Response[bytes]:
            return Response(
                content=_ENCODER.encode(content), status_code=status, media_type="application/json"
            )

        def guarded(route: str, action: Callable[[], tuple[int, Any]]) -> Response[bytes]:
            sandbox.calls[route] += 1
            try:
                sandbox.settle()
                status, content = action()
            except _Problem as exc:
                return answer(exc.status, {"message": exc.message, "code": exc.code})
            return answer(status, content)

        async def body_of(request: Request[Any, Any, Any]) -> Any:
            try:
                return _DECODER.decode(await request.body())
            except msgspec.DecodeError as exc:
                raise _Problem(400, f"malformed JSON: {exc}") from exc

        @post("/oauth/token")
        async def token(request: Request[Any, Any, Any]) -> Response[bytes]:
            sandbox.calls["POST /oauth/token"] += 1
            form = {k: str(v) for k, v in (await request.form()).items()}
            status, content = sandbox.issue_token(form)
            return answer(status, content)

        def write(
            route: str, request: Request[Any, Any, Any], raw: Any, run: Callable[[str], str]
        ) -> Response[bytes]:
            def action() -> tuple[int, Any]:
                client_id = sandbox.authorize(request.headers)
                if isinstance(raw, _Problem):
                    raise raw
                return 202, {"requestId": run(client_id)}

            return guarded(route, action)

        async def read_body(request: Request[Any, Any, Any]) -> Any:
            try:
                return await body_of(request)
            except _Problem as exc:
                return exc

        @post("/claims")
        async def post_claim(request: Request[Any, Any, Any]) -> Response[bytes]:
            raw = await read_body(request)
            return write("POST /claims", request, raw, lambda c: sandbox.submit_claim(c, raw))

        @post("/claims/{number:str}/payments")
        async def post_payment(request: Request[Any, Any, Any], number: FromPath[str]) -> Response[bytes]:
            raw = await read_body(request)
            return write(
                "POST /claims/{n}/payments", request, raw, lambda c: sandbox.report_payment(c, number, raw)
            )

        @post("/claims/{number:str}/creditWaivers")
        async def post_credit_waiver(
            request: Request[Any, Any, Any], number: FromPath[str]
        ) -> Response[bytes]:
            raw = await read_body(request)
            return write(
                "POST /claims/{n}/creditWaivers",
                request,
                raw,
                lambda c: sandbox.add_credit_waiver(c, number, raw),
            )

        @post("/claims/{number:str}/recalls")
        async def post_recall(request: Request[Any, Any, Any], number: FromPath[str]) -> Response[bytes]:
            raw = await read_body(request)
            return write("POST /claims/{n}/recalls", request, raw, lambda c: sandbox.recall(c, number, raw))

        @post("/claims/{number:str}/accountingDocuments/cancellations")
        async def post_cancellation(
            request: Request[Any, Any, Any], number: FromPath[str]
        ) -> Response[bytes]:
            raw = await read_body(request)
            return write(
                "POST /claims/{n}/accountingDocuments/cancellations",
                request,
                raw,
                lambda c: sandbox.cancel_document(c, number, raw),
            )

        @get("/claims/search", sync_to_thread=False)
        def search(request: Request[Any, Any, Any]) -> Response[bytes]:
            return guarded(
                "GET /claims/search",
                lambda: (200, sandbox.search(sandbox.authorize(request.headers), request.query_params)),
            )

        @get("/claims/{number:str}/invoices", sync_to_thread=False)
        def invoices(request: Request[Any, Any, Any], number: FromPath[str]) -> Response[bytes]:
            def action() -> tuple[int, Any]:
                claim = sandbox.claim(sandbox.authorize(request.headers), number)
                return 200, sandbox.page([_invoice_view(i) for i in claim.invoices], request.query_params)

            return guarded("GET /claims/{n}/invoices", action)

        @get("/transactions", sync_to_thread=False)
        def transactions(request: Request[Any, Any, Any]) -> Response[bytes]:
            return guarded(
                "GET /transactions",
                lambda: (200, sandbox.feed(sandbox.authorize(request.headers), request.query_params)),
            )

        @get("/_sandbox/riverty/calls", sync_to_thread=False)
        def calls() -> dict[str, int]:
            return dict(sandbox.calls)

        @put("/_sandbox/riverty/held", status_code=204)
        async def hold(request: Request[Any, Any, Any]) -> None:
            sandbox.held = bool((await body_of(request)).get("held"))

        def control(action: Callable[[], Any]) -> Response[bytes]:
            try:
                sandbox.settle()
                action()
            except _Problem as exc:
                return answer(exc.status, {"message": exc.message, "code": exc.code})
            return Response(content=b"", status_code=204)

        @post("/_sandbox/riverty/claims/{number:str}/collected")
        async def collected(request: Request[Any, Any, Any], number: FromPath[str]) -> Response[bytes]:
            raw = await body_of(request)
            return control(lambda: sandbox.collected(number, raw))

        @post("/_sandbox/riverty/claims/{number:str}/documents/{document:str}/cancellation")
        async def cancel_collected(number: FromPath[str], document: FromPath[str]) -> Response[bytes]:
            return control(lambda: sandbox.cancel_collected(number, document))

        @post("/_sandbox/riverty/claims/{number:str}/status")
        async def set_status(request: Request[Any, Any, Any], number: FromPath[str]) -> Response[bytes]:
            raw = await body_of(request)
            return control(lambda: sandbox.set_status(number, str(raw.get("status"))))

        app = Litestar(
            route_handlers=[
                token,
                post_claim,
                post_payment,
                post_credit_waiver,
                post_recall,
                post_cancellation,
                search,
                invoices,
                transactions,
                calls,
                hold,
                collected,
                cancel_collected,
                set_status,
                *self.kit.routes(),
            ],
            openapi_config=None,
        )
        return app


# --- helpers ---------------------------------------------------------------------------------


def _builtins(raw: Any) -> Any:
    return msgspec.json.decode(_ENCODER.encode(raw))  # Decimals → numbers, as the agency received them


def _convert(raw: Any, kind: type[Any]) -> Any:
    try:
        return msgspec.convert(raw, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise _Problem(400, f"invalid request: {exc}") from exc


def _numbers_only(raw: Any, at: str = "$") -> None:
    """Riverty's amounts are JSON numbers: a string amount is a schema error there too."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key in _AMOUNT_KEYS and (isinstance(value, bool) or not isinstance(value, int | Decimal)):
                raise _Problem(400, f"invalid request: {at}.{key} must be a number")
            _numbers_only(value, f"{at}.{key}")
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            _numbers_only(value, f"{at}[{index}]")


def _check_amount(field: str, amount: Decimal) -> None:
    if amount <= 0:
        raise _Problem(400, f"{field}: negative amounts or 0 amounts are not allowed")
    if len(str(amount)) > 12:
        raise _Problem(400, f"{field}: max length 12")


def _claim_invoices(body: _ClaimIn) -> list[_Invoice]:
    if not body.contracts or not any(c.invoices for c in body.contracts):
        raise _Problem(400, "a claim needs at least one contract with invoices")
    if body.customer.type not in ("PRIVATE", "COMPANY"):
        raise _Problem(400, "customer.type must be PRIVATE or COMPANY")
    costs = {c.invoice_number: c for c in body.costs}
    interests = {i.invoice_number: i for i in body.interests}
    invoices: list[_Invoice] = []
    today = dt.date.today()
    for contract in body.contracts:
        for item in contract.invoices:
            if not 1 <= len(item.invoice_number) <= 40:
                raise _Problem(400, "invoiceNumber: 1 to 40 characters")
            if not _CURRENCY.match(item.currency):
                raise _Problem(400, f"currency {item.currency!r} is not ISO 4217")
            _check_amount("originalAmount", item.original_amount)
            _check_amount("remainingAmount", item.remaining_amount)
            cost = costs.get(item.invoice_number)
            if cost is not None:
                _check_amount("costs.amount", cost.amount)
            invoices.append(
                _Invoice(
                    number=item.invoice_number,
                    reference_number=item.reference_number,
                    invoice_date=item.invoice_date,
                    due_date=item.due_date,
                    original=item.original_amount,
                    remaining=item.remaining_amount,
                    currency=item.currency,
                    claim_type=item.claim_type,
                    description=item.description,
                    properties=item.additional_properties,
                    placement_date=today,
                    costs=None if cost is None else cost.amount,
                    interest=interests.get(item.invoice_number),
                )
            )
    if len({i.number for i in invoices}) != len(invoices):
        raise _Problem(400, "invoice numbers repeat")
    if len({i.currency for i in invoices}) != 1:
        raise _Problem(400, "all invoices of a claim share one currency")
    return invoices


def _writable(claim: _Claim) -> None:
    if claim.status not in ("PROCESSING", "PAUSED"):
        raise _Problem(409, f"claim {claim.number} is {claim.status}", "CLAIM_NOT_ACTIVE")


def _invoice(claim: _Claim, number: str) -> _Invoice:
    for invoice in claim.invoices:
        if invoice.number == number:
            return invoice
    raise _Problem(404, f"claim {claim.number} has no invoice {number}", "INVOICE_NOT_FOUND")


def _allocate(claim: _Claim, amount: Decimal, asked: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """Explicit allocations must add up and fit; none = oldest due date first (reading)."""
    if asked:
        if sum(a for _, a in asked) != amount:
            raise _Problem(422, "allocateTo does not add up to the amount", "ALLOCATION_MISMATCH")
        for number, part in asked:
            if part > _invoice(claim, number).remaining:
                raise _Problem(
                    422, f"allocation exceeds the open amount of {number}", "AMOUNT_EXCEEDS_OPEN_AMOUNT"
                )
        return asked
    if amount > sum(i.remaining for i in claim.invoices):
        raise _Problem(422, "payment exceeds the open amount of the claim", "AMOUNT_EXCEEDS_OPEN_AMOUNT")
    allocations = []
    left = amount
    for invoice in sorted(claim.invoices, key=lambda i: (i.due_date, i.number)):
        part = min(left, invoice.remaining)
        if part > 0:
            allocations.append((invoice.number, part))
            left -= part
    return allocations


def _maybe_paid(claim: _Claim) -> list[dict[str, Any]]:
    if claim.status != "CLOSED" and all(i.remaining == 0 for i in claim.invoices):
        claim.status, claim.closing_reason = "CLOSED", "PAID"
        return [{"type": "CLOSING", "status": "CLOSED"}]
    return []


def _document_entry(doc: _Document) -> dict[str, Any]:
    """An ACCOUNTING_DOCUMENT entry of /transactions (module doc: the reading of its members)."""
    return {
        "type": "ACCOUNTING_DOCUMENT",
        # a cancellation names the document it cancels
        "documentNumber": doc.cancels or doc.number,
        "documentType": doc.type,
        "amount": doc.amount,
        "currency": doc.currency,
        "date": doc.date.isoformat(),
        "allocateTo": [{"invoiceNumber": n, "amount": a} for n, a in doc.allocations],
    }


def _int_param(query: Any, name: str, default: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise _Problem(400, f"{name} must be a positive integer")
    return int(value)


def _time_param(query: Any, name: str) -> dt.datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Problem(400, f"{name} must be an ISO 8601 date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _summary(claim: _Claim) -> dict[str, Any]:
    out: dict[str, Any] = {
        "claimNumber": claim.number,
        "status": claim.status,
        "customerNumber": claim.customer.customer_number,
        "contractNumbers": claim.contract_numbers,
        "currency": claim.currency,
        "createdAt": claim.created_at,
    }
    if claim.closing_reason is not None:
        out["closingReason"] = claim.closing_reason
    return out


def _invoice_view(invoice: _Invoice) -> dict[str, Any]:
    out: dict[str, Any] = {
        "invoiceNumber": invoice.number,
        "invoiceDate": invoice.invoice_date.isoformat(),
        "dueDate": invoice.due_date.isoformat(),
        "remainingAmount": Decimal(0) if invoice.recalled else invoice.remaining,
        "originalAmount": invoice.original,
        "currency": invoice.currency,
        "placementDate": invoice.placement_date.isoformat(),
        "claimType": invoice.claim_type,
        "disputed": False,
        "additionalProperties": [{"key": p.key, "value": p.value} for p in invoice.properties],
    }
    if invoice.reference_number is not None:
        out["referenceNumber"] = invoice.reference_number
    if invoice.description is not None:
        out["description"] = invoice.description
    if invoice.costs is not None:
        out["costs"] = {
            "amount": Decimal(0) if invoice.recalled else invoice.costs,
            "currency": invoice.currency,
        }
    if invoice.interest is not None:
        calculation: dict[str, Any] = {"type": invoice.interest.type, "rate": invoice.interest.rate}
        if invoice.interest.last_calculation_date is not None:
            calculation["lastCalculationDate"] = invoice.interest.last_calculation_date.isoformat()
        out["interestCalculation"] = calculation
    return out


def build_sandbox(**options: Any) -> RivertySandbox:
    """A sandbox whose state tests can also read directly (same process)."""
    return RivertySandbox(**options)


def create_app() -> Any:
    """The ready sandbox app with the demo client (`DEMO_CLIENT_ID` / `DEMO_CLIENT_SECRET`)."""
    return build_sandbox().app
