"""A faithful simulator of Intrum's CPS-API V1, for tests, the demo and benchmarks.

What it does, each as the document says (sections of `intrum-cps-api-v1.md` in brackets):
- OAuth2 client credentials at Keycloak's token path, tokens of 300 s [Authentication]; a missing,
  unknown or expired token → 401 `{"message":"Access denied"}`; a read-only client's POST → 403.
- Strict bodies [Limitations: "will reject loosely defined JSON payloads"]: unknown members,
  wrong types, amounts sent as strings, fractions of a minor unit → 422 `{"message": ...}`.
- Idempotent POSTs [Idempotency]: a repeated `Idempotency-Key` (per client) within 7 days gets the
  first answer again — whatever the body, since "the API will return the original response from
  the first submission rather than executing the operation again".
- Asynchronous processing [Glossary, tracking]: every POST answers 202 `{trackingId}`; the
  request goes REGISTERED → IN_PROGRESS → COMPLETED | FAILED, one step per read of its
  `/tracking` (after the read is answered) and, when `step_seconds` is set, one step per
  `step_seconds` as well. Its effect (a case, a payment, ...) happens when it completes.
- A registration FAILS when the customer's reference or name starts with "REJECT" — the
  sandbox's stand-in for Intrum refusing a debtor.
- Cursor pagination with `limit` ≤ 100, `startingAfter` / `endingBefore`, `hasMore` [Pagination].
- Rate limits per client id (100/min, 10,000/day by default) → 429 with `Retry-After`,
  `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` [Rate Limiting]; the
  X-RateLimit-* headers come on every answer so that clients can throttle ahead of a 429.
- `/portfolio/payments` holds what the document says it holds: "journalized payment transactions
  and payment reversals collected by Intrum". Payments the creditor reports (`/invoices/payment`)
  lower the invoices' remaining amounts (seen in `/invoices/query` and `/portfolio/statusUpdate`)
  but are never journalized there. Intrum's own collections are journalized on the day they
  happen (Intrum books them a day later; the sandbox does not make tests wait).
- `/portfolio/statusUpdate` lists an invoice again whenever its snapshot changes (a payment, a
  credit note, a closing); `mainStatusCode` is the case's aggregated status, `closingCode` the
  invoice's own.

Sandbox-only routes (never faulted): `/_sandbox/faults`, `/_sandbox/ledger`, `/_sandbox/reset`
and `/_sandbox/activity` from `adapters.sandbox_kit`; `POST /_sandbox/intrum/collections`
(Intrum collected a payment from a debtor), `POST /_sandbox/intrum/collections/reversal`
(Intrum reverses one of its collections, e.g. a bounced debit), `POST /_sandbox/intrum/closings`
(Intrum closes a case: every open invoice gets a closing code), and `GET /_sandbox/intrum/clients`
(requests per client id). The activity step collects a quarter of the principal of the open
invoice that changed least recently. Every write carried out is in the ledger, once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeVar, cast

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.datastructures import State

from adapters.intrum.wire import (
    ENCODER,
    IntrumAccepted,
    IntrumCase,
    IntrumCasePage,
    IntrumClosingCode,
    IntrumCreditNote,
    IntrumCustomer,
    IntrumInvoice,
    IntrumInvoiceAttributeInfo,
    IntrumMainStatus,
    IntrumPayment,
    IntrumPaymentRecord,
    IntrumPaymentReversal,
    IntrumPaymentsPage,
    IntrumProductHistory,
    IntrumRegistration,
    IntrumRegistrationInvoice,
    IntrumStatusHistory,
    IntrumStatusUpdate,
    IntrumStatusUpdatePage,
    IntrumToken,
    IntrumTracking,
    IntrumTrackingTransaction,
    IntrumWithdrawal,
)
from adapters.sdk import ASGIApp, MoneyError, SandboxState, from_major, is_currency, to_major, with_faults

__all__ = [
    "API_PREFIX",
    "DEMO_CLIENTS",
    "TOKEN_PATH",
    "SandboxClient",
    "SandboxOptions",
    "agency_config",
    "create_app",
    "demo_credentials",
    "demo_secrets",
]

API_PREFIX = "/restServices/v1"
TOKEN_PATH = "/auth/realms/debt-collection-api/protocol/openid-connect/token"


class SandboxClient(msgspec.Struct, frozen=True, kw_only=True):
    """An OAuth2 client of the sandbox. Clients of one `account` share its portfolio."""

    client_id: str
    secret: str
    account: str
    read_only: bool = False


DEMO_CLIENTS: tuple[SandboxClient, ...] = (
    SandboxClient(client_id="demo-rw", secret="demo-rw-secret", account="demo"),
    SandboxClient(client_id="demo-ro", secret="demo-ro-secret", account="demo", read_only=True),
)


class SandboxOptions(msgspec.Struct, kw_only=True):
    per_minute: int = 100
    per_day: int = 10_000
    #: length of the short rate-limit window (60 = "per minute"; tests scale it down)
    window_seconds: float = 60.0
    token_ttl_seconds: int = 300
    #: asynchronous processing also advances one step per this many seconds (None: on reads only)
    step_seconds: float | None = 0.5
    idempotency_ttl_seconds: float = 7 * 24 * 3600


def agency_config(base_url: str) -> dict[str, Any]:
    """The `[agencies.intrum]` config section for a sandbox served at `base_url`."""
    root = base_url.rstrip("/")
    return {"base_url": root + API_PREFIX, "token_url": root + TOKEN_PATH, "poll_interval_seconds": 1}


def demo_credentials() -> dict[str, Any]:
    """The demo tenant's credential section: read/write and read-only clients, secrets by env."""
    return {
        "client_id": "demo-rw",
        "client_secret_env": "INTRUM_DEMO_CLIENT_SECRET",
        "read_client_id": "demo-ro",
        "read_client_secret_env": "INTRUM_DEMO_READ_CLIENT_SECRET",
    }


def demo_secrets() -> dict[str, str]:
    return {"INTRUM_DEMO_CLIENT_SECRET": "demo-rw-secret", "INTRUM_DEMO_READ_CLIENT_SECRET": "demo-ro-secret"}


