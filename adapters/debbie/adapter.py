"""The Debbie adapter: the Adapter protocol on top of `client.py` (calls) and `mapping.py` (translation).

Debbie writes are synchronous, so every write completes inside the worker's call: `Succeeded` with
Debbie's id (case id, case voucher id), or `Failed` when Debbie refuses it for good; `Submitted` is
never returned and `poll_outcomes` has nothing to do.

Idempotency: Debbie promises no deduplication, but every case and voucher carries the client's
own `referenceId` (notes, Debbie). The case's referenceId is derived from the operation's
idempotency token, a payment's is its payment_id, a credit note's names its invoice and number.
When an earlier attempt's outcome is unknown (`op.maybe_sent`) the adapter first looks the write
up (cases: scan the pages; vouchers: read the case's vouchers) and sends only what is missing.

Declared unsupported (refused by the gateway before anything is stored, and refused here too,
without an agency call, should one arrive): payment reversal (no endpoint at Debbie) and partial
withdrawal (`PATCH status ENDED` ends the whole case).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping, Sequence

import msgspec

from adapters.debbie.client import DebbieClient
from adapters.debbie.mapping import (
    DebbieDataError,
    VoucherTypes,
    case_changes,
    case_reference,
    case_status_change,
    classify,
    credit_note_voucher,
    from_wire_balance,
    from_wire_invoices,
    from_wire_payments,
    from_wire_status,
    live_vouchers,
    payment_vouchers,
    to_wire_case,
    to_wire_customer,
    to_wire_withdrawal,
)
from adapters.debbie.wire import (
    DEBBIE_CURRENCIES,
    DebbieCase,
    DebbieCaseVoucher,
    DebbieCaseVoucherCreate,
    DebbieCustomer,
    raw_json,
)
from adapters.sdk import (
    AdapterContext,
    AdapterPage,
    AgencyClaim,
    AgencyError,
    AgencyRejected,
    BadRequest,
    Capabilities,
    ChangeBatch,
    ChangeRecord,
    ClaimCreate,
    ClaimRef,
    Credential,
    CreditNoteCreate,
    Debtor,
    Failed,
    FieldError,
    MoneyError,
    NotFound,
    OperationContext,
    Outcome,
    PaymentReport,
    PaymentReversal,
    PendingOutcome,
    ResolvedOutcome,
    Succeeded,
    UnsupportedByAgency,
    ValidationFailed,
    Withdrawal,
    unreadable,
)

__all__ = ["CAPABILITIES", "DebbieAdapter", "create"]

NAME = "debbie"
#: How many customer references one adapter remembers (oldest forgotten first).
_CUSTOMER_CACHE_SIZE = 10_000

CAPABILITIES = Capabilities(
    supported=frozenset(
        {
            "claim.create",
            "claim.read",
            "invoices.list",
            "payments.list",
            "payment.report",
            "credit_note.create",
            "claim.withdraw",
        }
    ),
    currencies=DEBBIE_CURRENCIES,
    # The adapter pages invoices and payments itself over one voucher list, so any page size works.
    max_page_size=100,
    # A reconcile sweep over the cases and their vouchers, and Debbie's webhooks in between.
    feeds=frozenset({"status", "payments", "invoices"}),
)

#: Cases read per sweep call (one case costs one more call: its vouchers).
SWEEP_PAGE_SIZE = 10


class _SweepCheckpoint(msgspec.Struct, kw_only=True):
    """Where the reconcile sweep goes on: the offset of the next case in Debbie's case list."""

    offset: int = 0


class _Callback(msgspec.Struct, kw_only=True):
    """A Debbie webhook (notes: `{event, time, data}`)."""

    event: str
    time: str | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")


class _CaseId(msgspec.Struct, kw_only=True, rename="camel"):
    case_id: str


def _unsupported(capability: str, why: str | None = None) -> Failed:
    detail = f"{NAME} does not support {capability}" + (f": {why}" if why else "")
    return Failed(problem=UnsupportedByAgency(NAME, capability, detail).problem())


def _offset(position: str | None) -> int:
    """The adapter's list position is a plain offset into the case's invoices (or payments)."""
    if position is None:
        return 0
    if position.isdigit():
        return int(position)
    raise BadRequest("the cursor does not hold a Debbie list position", code="invalid_cursor")