def create_app(
    *,
    clients: Iterable[SandboxClient] = DEMO_CLIENTS,
    options: SandboxOptions | None = None,
    state: SandboxState | None = None,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    """A ready Intrum sandbox (ASGI app) with the demo clients unless told otherwise."""
    state = state or SandboxState()
    sim = IntrumSimulator(clients, options or SandboxOptions(), state, clock)
    state.on_activity(sim.activity_step)
    state.on_poison(sim.poison)
    app = Litestar(
        route_handlers=[
            _token_route(sim),
            _api_router(sim),
            *_collections_route(sim),
            _clients_route(sim),
            *state.routes(),
        ],
        state=State({"intrum": sim}),
        openapi_config=None,
        debug=False,
    )
    return with_faults(cast(ASGIApp, app), state)


# --- the simulated agency ------------------------------------------------------------------------

T = TypeVar("T")
_Step = Literal["REGISTERED", "IN_PROGRESS", "COMPLETED", "FAILED"]
_AMOUNT_FIELDS = frozenset(
    {
        "invoiceClaimedAmount",
        "invoiceClientCosts",
        "interestRate",
        "totalPaymentAmount",
        "paymentAmount",
        "creditNoteAmount",
    }
)
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_REJECT = "REJECT"
_DENIED = {"message": "Access denied"}


class _Refused(Exception):
    """A request Intrum refuses: 422 {"message"} (or another status)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class _Invoice:
    number: str
    account: str
    case_number: int
    invoice_date: dt.date
    due_date: dt.date
    currency: str
    claimed: Decimal
    costs: Decimal
    interest_rate: Decimal | None
    attributes: list[tuple[str, str]]
    remaining: Decimal
    remaining_costs: Decimal
    updated_at: dt.datetime
    closing_code: int | None = None

    @property
    def item_id(self) -> str | None:
        return next((value for kind, value in self.attributes if kind == "itemId"), None)


@dataclass
class _Case:
    number: int
    account: str
    opened: dt.date
    customer: IntrumCustomer
    currency: str
    concern: str | None
    invoices: list[str]
    closing_code: int | None = None
    closing_date: dt.date | None = None


@dataclass
class _ReportedPayment:
    payment_id: str
    account: str
    payment_date: dt.date
    #: (invoice number, amount) as reported
    allocations: list[tuple[str, Decimal]]
    #: (invoice number, principal part, costs part) as booked on completion
    booked: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)
    completed: bool = False
    reversal_pending: bool = False
    reversed: bool = False


@dataclass
class _Transaction:
    identifiers: dict[str, str | int]
    status: _Step = "REGISTERED"
    message: str = "Request registered"
    updated_at: float = 0.0


@dataclass
class _Tracking:
    id: int
    client_id: str
    created_at: float
    transactions: list[_Transaction]
    #: carries the request out when processing ends; returns (ok, message, extra identifiers)
    complete: Callable[[], tuple[bool, str, dict[str, str | int]]]
    step: int = 0
    last_step_at: float = 0.0


@dataclass
class _Window:
    start: float
    count: int = 0


class IntrumSimulator:
    """Intrum's state and rules. Handlers are synchronous: each request is atomic."""

    def __init__(
        self,
        clients: Iterable[SandboxClient],
        options: SandboxOptions,
        state: SandboxState,
        clock: Callable[[], float],
    ) -> None:
        self.clients = {client.client_id: client for client in clients}
        self.options = options
        self.state = state
        self.clock = clock
        self.tokens: dict[str, tuple[str, float]] = {}
        self.idempotency: dict[tuple[str, str], tuple[float, int, bytes]] = {}
        self.windows: dict[tuple[str, str], _Window] = {}
        self.cases: dict[int, _Case] = {}
        self.invoices: dict[tuple[str, str], _Invoice] = {}
        self.reserved: set[tuple[str, str]] = set()  # invoice numbers of registrations in progress
        self.payments: dict[tuple[str, str], _ReportedPayment] = {}
        self.records: list[tuple[str, IntrumPaymentRecord]] = []
        self.trackings: dict[int, _Tracking] = {}
        self.open_trackings: dict[int, _Tracking] = {}
        self.requests_by_client: dict[str, int] = {}
        self._case_numbers = itertools.count(100001)
        self._tracking_ids = itertools.count(700001)
        self._record_ids = itertools.count(1)
        self._collection_ids = itertools.count(1)

    # --- time ---

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(self.clock()), dt.UTC)

    def today(self) -> dt.date:
        return self.now().date()

    # --- auth, rate limits, idempotency ---

    def issue_token(self, form: Mapping[str, str]) -> tuple[int, Any]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"}
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client.secret, form.get("client_secret", "")):
            return 401, {
                "error": "invalid_client",
                "error_description": "Invalid client or Invalid client credentials",
            }
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (client.client_id, self.clock() + self.options.token_ttl_seconds)
        return 200, IntrumToken(access_token=token, expires_in=self.options.token_ttl_seconds)

    def authenticate(self, authorization: str | None) -> SandboxClient | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            return None
        client_id, expires_at = self.tokens[token]
        if expires_at <= self.clock():
            del self.tokens[token]
            return None
        return self.clients.get(client_id)

    def take_rate(self, client_id: str) -> tuple[bool, dict[str, str]]:
        """One request against the client's minute and day windows; the headers to send."""
        now = self.clock()
        limits = (
            ("short", self.options.per_minute, self.options.window_seconds),
            ("day", self.options.per_day, 86400.0),
        )
        verdicts = []
        for name, limit, length in limits:
            window = self.windows.get((client_id, name))
            if window is None or now >= window.start + length:
                window = self.windows[(client_id, name)] = _Window(
                    start=now - (now % length) if name == "day" else now
                )
            verdicts.append((limit, window, window.start + length))
        exhausted = [(limit, window, reset) for limit, window, reset in verdicts if window.count >= limit]
        if exhausted:
            limit, _, reset = max(exhausted, key=lambda verdict: verdict[2])
            return False, {
                "Retry-After": str(max(1, math.ceil(reset - now))),
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(reset)),
            }
        for _, window, _ in verdicts:
            window.count += 1
        limit, window, reset = verdicts[0]
        return True, {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - window.count)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }

    def replay(self, client_id: str, key: str | None) -> tuple[int, bytes] | None:
        if not key:
            return None
        stored = self.idempotency.get((client_id, key))
        if stored is None:
            return None
        at, status, body = stored
        if self.clock() - at >= self.options.idempotency_ttl_seconds:
            del self.idempotency[(client_id, key)]  # "After 7 days, the key expires"
            return None
        return status, body

    def remember(self, client_id: str, key: str | None, status: int, body: bytes) -> None:
        if key:
            self.idempotency[(client_id, key)] = (self.clock(), status, body)

    # --- asynchronous processing ---

    def settle(self) -> None:
        """Advance processing by the time that has passed (when `step_seconds` is set)."""
        step = self.options.step_seconds
        if step is None:
            return
        now = self.clock()
        for tracking in sorted(self.open_trackings.values(), key=lambda t: t.id):
            while tracking.id in self.open_trackings and now - tracking.last_step_at >= step:
                self.advance(tracking, tracking.last_step_at + step)

    def advance(self, tracking: _Tracking, at: float) -> None:
        tracking.step += 1
        tracking.last_step_at = at
        if tracking.step == 1:
            for transaction in tracking.transactions:
                transaction.status, transaction.message, transaction.updated_at = (
                    "IN_PROGRESS",
                    "In progress",
                    at,
                )
            return
        ok, message, identifiers = tracking.complete()
        for transaction in tracking.transactions:
            transaction.status = "COMPLETED" if ok else "FAILED"
            transaction.message = message
            transaction.updated_at = at
            transaction.identifiers.update(identifiers)
        del self.open_trackings[tracking.id]

    def accept(
        self,
        client: SandboxClient,
        identifiers: Sequence[dict[str, str | int]],
        complete: Callable[[], tuple[bool, str, dict[str, str | int]]],
    ) -> IntrumAccepted:
        now = self.clock()
        tracking = _Tracking(
            id=next(self._tracking_ids),
            client_id=client.client_id,
            created_at=now,
            transactions=[_Transaction(identifiers=dict(ids), updated_at=now) for ids in identifiers or [{}]],
            complete=complete,
            last_step_at=now,
        )
        self.trackings[tracking.id] = tracking
        self.open_trackings[tracking.id] = tracking
        return IntrumAccepted(tracking_id=tracking.id, message="Request accepted for processing")

    def read_tracking(self, client: SandboxClient, tracking_id: int) -> IntrumTracking:
        tracking = self.trackings.get(tracking_id)
        if tracking is None or tracking.client_id != client.client_id:
            raise _Refused(f"Unknown trackingId {tracking_id}")
        answer = IntrumTracking(
            tracking_id=tracking.id,
            created_at=_timestamp(tracking.created_at),
            transactions=[
                IntrumTrackingTransaction(
                    status=t.status,
                    message=t.message,
                    last_updated=_timestamp(t.updated_at),
                    identifiers=dict(t.identifiers),
                    errors=t.message if t.status == "FAILED" else None,
                )
                for t in tracking.transactions
            ],
        )
        if tracking.id in self.open_trackings:
            self.advance(tracking, self.clock())  # processing moves on once it has been looked at
        return answer

    # --- writes ---

    def register(self, client: SandboxClient, body: IntrumRegistration) -> IntrumAccepted:
        account = client.account
        if not is_currency(body.currency):
            raise _Refused(f"currency {body.currency!r} is not an ISO-4217 code")
        for name in ("phone_number", "mobile_number"):
            value = getattr(body.customer, name)
            if value is not None and not _E164.match(value):
                raise _Refused(f"customer.{_camel(name)} must be in E.164 format")
        numbers: set[str] = set()
        item_ids: set[str] = set()
        for index, invoice in enumerate(body.invoices):
            at = f"invoices[{index}]"
            number = invoice.invoice_number
            if number in numbers or (account, number) in self.invoices or (account, number) in self.reserved:
                raise _Refused(f"{at}.invoiceNumber {number!r} already exists in the portfolio")
            numbers.add(number)
            _amount(
                invoice.invoice_claimed_amount, body.currency, f"{at}.invoiceClaimedAmount", positive=True
            )
            if invoice.invoice_client_costs is not None:
                _amount(
                    invoice.invoice_client_costs, body.currency, f"{at}.invoiceClientCosts", positive=False
                )
            for attribute in invoice.invoice_attributes or ():
                if attribute.attribute_type == "itemId":
                    value = attribute.attribute_value
                    if value in item_ids or any(i.item_id == value for i in self._account_invoices(account)):
                        raise _Refused(f"{at}: itemId {value!r} already exists in the portfolio")
                    item_ids.add(value)
        self.reserved.update((account, number) for number in numbers)

        def complete() -> tuple[bool, str, dict[str, str | int]]:
            self.reserved.difference_update((account, number) for number in numbers)
            customer = body.customer
            names = (
                customer.customer_reference,
                customer.last_name,
                customer.first_name,
                customer.company_name,
            )
            if any(name and name.upper().startswith(_REJECT) for name in names):
                return False, f"Registration rejected: customer {customer.customer_reference} was refused", {}
            case = self._open_case(account, body)
            return True, "Case registered", {"caseNumber": case.number}

        return self.accept(client, [{"invoiceNumber": i.invoice_number} for i in body.invoices], complete)

    def _open_case(self, account: str, body: IntrumRegistration) -> _Case:
        now = self.now()
        case = _Case(
            number=next(self._case_numbers),
            account=account,
            opened=now.date(),
            customer=body.customer,
            currency=body.currency,
            concern=body.claim_concern,
            invoices=[invoice.invoice_number for invoice in body.invoices],
        )
        self.cases[case.number] = case
        for invoice in body.invoices:
            self.invoices[(account, invoice.invoice_number)] = _new_invoice(invoice, case, now)
        return case

    def report_payment(self, client: SandboxClient, body: IntrumPayment) -> IntrumAccepted:
        account = client.account
        if (account, body.payment_id) in self.payments:
            raise _Refused(f"paymentId {body.payment_id!r} was already reported")
        allocations: list[tuple[str, Decimal]] = []
        for index, part in enumerate(body.invoices):
            invoice = self._find_invoice(account, part.invoice_number, part.item_id, f"invoices[{index}]")
            _amount(part.payment_amount, invoice.currency, f"invoices[{index}].paymentAmount", positive=True)
            if part.payment_amount > invoice.remaining + invoice.remaining_costs:
                raise _Refused(f"invoices[{index}].paymentAmount exceeds the open amount of {invoice.number}")
            allocations.append((invoice.number, part.payment_amount))
        total = sum((amount for _, amount in allocations), Decimal(0))
        if body.total_payment_amount <= 0:
            raise _Refused("totalPaymentAmount must be a strictly positive number")
        if body.total_payment_amount != total:
            raise _Refused("totalPaymentAmount must equal the sum of the invoices' paymentAmount")
        payment = _ReportedPayment(body.payment_id, account, body.payment_date, allocations)
        self.payments[(account, body.payment_id)] = payment

        def complete() -> tuple[bool, str, dict[str, str | int]]:
            for number, amount in allocations:
                invoice = self.invoices[(account, number)]
                if invoice.closing_code is not None or amount > invoice.remaining + invoice.remaining_costs:
                    del self.payments[(account, body.payment_id)]
                    return False, f"Invoice {number} no longer has {amount} open", {}
            for number, amount in allocations:
                invoice = self.invoices[(account, number)]
                principal = min(amount, invoice.remaining)
                costs = amount - principal
                invoice.remaining -= principal
                invoice.remaining_costs -= costs
                invoice.updated_at = self.now()
                # Not journalized: /portfolio/payments holds what Intrum collected, not this.
                payment.booked.append((number, principal, costs))
                if invoice.remaining == 0 and invoice.remaining_costs == 0:
                    self._close_invoice(invoice, IntrumClosingCode.PAID)
            payment.completed = True
            return True, "Payment booked", {}

        return self.accept(client, [{"invoiceNumber": number} for number, _ in allocations], complete)

    def reverse_payment(self, client: SandboxClient, body: IntrumPaymentReversal) -> IntrumAccepted:
        account = client.account
        payment = self.payments.get((account, body.payment_id))
        if payment is None:
            raise _Refused(f"paymentId {body.payment_id!r} does not exist")
        if payment.reversed or payment.reversal_pending:
            raise _Refused(f"paymentId {body.payment_id!r} is already reversed")
        payment.reversal_pending = True

        def complete() -> tuple[bool, str, dict[str, str | int]]:
            payment.reversal_pending = False
            if not payment.completed:
                return False, f"Payment {body.payment_id} is not booked yet", {}
            for number, principal, costs in payment.booked:
                invoice = self.invoices[(account, number)]
                invoice.remaining += principal
                invoice.remaining_costs += costs
                invoice.updated_at = self.now()
                if invoice.closing_code == IntrumClosingCode.PAID:
                    self._reopen_invoice(invoice)
            payment.reversed = True
            return True, "Payment reversed", {}

        return self.accept(client, [{"paymentId": body.payment_id}], complete)

    def add_credit_note(self, client: SandboxClient, body: IntrumCreditNote) -> IntrumAccepted:
        account = client.account
        invoice = self._find_invoice(account, body.invoice_number, body.item_id, "")
        _amount(body.credit_note_amount, invoice.currency, "creditNoteAmount", positive=True)
        # "Validated to ensure the credited amount does not exceed the remaining invoice amount"
        if body.credit_note_amount > invoice.remaining:
            raise _Refused(f"creditNoteAmount exceeds the remaining amount of invoice {invoice.number}")

        def complete() -> tuple[bool, str, dict[str, str | int]]:
            if invoice.closing_code is not None or body.credit_note_amount > invoice.remaining:
                return False, f"Invoice {invoice.number} no longer has {body.credit_note_amount} open", {}
            invoice.remaining -= body.credit_note_amount
            invoice.updated_at = self.now()
            if invoice.remaining == 0 and invoice.remaining_costs == 0:
                self._close_invoice(invoice, IntrumClosingCode.CREDITED)
            return True, "Credit note booked", {}

        return self.accept(client, [{"invoiceNumber": invoice.number}], complete)

    def withdraw(self, client: SandboxClient, body: IntrumWithdrawal) -> IntrumAccepted:
        invoice = self._find_invoice(client.account, body.invoice_number, body.item_id, "")

        def complete() -> tuple[bool, str, dict[str, str | int]]:
            if invoice.closing_code is not None:
                return False, f"Invoice {invoice.number} is already closed", {}
            # "If the withdrawn invoice is the last open invoice in a case, the case is closed"
            self._close_invoice(invoice, IntrumClosingCode.WITHDRAWN_BY_CLIENT)
            return True, "Invoice withdrawn", {}

        return self.accept(
            client, [{"invoiceNumber": invoice.number, "caseNumber": invoice.case_number}], complete
        )

    def collect(
        self, account: str, case_number: int, invoice_number: str, amount: Decimal
    ) -> IntrumPaymentRecord:
        """A payment Intrum collected from the debtor (sandbox control)."""
        invoice = self.invoices.get((account, invoice_number))
        if invoice is None or invoice.case_number != case_number:
            raise _Refused(f"case {case_number} has no invoice {invoice_number!r}")
        _amount(amount, invoice.currency, "amount", positive=True)
        if amount > invoice.remaining + invoice.remaining_costs:
            raise _Refused("amount exceeds the open amount")
        principal = min(amount, invoice.remaining)
        invoice.remaining -= principal
        invoice.remaining_costs -= amount - principal
        record = self._journalize(
            account,
            f"INTRUM-{next(self._collection_ids)}",
            invoice,
            principal,
            amount - principal,
            self.today(),
            "PAYMENT",
        )
        if invoice.remaining == 0 and invoice.remaining_costs == 0:
            self._close_invoice(invoice, IntrumClosingCode.PAID)
        self.state.record("collection", record.int_payment_id or "", msgspec.to_builtins(record))
        return record

    def reverse_collection(self, account: str, int_payment_id: str) -> list[IntrumPaymentRecord]:
        """Intrum takes back one of its own collections (sandbox control): REVERSAL records."""
        collected = [
            record
            for owner, record in self.records
            if owner == account and record.int_payment_id == int_payment_id
        ]
        if not collected or any(record.type == "REVERSAL" for record in collected):
            raise _Refused(f"no collection {int_payment_id!r} to reverse")
        reversals = []
        for record in collected:
            invoice = self.invoices[(account, record.invoice_number or "")]
            invoice.remaining += record.paid_invoice_amount
            invoice.remaining_costs += record.paid_client_cost_amount
            if invoice.closing_code == IntrumClosingCode.PAID:
                self._reopen_invoice(invoice)
            reversals.append(
                self._journalize(
                    account,
                    int_payment_id,
                    invoice,
                    record.paid_invoice_amount,
                    record.paid_client_cost_amount,
                    self.today(),
                    "REVERSAL",
                )
            )
        self.state.record("collection.reversal", int_payment_id, [msgspec.to_builtins(r) for r in reversals])
        return reversals

    def close_case(self, account: str, case_number: int) -> _Case:
        """Intrum ends a case on its own (sandbox control): every open invoice gets a closing code."""
        case = self.cases.get(case_number)
        if case is None or case.account != account:
            raise _Refused(f"no case {case_number}")
        for number in case.invoices:
            invoice = self.invoices[(account, number)]
            if invoice.closing_code is None:
                self._close_invoice(invoice, IntrumClosingCode.UNCOLLECTABLE)
        self.state.record("closing", str(case_number), {"caseNumber": case_number})
        return case

    def activity_step(self) -> IntrumPaymentRecord | None:
        """Intrum's own work as time passes: it collects a quarter of one invoice's principal (at
        least what is open on it) from the debtor — the open invoice that changed least recently."""
        open_invoices = [
            invoice
            for invoice in self.invoices.values()
            if invoice.closing_code is None and invoice.remaining + invoice.remaining_costs > 0
        ]
        if not open_invoices:
            return None
        invoice = min(open_invoices, key=lambda i: (i.updated_at, i.number))
        quarter = to_major(max(1, from_major(invoice.claimed, invoice.currency) // 4), invoice.currency)
        amount = min(quarter, invoice.remaining + invoice.remaining_costs)
        return self.collect(invoice.account, invoice.case_number, invoice.number, amount)

    def poison(self) -> IntrumPaymentRecord:
        """A journalized record no one can read exactly: 0.001 of a currency with two decimals."""
        invoice = next(iter(self.invoices.values()), None)
        record = IntrumPaymentRecord(
            record_id=next(self._record_ids),
            int_payment_id="POISON",
            paid_invoice_amount=Decimal("0.001"),
            currency=invoice.currency if invoice is not None else "EUR",
            case_number=invoice.case_number if invoice is not None else None,
            invoice_number=invoice.number if invoice is not None else None,
            journalization_date=self.today(),
            payment_date=self.today(),
            type="PAYMENT",
        )
        self.records.append((invoice.account if invoice is not None else "demo", record))
        return record

    def _journalize(
        self,
        account: str,
        payment_id: str,
        invoice: _Invoice,
        principal: Decimal,
        costs: Decimal,
        paid_on: dt.date,
        kind: Literal["PAYMENT", "REVERSAL"],
    ) -> IntrumPaymentRecord:
        invoice.updated_at = self.now()
        record = IntrumPaymentRecord(
            record_id=next(self._record_ids),
            int_payment_id=payment_id,
            paid_invoice_amount=principal,
            paid_client_cost_amount=costs,
            currency=invoice.currency,
            case_number=invoice.case_number,
            invoice_number=invoice.number,
            journalization_date=self.today(),
            payment_date=paid_on,
            item_id=invoice.item_id,
            type=kind,
        )
        self.records.append((account, record))
        return record

    def _close_invoice(self, invoice: _Invoice, code: IntrumClosingCode) -> None:
        invoice.closing_code = int(code)
        invoice.updated_at = self.now()
        case = self.cases[invoice.case_number]
        if all(self.invoices[(case.account, n)].closing_code is not None for n in case.invoices):
            case.closing_code, case.closing_date = int(code), self.today()

    def _reopen_invoice(self, invoice: _Invoice) -> None:
        invoice.closing_code = None
        invoice.updated_at = self.now()
        case = self.cases[invoice.case_number]
        case.closing_code = case.closing_date = None

    def _find_invoice(self, account: str, number: str | None, item_id: str | None, at: str) -> _Invoice:
        where = f"{at}." if at else ""
        if not number and not item_id:
            raise _Refused(f"{where}invoiceNumber or {where}itemId is required")
        invoice = self.invoices.get((account, number)) if number else None
        if invoice is None and item_id and not number:
            invoice = next((i for i in self._account_invoices(account) if i.item_id == item_id), None)
        if invoice is None or (item_id and invoice.item_id != item_id):
            raise _Refused(f"{where}no invoice matches invoiceNumber={number!r} itemId={item_id!r}")
        return invoice

    def _account_invoices(self, account: str) -> Iterable[_Invoice]:
        return (invoice for (owner, _), invoice in self.invoices.items() if owner == account)

    # --- reads ---

    def query_cases(self, client: SandboxClient, query: Mapping[str, str]) -> IntrumCasePage:
        limit = _limit(query)
        after, before = _cursor_pair(query, "startingAfter", "endingBefore", int)
        case_number = _param(query, "caseNumber", int)
        customer = query.get("customerReference")
        low, high = _param(query, "minClaimed", Decimal), _param(query, "maxClaimed", Decimal)
        opened_from = _param(query, "caseOpeningDateFrom", dt.date.fromisoformat)
        opened_to = _param(query, "caseOpeningDateTo", dt.date.fromisoformat)
        statuses, products = _flag(query, "addStatusHistory"), _flag(query, "addProductHistory")
        cases = []
        for case in sorted(self.cases.values(), key=lambda c: c.number):
            if case.account != client.account:
                continue
            claimed = self._case_totals(case)[0]
            if (case_number is not None and case.number != case_number) or (
                customer is not None and case.customer.customer_reference != customer
            ):
                continue
            if (low is not None and claimed < low) or (high is not None and claimed > high):
                continue
            if (opened_from and case.opened < opened_from) or (opened_to and case.opened > opened_to):
                continue
            cases.append(case)
        page, has_more = _page(cases, lambda c: c.number, after, before, limit)
        return IntrumCasePage(
            matching_results=[self._case_answer(case, statuses=statuses, products=products) for case in page],
            has_more=has_more,
        )

    def _case_totals(self, case: _Case) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        invoices = [self.invoices[(case.account, number)] for number in case.invoices]
        return (
            sum((i.claimed for i in invoices), Decimal(0)),
            sum((i.costs for i in invoices), Decimal(0)),
            sum((i.remaining for i in invoices), Decimal(0)),
            sum((i.remaining_costs for i in invoices), Decimal(0)),
        )

    def _case_answer(self, case: _Case, *, statuses: bool, products: bool) -> IntrumCase:
        claimed, costs, remaining, remaining_costs = self._case_totals(case)
        main = (
            IntrumMainStatus.CLOSED if case.closing_code is not None else IntrumMainStatus.AMICABLE_COLLECTION
        )
        zero = Decimal(0)
        customer = case.customer
        opened = dt.datetime.combine(case.opened, dt.time(), dt.UTC)
        return IntrumCase(
            case_number=case.number,
            case_opening_date=case.opened,
            customer_reference=customer.customer_reference,
            customer_name=customer.company_name
            or " ".join(filter(None, (customer.last_name, customer.first_name))),
            interest_calculation_date=case.opened,
            claim_concern=case.concern,
            current_product_code=1,
            product_description="Collection",
            current_main_status_code=int(main),
            main_status_description=_MAIN_STATUS_TEXT[main],
            current_detail_status_code=int(main) * 10,
            detail_status_description=_MAIN_STATUS_TEXT[main],
            closing_date=case.closing_date,
            closing_code=case.closing_code,
            closing_code_description=_closing_text(case.closing_code),
            total_claimed_amount=claimed + costs,
            total_claimed_invoice_amount=claimed,
            total_claimed_client_costs_amount=costs,
            total_claimed_interest_amount=zero,
            total_claimed_customer_fees_amount=zero,
            total_claimed_outlays_amount=zero,
            total_remaining_amount=remaining + remaining_costs,
            total_remaining_invoice_amount=remaining,
            total_remaining_client_costs_amount=remaining_costs,
            total_remaining_interest_amount=zero,
            total_remaining_customer_fees_amount=zero,
            total_remaining_outlays_amount=zero,
            invoice_numbers=list(case.invoices),
            status_history=(
                [
                    IntrumStatusHistory(
                        main_status_code=int(main),
                        main_status_description=_MAIN_STATUS_TEXT[main],
                        detail_status_code=int(main) * 10,
                        detail_status_description=_MAIN_STATUS_TEXT[main],
                        detail_status_start_date=opened,
                    )
                ]
                if statuses
                else None
            ),
            product_history=(
                [IntrumProductHistory(product_code=1, product_description="Collection", start_date=opened)]
                if products
                else None
            ),
        )

    def query_invoice(self, client: SandboxClient, query: Mapping[str, str]) -> dict[str, Any]:
        invoice = self._find_invoice(client.account, query.get("invoiceNumber"), query.get("itemId"), "")
        case = self.cases[invoice.case_number]
        main = (
            IntrumMainStatus.CLOSED
            if invoice.closing_code is not None
            else IntrumMainStatus.AMICABLE_COLLECTION
        )
        answer = IntrumInvoice(
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            invoice_number=invoice.number,
            invoice_reason=case.concern,
            currency=invoice.currency,
            interest_rate=invoice.interest_rate,
            invoice_claimed_amount=invoice.claimed,
            invoice_client_costs=invoice.costs,
            invoice_remaining_amount=invoice.remaining,
            invoice_remaining_client_costs=invoice.remaining_costs,
            current_main_status_code=int(main),
            main_status_description=_MAIN_STATUS_TEXT[main],
            current_detail_status_code=int(main) * 10,
            detail_status_description=_MAIN_STATUS_TEXT[main],
            claim_concern=case.concern,
            opening_date=case.opened,
            closing_code=invoice.closing_code,
            closing_code_description=_closing_text(invoice.closing_code),
            current_product_code=1,
            product_description="Collection",
            case_number=case.number,
            customer_reference=case.customer.customer_reference,
            invoice_attributes=[
                IntrumInvoiceAttributeInfo(attribute_type=kind, attribute_value=value)
                for kind, value in invoice.attributes
            ],
        )
        body: dict[str, Any] = msgspec.to_builtins(answer, builtin_types=(Decimal,))
        if not _flag(query, "addInvoiceAttributes"):
            # "By default, the response includes only the invoiceInformation bucket"
            body.pop("invoiceAttributes", None)
        return body

    def query_payments(self, client: SandboxClient, query: Mapping[str, str]) -> IntrumPaymentsPage:
        start = _param(query, "fromJournalizedDate", dt.date.fromisoformat)
        end = _param(query, "toJournalizedDate", dt.date.fromisoformat)
        if start is None or end is None:
            raise _Refused("fromJournalizedDate and toJournalizedDate are required")
        if end < start:
            raise _Refused("toJournalizedDate must not be before fromJournalizedDate")
        if (end - start).days > 99:
            raise _Refused("Maximum allowed window is 100 days")
        limit = _limit(query)
        after, before = _cursor_pair(query, "startingAfter", "endingBefore", int)
        records = [
            record
            for owner, record in self.records
            if owner == client.account
            and record.journalization_date is not None
            and start <= record.journalization_date <= end
        ]
        page, has_more = _page(records, lambda r: r.record_id, after, before, limit)
        return IntrumPaymentsPage(payments=page, has_more=has_more)

    def query_status_updates(self, client: SandboxClient, query: Mapping[str, str]) -> IntrumStatusUpdatePage:
        since = _param(query, "lastUpdatedFrom", _parse_timestamp)
        if since is None:
            raise _Refused("lastUpdatedFrom is required")
        limit = _limit(query)
        after = _timestamp_cursor(query, "startingAfter")
        before = _timestamp_cursor(query, "endingBefore")
        if after and before:
            raise _Refused("Do not send forward and backward cursors in the same request")
        invoices = sorted(
            (i for i in self._account_invoices(client.account) if i.updated_at > since),
            key=lambda i: (i.updated_at, i.number),
        )
        page, has_more = _page(invoices, lambda i: (i.updated_at, i.number), after, before, limit)
        updates = []
        for invoice in page:
            case = self.cases[invoice.case_number]
            # "mainStatusCode: the aggregated status of the case"; closingCode is the invoice's.
            main = (
                IntrumMainStatus.CLOSED
                if case.closing_code is not None
                else IntrumMainStatus.AMICABLE_COLLECTION
            )
            updates.append(
                IntrumStatusUpdate(
                    customer_reference=case.customer.customer_reference,
                    case_number=case.number,
                    invoice_number=invoice.number,
                    invoice_remaining_amount=invoice.remaining,
                    client_costs_remaining_amount=invoice.remaining_costs,
                    closing_code=invoice.closing_code,
                    closing_code_description=_closing_text(invoice.closing_code),
                    product_code=1,
                    product_code_description="Collection",
                    main_status_code=int(main),
                    main_status_description=_MAIN_STATUS_TEXT[main],
                    detail_status_code=int(main) * 10,
                    detail_status_description=_MAIN_STATUS_TEXT[main],
                    last_updated_timestamp=invoice.updated_at,
                )
            )
        return IntrumStatusUpdatePage(updates=updates, has_more=has_more)


_MAIN_STATUS_TEXT = {
    IntrumMainStatus.AMICABLE_COLLECTION: "Amicable collection",
    IntrumMainStatus.LEGAL_COLLECTION: "Legal collection",
    IntrumMainStatus.LONG_TERM_MONITORING: "Long-term monitoring",
    IntrumMainStatus.SUSPENDED: "Suspended",
    IntrumMainStatus.CLOSED: "Closed",
}
_CLOSING_TEXT: dict[int, str] = {
    IntrumClosingCode.PAID: "Paid in full",
    IntrumClosingCode.WITHDRAWN_BY_CLIENT: "Withdrawn by client",
    IntrumClosingCode.UNCOLLECTABLE: "Uncollectable",
    IntrumClosingCode.CREDITED: "Credited in full",
}


def _closing_text(code: int | None) -> str | None:
    return None if code is None else _CLOSING_TEXT.get(code, "Closed")


def _new_invoice(invoice: IntrumRegistrationInvoice, case: _Case, now: dt.datetime) -> _Invoice:
    costs = invoice.invoice_client_costs if invoice.invoice_client_costs is not None else Decimal(0)
    return _Invoice(
        number=invoice.invoice_number,
        account=case.account,
        case_number=case.number,
        invoice_date=invoice.invoice_date,
        due_date=invoice.due_date,
        currency=case.currency,
        claimed=invoice.invoice_claimed_amount,
        costs=costs,
        interest_rate=invoice.interest_rate,
        attributes=[(a.attribute_type, a.attribute_value) for a in invoice.invoice_attributes or ()],
        remaining=invoice.invoice_claimed_amount,
        remaining_costs=costs,
        updated_at=now,
    )


def _amount(value: Decimal, currency: str, name: str, *, positive: bool) -> None:
    try:
        from_major(value, currency)
    except MoneyError:
        raise _Refused(f"{name} {value} has more decimals than {currency} allows") from None
    if value < 0 or (positive and value == 0):
        raise _Refused(f"{name} must be a {'strictly ' if positive else ''}positive number")


def _limit(query: Mapping[str, str]) -> int:
    limit: int | None = _param(query, "limit", int)
    if limit is None:
        return 10  # "default: 10"
    if not 1 <= limit <= 100:
        raise _Refused("limit must be between 1 and 100")
    return limit


def _param(query: Mapping[str, str], name: str, parse: Callable[[str], Any]) -> Any:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return parse(value)
    except ValueError:
        raise _Refused(f"{name} is not valid: {value!r}") from None


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = (query.get(name) or "false").lower()
    if value not in ("true", "false"):
        raise _Refused(f"{name} must be true or false")
    return value == "true"


def _cursor_pair(
    query: Mapping[str, str], after: str, before: str, parse: Callable[[str], Any]
) -> tuple[Any, Any]:
    starting_after, ending_before = _param(query, after, parse), _param(query, before, parse)
    if starting_after is not None and ending_before is not None:
        raise _Refused(f"Do not use {after} and {before} in the same request")
    return starting_after, ending_before


def _timestamp_cursor(query: Mapping[str, str], prefix: str) -> tuple[dt.datetime, str] | None:
    stamp = _param(query, f"{prefix}Timestamp", _parse_timestamp)
    number = query.get(f"{prefix}InvoiceNumber")
    if (stamp is None) != (not number):
        raise _Refused(f"{prefix}Timestamp and {prefix}InvoiceNumber must be used together")
    return (stamp, number) if stamp is not None and number else None


def _page(
    items: list[Any], key: Callable[[Any], Any], after: Any, before: Any, limit: int
) -> tuple[list[Any], bool]:
    """Cursor pagination over `items` sorted by `key` (the endpoint's `sortBy`)."""
    if before is not None:
        earlier = [item for item in items if key(item) < before]
        return earlier[-limit:], len(earlier) > limit
    if after is not None:
        items = [item for item in items if key(item) > after]
    return items[:limit], len(items) > limit


def _parse_timestamp(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _timestamp(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(at), dt.UTC)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _numbers_only(value: Any, path: str = "$") -> None:
    """Amounts must be JSON numbers: a string where the document says `number` is refused."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                key in _AMOUNT_FIELDS
                and item is not None
                and (isinstance(item, bool) or not isinstance(item, int | Decimal))
            ):
                raise _Refused(f"{key} must be a number - at `{path}.{key}`")
            _numbers_only(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _numbers_only(item, f"{path}[{index}]")


_GENERIC = msgspec.json.Decoder(float_hook=Decimal)


def _decode_body(raw: bytes, type: type[T]) -> tuple[T, Any]:
    try:
        generic = _GENERIC.decode(raw)
        _numbers_only(generic)
        return msgspec.json.decode(raw, type=type), generic
    except msgspec.DecodeError as exc:
        raise _Refused(f"Malformed JSON: {exc}") from None
    except msgspec.ValidationError as exc:
        raise _Refused(str(exc)) from None


# --- HTTP ----------------------------------------------------------------------------------------


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=ENCODER.encode(body),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def _token_route(sim: IntrumSimulator) -> Any:
    @post(TOKEN_PATH, status_code=200, name="intrum_token")
    async def token(request: Request[Any, Any, Any]) -> Response[bytes]:
        form = await request.form()
        status, body = sim.issue_token({key: str(value) for key, value in form.items()})
        return _json(status, body)

    return token


_WRITES: dict[str, tuple[type[Any], str]] = {
    "/portfolio/registration": (IntrumRegistration, "registration"),
    "/invoices/payment": (IntrumPayment, "payment"),
    "/invoices/paymentReversal": (IntrumPaymentReversal, "paymentReversal"),
    "/invoices/creditNote": (IntrumCreditNote, "creditNote"),
    "/invoices/withdrawal": (IntrumWithdrawal, "withdrawal"),
}


def _api_router(sim: IntrumSimulator) -> Router:
    async def gate(
        request: Request[Any, Any, Any], *, write: bool
    ) -> tuple[SandboxClient | None, Response[bytes] | None, dict[str, str]]:
        client = sim.authenticate(request.headers.get("authorization"))
        if client is None:
            return None, _json(401, _DENIED), {}
        if write and client.read_only:
            # "Read-only credentials: Limit access to GET endpoints only"
            return None, _json(403, _DENIED), {}
        allowed, headers = sim.take_rate(client.client_id)
        if not allowed:
            return None, _json(429, {"message": "Too Many Requests"}, headers), headers
        sim.requests_by_client[client.client_id] = sim.requests_by_client.get(client.client_id, 0) + 1
        sim.settle()
        return client, None, headers

    async def write(request: Request[Any, Any, Any]) -> Response[bytes]:
        client, refusal, headers = await gate(request, write=True)
        if client is None:
            assert refusal is not None
            return refusal
        key = request.headers.get("idempotency-key")
        replayed = sim.replay(client.client_id, key)
        if replayed is not None:
            return Response(
                content=replayed[1], status_code=replayed[0], media_type="application/json", headers=headers
            )
        path = request.url.path.removeprefix(API_PREFIX)
        body_type, kind = _WRITES[path]
        try:
            if "application/json" not in request.headers.get("content-type", ""):
                raise _Refused("Content-Type must be application/json")
            body, generic = _decode_body(await request.body(), body_type)
            accepted = _dispatch(sim, client, body)
        except _Refused as refused:
            answer = ENCODER.encode({"message": refused.message})
            sim.remember(client.client_id, key, refused.status, answer)
            return Response(
                content=answer, status_code=refused.status, media_type="application/json", headers=headers
            )
        sim.state.record(kind, key or "", generic)
        answer = ENCODER.encode(accepted)
        sim.remember(client.client_id, key, 202, answer)
        return Response(content=answer, status_code=202, media_type="application/json", headers=headers)

    def reader(handler: Callable[[SandboxClient, Mapping[str, str]], Any]) -> Callable[..., Any]:
        async def read(request: Request[Any, Any, Any]) -> Response[bytes]:
            client, refusal, headers = await gate(request, write=False)
            if client is None:
                assert refusal is not None
                return refusal
            query = {key: value for key, value in request.query_params.items()}
            try:
                return _json(200, handler(client, query), headers)
            except _Refused as refused:
                return _json(refused.status, {"message": refused.message}, headers)

        return read

    def tracking(client: SandboxClient, query: Mapping[str, str]) -> IntrumTracking:
        tracking_id = _param(query, "trackingId", int)
        if tracking_id is None:
            raise _Refused("trackingId is required")
        return sim.read_tracking(client, tracking_id)

    handlers: list[Any] = [
        post(path, status_code=202, name=f"intrum_{kind}")(write) for path, (_, kind) in _WRITES.items()
    ]
    for path, handler in (
        ("/portfolio/query", sim.query_cases),
        ("/portfolio/statusUpdate", sim.query_status_updates),
        ("/portfolio/payments", sim.query_payments),
        ("/invoices/query", sim.query_invoice),
        ("/tracking", tracking),
    ):
        handlers.append(get(path, name=f"intrum_get{path.replace('/', '_')}")(reader(handler)))
    return Router(path=API_PREFIX, route_handlers=handlers)


def _dispatch(sim: IntrumSimulator, client: SandboxClient, body: Any) -> IntrumAccepted:
    match body:
        case IntrumRegistration():
            return sim.register(client, body)
        case IntrumPayment():
            return sim.report_payment(client, body)
        case IntrumPaymentReversal():
            return sim.reverse_payment(client, body)
        case IntrumCreditNote():
            return sim.add_credit_note(client, body)
        case IntrumWithdrawal():
            return sim.withdraw(client, body)
    raise _Refused("unsupported request")


class _Collection(msgspec.Struct, kw_only=True, rename="camel"):
    account: str = "demo"
    case_number: int
    invoice_number: str
    amount: Decimal


def _clients_route(sim: IntrumSimulator) -> Any:
    @get("/_sandbox/intrum/clients", name="intrum_clients", sync_to_thread=False)
    def clients() -> dict[str, Any]:
        """API requests served per client id (which of a tenant's accounts did what)."""
        return {"requests": dict(sim.requests_by_client)}

    return clients


class _CollectionReversal(msgspec.Struct, kw_only=True, rename="camel"):
    account: str = "demo"
    int_payment_id: str


class _Closing(msgspec.Struct, kw_only=True, rename="camel"):
    account: str = "demo"
    case_number: int


def _collections_route(sim: IntrumSimulator) -> list[Any]:
    """The agency acting on its own, now: collections, their reversals, closings."""

    @post("/_sandbox/intrum/collections", status_code=201, name="intrum_collections")
    async def collections(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            sim.settle()
            body, _ = _decode_body(await request.body(), _Collection)
            record = sim.collect(body.account, body.case_number, body.invoice_number, body.amount)
        except _Refused as refused:
            return _json(refused.status, {"message": refused.message})
        return _json(201, record)

    @post("/_sandbox/intrum/collections/reversal", status_code=201, name="intrum_collection_reversal")
    async def reversal(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            body, _ = _decode_body(await request.body(), _CollectionReversal)
            records = sim.reverse_collection(body.account, body.int_payment_id)
        except _Refused as refused:
            return _json(refused.status, {"message": refused.message})
        return _json(201, {"payments": records})

    @post("/_sandbox/intrum/closings", status_code=201, name="intrum_closings")
    async def closings(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            sim.settle()
            body, _ = _decode_body(await request.body(), _Closing)
            case = sim.close_case(body.account, body.case_number)
        except _Refused as refused:
            return _json(refused.status, {"message": refused.message})
        return _json(201, {"caseNumber": case.number, "closingCode": case.closing_code})

    return [collections, reversal, closings]