def _page(items: Sequence[object], position: str | None, limit: int) -> AdapterPage:
    """One page by offset; `has_more` is known from the list itself, no second round trip."""
    start = _offset(position)
    end = start + max(1, limit)
    return AdapterPage(items=list(items[start:end]), next_position=str(end) if end < len(items) else None)


class DebbieAdapter:
    """Implements `adapters.base.Adapter` for Debbie."""

    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, client: DebbieClient, voucher_types: VoucherTypes) -> None:
        self._client = client
        self._types = voucher_types
        # customer id → the creditor's reference for it. The reference is the key we created or
        # found the customer by and never change, so it is safe to remember; it saves a claim
        # read the extra `GET /customers/{id}` that would otherwise follow the case's.
        self._customer_references: dict[str, str] = {}

    def _remember_customer(self, credential: Credential, customer: DebbieCustomer) -> None:
        if customer.reference_id is None:
            return
        if len(self._customer_references) >= _CUSTOMER_CACHE_SIZE:
            del self._customer_references[next(iter(self._customer_references))]  # oldest first
        self._customer_references[f"{credential.key}|{customer.id}"] = customer.reference_id

    async def _customer_reference(self, credential: Credential, customer_id: str | None) -> str | None:
        if not customer_id:
            return None
        known = self._customer_references.get(f"{credential.key}|{customer_id}")
        if known is not None:
            return known
        customer = await self._client.get_customer(credential, customer_id)
        self._remember_customer(credential, customer)
        return customer.reference_id

    async def aclose(self) -> None:
        """Nothing to close: the upstream client belongs to whoever built the AdapterContext."""

    # --- writes ------------------------------------------------------------------------------

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        if claim.currency not in DEBBIE_CURRENCIES:
            return _unsupported("claim.create", f"it does not take {claim.currency}")
        reference = case_reference(op.idempotency_token)
        if op.maybe_sent:
            found = await self._client.find_case(credential, reference)
            if found is not None:
                return Succeeded(agency_reference=found.id)
        try:
            customer = await self._customer(credential, claim.debtor)
            body = to_wire_case(claim, customer.id, self._types, reference)
            created = await self._client.create_case(credential, body)
        except AgencyRejected as exc:
            return Failed(problem=exc.problem())
        except MoneyError as exc:
            return Failed(
                problem=ValidationFailed([FieldError(pointer="/invoices", detail=str(exc))]).problem()
            )
        return Succeeded(agency_reference=created.id)

    async def _customer(self, credential: Credential, debtor: Debtor) -> DebbieCustomer:
        """Find the debtor by its reference, else create it.

        A lost answer to the create is harmless: the next attempt finds the customer it made.
        Two claims for one new debtor submitted at the same instant could each create it (Debbie
        has no unique constraint we know of); both cases still read correctly.
        """
        customer = await self._client.find_customer(credential, debtor.reference)
        if customer is None:
            customer = await self._client.create_customer(credential, to_wire_customer(debtor))
        self._remember_customer(credential, customer)
        return customer

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        if report.amount.currency not in DEBBIE_CURRENCIES:
            return _unsupported("payment.report", f"it does not take {report.amount.currency}")
        try:
            vouchers = payment_vouchers(report, self._types)
        except MoneyError as exc:
            return Failed(
                problem=ValidationFailed([FieldError(pointer="/amount", detail=str(exc))]).problem()
            )
        # Several vouchers (one per allocation) are several writes: whatever stopped an earlier
        # attempt, some may be there already, so those are always looked up first.
        return await self._write_vouchers(
            credential, ref, vouchers, look_up=op.maybe_sent or len(vouchers) > 1
        )

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome:
        if note.amount.currency not in DEBBIE_CURRENCIES:
            return _unsupported("credit_note.create", f"it does not take {note.amount.currency}")
        try:
            voucher = credit_note_voucher(note, self._types)
        except MoneyError as exc:
            return Failed(
                problem=ValidationFailed([FieldError(pointer="/amount", detail=str(exc))]).problem()
            )
        return await self._write_vouchers(credential, ref, [voucher], look_up=op.maybe_sent)

    async def _write_vouchers(
        self,
        credential: Credential,
        ref: ClaimRef,
        vouchers: Sequence[DebbieCaseVoucherCreate],
        *,
        look_up: bool,
    ) -> Outcome:
        """Send each voucher not already on the case (matched by voucher type and referenceId)."""
        present: dict[tuple[str, str], str] = {}
        if look_up:
            for existing in live_vouchers(
                await self._client.case_vouchers(credential, ref.agency_reference), ref.currency
            ):
                if existing.voucher_type_id and existing.reference_id:
                    key = (existing.voucher_type_id.lower(), existing.reference_id)
                    present.setdefault(key, existing.case_voucher_id or str(existing.id))
        written: list[str] = []
        try:
            for voucher in vouchers:
                already = present.get((voucher.voucher_type_id.lower(), voucher.reference_id or ""))
                if already is not None:
                    written.append(already)
                    continue
                created = await self._client.add_voucher(credential, ref.agency_reference, voucher)
                written.append(created.case_voucher_id)
        except AgencyRejected as exc:
            # Debbie refused a voucher for good. With allocations, earlier ones may be written;
            # the failure says so, and a new report with the same payment_id completes it.
            if written:
                exc.detail = f"{exc.detail} (after {len(written)} of {len(vouchers)} vouchers were written)"
            return Failed(problem=exc.problem())
        return Succeeded(agency_reference=written[0] if written else None)

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome:
        # notes, Debbie: "Payment reversal: no documented endpoint; treat as unsupported."
        return _unsupported("payment.reverse")

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome:
        if withdrawal.invoice_numbers:
            return _unsupported("claim.withdraw_partial", "it withdraws whole cases only")
        if op.maybe_sent:
            case, _ = await self._client.get_case(credential, ref.agency_reference)
            if case.status == "ENDED" and case.exit_reason == "WITHDRAWN":
                return Succeeded(agency_reference=case.id)
        try:
            await self._client.set_case_status(credential, ref.agency_reference, to_wire_withdrawal())
        except AgencyRejected as exc:
            return Failed(problem=exc.problem())
        return Succeeded(agency_reference=ref.agency_reference)

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]:
        """Nothing is ever pending at Debbie: every write answered with its outcome."""
        return []

    # --- reads -------------------------------------------------------------------------------

    async def _vouchers(self, credential: Credential, ref: ClaimRef) -> list[DebbieCaseVoucher]:
        return live_vouchers(await self._client.case_vouchers(credential, ref.agency_reference), ref.currency)

    async def _case(self, credential: Credential, case_id: str) -> tuple[DebbieCase, bytes, str | None]:
        case, raw = await self._client.get_case(credential, case_id)
        return case, raw, await self._customer_reference(credential, case.customer_id)

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        """The case (and its customer's reference) and its vouchers, fetched side by side."""
        (case, raw_case, customer_reference), vouchers = await asyncio.gather(
            self._case(credential, ref.agency_reference), self._vouchers(credential, ref)
        )
        try:
            invoices = from_wire_invoices(vouchers, self._types, ref.currency)
        except DebbieDataError as exc:
            raise AgencyError(f"debbie: {exc}", agency=NAME) from exc
        unread = sum(1 for v in vouchers if classify(v, self._types) is None)
        return AgencyClaim(
            status=from_wire_status(case),
            invoices=invoices,
            balance_amount=from_wire_balance(vouchers),
            agency_data={
                "case": raw_json(raw_case),
                "customer": {"id": case.customer_id, "referenceId": customer_reference},
                "live_vouchers": len(vouchers),
                "unclassified_vouchers": unread,
            },
        )

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        _offset(position)  # a bad position fails before the agency is asked
        try:
            invoices = from_wire_invoices(await self._vouchers(credential, ref), self._types, ref.currency)
        except DebbieDataError as exc:
            raise AgencyError(f"debbie: {exc}", agency=NAME) from exc
        return _page(invoices, position, limit)

    # --- the change feed: a reconcile sweep, and webhooks in between --------------------------

    async def changes_since(self, credential: Credential, checkpoint: str | None, limit: int) -> ChangeBatch:
        """The reconcile sweep: Debbie has no change feed, so every case is read again, a page of
        `SWEEP_PAGE_SIZE` cases (0-based pages, notes) and each case's vouchers per call. What
        did not change makes records the ledger has applied already (same ids) or that change
        nothing (same status, same amount). When the last page is read the sweep starts over at
        the next poll. A case whose records would pass `limit` is left for the next call (one
        case alone may pass it: its records are never split).
        """
        try:
            offset = msgspec.json.decode(checkpoint, type=_SweepCheckpoint).offset if checkpoint else 0
        except msgspec.DecodeError:
            offset = 0
        page, skip = divmod(max(0, offset), SWEEP_PAGE_SIZE)
        cases = await self._client.raw_cases_page(credential, page, SWEEP_PAGE_SIZE)
        records: list[ChangeRecord] = []
        position = page * SWEEP_PAGE_SIZE + skip
        for raw in cases[skip:]:
            found = await self._case_records(credential, raw)
            if records and len(records) + len(found) > limit:
                break
            records.extend(found)
            position += 1
        finished = len(cases) < SWEEP_PAGE_SIZE and position == page * SWEEP_PAGE_SIZE + len(cases)
        next_offset = 0 if finished else position
        return ChangeBatch(
            records=records,
            checkpoint=msgspec.json.encode(_SweepCheckpoint(offset=next_offset)).decode(),
            has_more=not finished,
        )

    async def _case_records(self, credential: Credential, raw: msgspec.Raw) -> list[ChangeRecord]:
        """One case's records; what cannot be read of it is `Unreadable`, never an exception."""
        try:
            case = msgspec.json.decode(raw, type=DebbieCase)
        except msgspec.DecodeError as exc:
            return [unreadable(bytes(raw), f"debbie case: {exc}")]
        try:
            raw_vouchers = await self._client.raw_case_vouchers(credential, case.id)
        except NotFound:
            return []  # gone between the list and this read: the next sweep tells
        return self._case_changes(bytes(raw), case, raw_vouchers)

    def _case_changes(
        self, raw_case: bytes, case: DebbieCase, raw_vouchers: Sequence[msgspec.Raw]
    ) -> list[ChangeRecord]:
        records: list[ChangeRecord] = []
        vouchers: list[DebbieCaseVoucher] = []
        for raw in raw_vouchers:
            try:
                vouchers.append(msgspec.json.decode(raw, type=DebbieCaseVoucher))
            except msgspec.DecodeError as exc:
                records.append(
                    unreadable(bytes(raw), f"debbie case voucher: {exc}", agency_reference=case.id)
                )
        try:
            # With a voucher set aside the invoices' amounts would be wrong: they wait.
            records[:0] = case_changes(case, vouchers, self._types, invoices=not records)
        except (DebbieDataError, MoneyError) as exc:
            records.append(unreadable(raw_case, f"debbie case {case.id}: {exc}", agency_reference=case.id))
        return records

    def authentic_callback(self, credential: Credential, headers: Mapping[str, str]) -> bool:
        """Whether a webhook comes from Debbie: the shared secret (`callback_secret_env`) as a
        bearer token, compared in constant time (reading: the notes document no signing)."""
        secret = credential.get("callback_secret")
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if not secret or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), secret.encode())

    async def callback_changes(self, credential: Credential, body: bytes) -> list[ChangeRecord]:
        """A webhook → the same records the sweep makes of the same thing (same record ids).

        `cases.status-change` carries the case: its status record. `case-vouchers.create`
        carries the voucher: the case is read again (case and vouchers) for its payments and the
        invoices' remaining amounts, as the sweep would. Other events are ignored.
        """
        try:
            callback = msgspec.json.decode(body, type=_Callback)
        except msgspec.DecodeError as exc:
            return [unreadable(body, f"debbie webhook: {exc}")]
        match callback.event:
            case "cases.status-change":
                try:
                    case = msgspec.json.decode(callback.data, type=DebbieCase)
                except msgspec.DecodeError as exc:
                    return [unreadable(body, f"debbie webhook {callback.event}: {exc}")]
                change = case_status_change(case)
                return [change] if change is not None else []
            case "case-vouchers.create":
                try:
                    case_id = msgspec.json.decode(callback.data, type=_CaseId).case_id
                except msgspec.DecodeError as exc:
                    return [unreadable(body, f"debbie webhook {callback.event}: {exc}")]
                try:
                    case, raw_case = await self._client.get_case(credential, case_id)
                    raw_vouchers = await self._client.raw_case_vouchers(credential, case_id)
                except NotFound:
                    return []
                return self._case_changes(raw_case, case, raw_vouchers)
            case _:
                return []

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        _offset(position)
        try:
            payments = from_wire_payments(await self._vouchers(credential, ref), self._types, ref.currency)
        except DebbieDataError as exc:
            raise AgencyError(f"debbie: {exc}", agency=NAME) from exc
        return _page(payments, position, limit)


def create(context: AdapterContext) -> DebbieAdapter:
    """`AdapterSpec.create`: the config's `voucher_types` and the shared upstream client."""
    types = VoucherTypes.from_config(context.config.get("voucher_types") or {})
    return DebbieAdapter(DebbieClient(context.http), types)
