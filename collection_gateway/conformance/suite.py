"""The conformance suite: what every adapter must do against its sandbox, over real HTTP.

Collected by the `collection_gateway.conformance` plugin next to every conftest.py that defines
the fixture `conformance_spec` (an `AdapterSpec`, or the name its entry point registers), once
per value of that fixture. A follow-up write is checked only where the adapter declares the
capability; a declared capability must work.

What the suite expects of an adapter beyond the protocol's types:
- `get_claim(...).agency_data` carries the debtor's reference as the agency knows it, so that a
  claim read back can be matched to the debtor it was sent for;
- `balance_amount` of a claim nobody has paid yet is what was sent (principal plus costs);
- a payment the creditor reported lowers its invoice's `remaining` once the agency confirmed it
  (the gateway lists the payment itself from its own ledger: `list_payments` is what the agency
  lists, which for some agencies holds only what the agency collected);
- `AdapterSpec.wire_examples`: exact amounts from the agency's document, checked both ways;
- `AdapterSpec.read_state`: the adapter's state table, fed states the agency never documented;
- agencies that keep one claim per invoice and may refuse some of a claim's invoices declare
  their sandbox's control (`SandboxSpec.refuse_invoice_path`): a create with one invoice refused
  must end `PartiallyAccepted`, listing that invoice, with per-invoice references for the others,
  and the claim read back owes nothing for it. Where `Succeeded.invoice_references` are given,
  they cover exactly the claim's invoices.

Effects, not only answers: after a write the suite looks at what changed — the claim's
balance moved by exactly the amount written, and the sandbox's ledger (`/_sandbox/ledger`, every
write the agency carried out) holds each write once, also after a resubmit or a lost answer.
Every failure says what was expected, what was seen, and which adapter method to look at.

The fixtures `spec` and `agency` are this module's own: an adapter package's fixtures of the
same names do not reach into the suite, nor the suite's into the package's tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from adapters.base import (
    CAPABILITIES,
    FEEDS,
    AdapterSpec,
    ChangeFeed,
    ClaimRef,
    PartiallyAccepted,
    Succeeded,
    Unreadable,
)
from canonical import (
    Allocation,
    CreditNoteCreate,
    Money,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
    claim_total,
    is_currency,
    validate_claim_create,
)
from collection_gateway.conformance.harness import Agency, running_agency, sample_claim
from collection_gateway.conformance.specs import resolve_spec

#: States no agency documents; an adapter's state table must read each as "pending".
_UNDOCUMENTED_STATES: tuple[object, ...] = ("KIT_UNDOCUMENTED_STATE", "kit-undocumented", 987654)
#: The client timeout while the sandbox holds a committed write's answer back.
_LOST_ANSWER_TIMEOUT = 0.5


def _kinds(entries: list[dict[str, Any]]) -> dict[str, int]:
    """What the agency carried out, by kind of write: {"case.create": 1, ...}."""
    return dict(Counter(entry["kind"] for entry in entries))


@pytest.fixture
def spec(conformance_spec: Any) -> AdapterSpec:
    """The adapter under test, from the one fixture an adapter package defines."""
    return resolve_spec(conformance_spec)


@pytest_asyncio.fixture
async def agency(spec: AdapterSpec) -> AsyncIterator[Agency]:
    async with running_agency(spec) as running:
        yield running


def _contains(document: object, text: str) -> bool:
    match document:
        case str():
            return text in document
        case dict():
            return any(_contains(value, text) for value in document.values())
        case list() | tuple():
            return any(_contains(value, text) for value in document)
        case _:
            return False


def test_capabilities_are_well_formed(spec: AdapterSpec) -> None:
    capabilities = spec.capabilities
    assert capabilities.supported <= set(CAPABILITIES)
    assert "claim.create" in capabilities.supported, "an adapter that cannot create claims is of no use"
    assert 1 <= capabilities.max_page_size <= 100
    assert capabilities.currencies is None or all(is_currency(code) for code in capabilities.currencies)
    if "claim.withdraw_partial" in capabilities.supported:
        assert "claim.withdraw" in capabilities.supported
    assert validate_claim_create(sample_claim(spec)) == []


def test_amounts_translate_exactly_as_the_agency_documents_them(spec: AdapterSpec) -> None:
    assert spec.wire_examples, (
        f"{spec.name}: AdapterSpec.wire_examples is empty; declare exact amounts from the agency's "
        "document (e.g. EUR 12345 → '123.45', JPY 1200 → '1200'): round trips alone cannot see a "
        "scale error made the same way out and back"
    )
    for example in spec.wire_examples:
        money = example.canonical
        sent = example.to_wire(money)
        assert sent == example.wire, (
            f"{spec.name}: {example.name}: {money.amount} {money.currency} (minor units) goes out as "
            f"{sent!r}; the agency's document says {example.wire!r} (look at the mapping function "
            "given as to_wire)"
        )
        read = example.from_wire(example.wire, money.currency)
        assert read == money, (
            f"{spec.name}: {example.name}: the agency's {example.wire!r} reads back as {read}; "
            f"expected {money} (look at the mapping function given as from_wire)"
        )


def test_states_the_agency_never_documented_read_as_pending(spec: AdapterSpec) -> None:
    assert spec.read_state is not None, (
        f"{spec.name}: AdapterSpec.read_state is missing; name the mapping's state table "
        "(agency state → canonical ClaimStatus) so the kit can feed it undocumented states"
    )
    for state in _UNDOCUMENTED_STATES:
        status = spec.read_state(state)
        assert status == "pending", (
            f"{spec.name}: the undocumented agency state {state!r} reads as {status!r}; expected "
            "'pending' — a state the table does not know is never progress (look at the "
            "mapping's state table, its default case)"
        )


@pytest.mark.asyncio
async def test_adapter_names_itself_and_its_capabilities_as_its_spec(agency: Agency) -> None:
    assert agency.adapter.name == agency.spec.name
    assert agency.adapter.capabilities == agency.spec.capabilities


@pytest.mark.asyncio
async def test_a_submitted_claim_ends_succeeded_with_an_agency_reference(agency: Agency) -> None:
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    assert ref.agency_reference
    if ref.invoice_references:
        sent = sorted(invoice.number for invoice in claim.invoices)
        assert sorted(ref.invoice_references) == sent, (
            f"{agency.name}: submit_claim / poll_outcomes answered invoice_references for "
            f"{sorted(ref.invoice_references)}; expected one per invoice sent, {sent}"
        )


@pytest.mark.asyncio
async def test_a_claim_refused_for_one_invoice_is_partially_accepted(agency: Agency) -> None:
    control = agency.spec.sandbox.refuse_invoice_path if agency.spec.sandbox else None
    if control is None:
        pytest.skip(f"{agency.name} declares no SandboxSpec.refuse_invoice_path (one claim per claim)")
    claim = sample_claim(agency.spec, invoices=3)
    refused = claim.invoices[1].number
    await agency.sandbox("POST", control, json={"invoice_number": refused, "reason": "kit refusal"})
    op = agency.op("claim.create", claim_id="clm_partial")
    outcome = await agency.resolve(
        op, await agency.deliver(op, lambda o: agency.adapter.submit_claim(agency.credential, o, claim))
    )
    assert isinstance(outcome, PartiallyAccepted), (
        f"{agency.name}: a claim whose invoice {refused} the agency refused ended {outcome}; expected "
        "PartiallyAccepted listing it (look at submit_claim / poll_outcomes)"
    )
    assert [r.invoice_number for r in outcome.refused] == [refused], (
        f"{agency.name}: PartiallyAccepted.refused lists {[r.invoice_number for r in outcome.refused]}; "
        f"expected [{refused!r}] (look at poll_outcomes)"
    )
    accepted = sorted(i.number for i in claim.invoices if i.number != refused)
    assert sorted(outcome.invoice_references) == accepted, (
        f"{agency.name}: PartiallyAccepted.invoice_references covers {sorted(outcome.invoice_references)}; "
        f"expected the accepted invoices {accepted} (look at poll_outcomes)"
    )
    if agency.declares("claim.read"):
        ref = ClaimRef(
            claim_id=op.claim_id,
            agency_reference=outcome.agency_reference,
            currency=claim.currency,
            client_reference=claim.client_reference,
            invoice_references=dict(outcome.invoice_references),
        )
        read = await agency.adapter.get_claim(agency.credential, ref)
        expected = claim_total(claim) - sum(
            i.amount.amount + (i.costs.amount if i.costs else 0)
            for i in claim.invoices
            if i.number == refused
        )
        assert read.balance_amount == expected, (
            f"{agency.name}: after {refused} was refused, get_claim's balance is {read.balance_amount}; "
            f"expected {expected}, what the accepted invoices owe (look at get_claim)"
        )


@pytest.mark.asyncio
async def test_resubmitting_with_the_same_token_creates_the_claim_once(agency: Agency) -> None:
    claim = sample_claim(agency.spec)
    first = agency.op("claim.create", claim_id="clm_once")
    again = msgspec.structs.replace(first, attempt=2, maybe_sent=True)
    one = await agency.resolve(first, await agency.adapter.submit_claim(agency.credential, first, claim))
    assert isinstance(one, Succeeded), f"{agency.name}: submit_claim refused a valid claim: {one}"
    written = await agency.ledger()
    two = await agency.resolve(again, await agency.adapter.submit_claim(agency.credential, again, claim))
    assert isinstance(two, Succeeded), f"{agency.name}: submit_claim, resubmitted with the same token: {two}"
    assert one.agency_reference == two.agency_reference, (
        f"{agency.name}: submit_claim, resubmitted with the same token, answered agency reference "
        f"{two.agency_reference!r}; expected the first one, {one.agency_reference!r}"
    )
    again_written = _kinds((await agency.ledger())[len(written) :])
    assert not again_written, (
        f"{agency.name}: submit_claim, resubmitted after the claim was created (maybe_sent=True), "
        f"wrote again at the agency: {again_written}; expected no new write (look the claim up, "
        "or resend with the same idempotency token the agency deduplicates)"
    )


@pytest.mark.asyncio
async def test_a_create_whose_answer_was_lost_is_reconciled_without_a_second_write(spec: AdapterSpec) -> None:
    async with running_agency(spec, timeout=_LOST_ANSWER_TIMEOUT) as agency:
        await agency.create(sample_claim(spec))
        clean = _kinds(await agency.ledger())
        # The agency carries the next write out, but its answer arrives after our timeout.
        await agency.set_faults(commit_then_timeout=1, hang_seconds=_LOST_ANSWER_TIMEOUT * 4)
        before = len(await agency.ledger())
        await agency.create(sample_claim(spec))
        lost = _kinds((await agency.ledger())[before:])
        assert lost == clean, (
            f"{agency.name}: submit_claim after an answer lost past the timeout made the writes "
            f"{lost}; a clean create makes {clean}. Expected the lost write to be looked up "
            "(or resent with the same idempotency token), never carried out twice"
        )


@pytest.mark.asyncio
async def test_a_claim_reads_back_as_it_was_sent(agency: Agency) -> None:
    agency.require("claim.read")
    claim = sample_claim(agency.spec, invoices=3)
    ref = await agency.create(claim)
    read = await agency.adapter.get_claim(agency.credential, ref)
    assert read.status in ("pending", "active")
    sent = {invoice.number: invoice for invoice in claim.invoices}
    got = {invoice.number: invoice for invoice in read.invoices}
    assert sorted(got) == sorted(sent)
    for number, invoice in sent.items():
        back = got[number]
        assert back.amount == invoice.amount, number
        assert back.remaining == invoice.amount, number
        assert (back.costs.amount if back.costs else 0) == (invoice.costs.amount if invoice.costs else 0), (
            number
        )
        assert (back.issued_on, back.due_on) == (invoice.issued_on, invoice.due_on), number
    assert read.balance_amount == claim_total(claim)
    assert _contains(msgspec.to_builtins(read.agency_data), claim.debtor.reference), (
        "debtor not in agency_data"
    )


@pytest.mark.asyncio
async def test_invoice_pages_are_complete_and_never_repeat(agency: Agency) -> None:
    agency.require("invoices.list")
    claim = sample_claim(agency.spec, invoices=5)
    ref = await agency.create(claim)
    expected = sorted(invoice.number for invoice in claim.invoices)
    for limit in (1, 2, 3, agency.spec.capabilities.max_page_size):
        numbers = [invoice.number for invoice in await agency.all_invoices(ref, limit)]
        assert len(numbers) == len(set(numbers)), f"limit {limit}: an invoice came twice"
        assert sorted(numbers) == expected, f"limit {limit}"


async def _remaining(agency: Agency, ref: Any, number: str) -> Money:
    return {i.number: i.remaining for i in await agency.all_invoices(ref, 100)}[number]


@pytest.mark.asyncio
async def test_a_reported_payment_lowers_the_invoices_remaining_amount(agency: Agency) -> None:
    agency.require("payment.report")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    invoice = claim.invoices[0]
    amount = Money(amount=1000, currency=claim.currency)
    report = PaymentReport(
        payment_id=f"P-{ref.claim_id}",
        amount=amount,
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=amount)],
    )
    outcome = await agency.write(
        ref, "payment.report", lambda op: agency.adapter.report_payment(agency.credential, op, ref, report)
    )
    assert isinstance(outcome, Succeeded), f"{agency.name}: report_payment refused a valid payment: {outcome}"
    if agency.declares("invoices.list"):
        # The gateway lists the payment itself (source creditor) from its own ledger; what the
        # agency must show is that it booked it.
        remaining = await _remaining(agency, ref, invoice.number)
        expected = Money(amount=invoice.amount.amount - amount.amount, currency=claim.currency)
        assert remaining == expected, (
            f"{agency.name}: after report_payment of {amount} on {invoice.number} its remaining is "
            f"{remaining}; expected {expected} (look at report_payment and list_invoices)"
        )


@pytest.mark.asyncio
async def test_a_reported_payment_lowers_the_balance_by_exactly_its_amount(agency: Agency) -> None:
    agency.require("payment.report", "claim.read")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    before = (await agency.adapter.get_claim(agency.credential, ref)).balance_amount
    invoice = claim.invoices[0]
    amount = Money(amount=1000, currency=claim.currency)
    report = PaymentReport(
        payment_id=f"P-{ref.claim_id}",
        amount=amount,
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=amount)],
    )
    outcome = await agency.write(
        ref, "payment.report", lambda op: agency.adapter.report_payment(agency.credential, op, ref, report)
    )
    assert isinstance(outcome, Succeeded), f"{agency.name}: report_payment refused a valid payment: {outcome}"
    after = (await agency.adapter.get_claim(agency.credential, ref)).balance_amount
    assert after == before - amount.amount, (
        f"{agency.name}: a payment of {amount.amount} moved the balance from {before} to {after}; "
        f"expected {before - amount.amount} (look at report_payment's amount and sign, "
        "and at get_claim's balance)"
    )


@pytest.mark.asyncio
async def test_a_reported_payment_can_be_reversed(agency: Agency) -> None:
    agency.require("payment.report", "payment.reverse")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    invoice = claim.invoices[1]
    amount = Money(amount=invoice.amount.amount, currency=claim.currency)
    report = PaymentReport(
        payment_id=f"P-{ref.claim_id}",
        amount=amount,
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=amount)],
    )
    paid = await agency.write(
        ref, "payment.report", lambda op: agency.adapter.report_payment(agency.credential, op, ref, report)
    )
    assert isinstance(paid, Succeeded), paid
    reversed_ = await agency.write(
        ref,
        "payment.reverse",
        lambda op: agency.adapter.reverse_payment(
            agency.credential, op, ref, report.payment_id, PaymentReversal(reason="entered twice")
        ),
    )
    assert isinstance(reversed_, Succeeded), reversed_
    if agency.declares("invoices.list"):
        assert await _remaining(agency, ref, invoice.number) == invoice.amount


@pytest.mark.asyncio
async def test_a_credit_note_lowers_the_invoices_remaining_amount(agency: Agency) -> None:
    agency.require("credit_note.create")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    invoice = claim.invoices[0]
    credit = Money(amount=345, currency=claim.currency)
    note = CreditNoteCreate(
        number=f"CN-{ref.claim_id}", invoice_number=invoice.number, amount=credit, issued_on=invoice.due_on
    )
    outcome = await agency.write(
        ref, "credit_note.create", lambda op: agency.adapter.add_credit_note(agency.credential, op, ref, note)
    )
    assert isinstance(outcome, Succeeded), f"{agency.name}: add_credit_note refused a valid note: {outcome}"
    if agency.declares("invoices.list"):
        remaining = {i.number: i.remaining for i in await agency.all_invoices(ref, 100)}
        expected = Money(amount=invoice.amount.amount - credit.amount, currency=claim.currency)
        assert remaining[invoice.number] == expected, (
            f"{agency.name}: after a credit note of {credit.amount}, list_invoices gives "
            f"{invoice.number} remaining {remaining[invoice.number]}; expected {expected} "
            "(look at add_credit_note's amount and sign)"
        )
    if agency.declares("claim.read"):
        balance = (await agency.adapter.get_claim(agency.credential, ref)).balance_amount
        assert balance == claim_total(claim) - credit.amount, (
            f"{agency.name}: after a credit note of {credit.amount} get_claim's balance is {balance}; "
            f"expected {claim_total(claim) - credit.amount} (look at add_credit_note's amount and sign)"
        )


@pytest.mark.asyncio
async def test_withdrawing_the_whole_claim_leaves_it_withdrawn(agency: Agency) -> None:
    agency.require("claim.withdraw")
    ref = await agency.create(sample_claim(agency.spec, invoices=2))
    outcome = await agency.write(
        ref,
        "claim.withdraw",
        lambda op: agency.adapter.withdraw(agency.credential, op, ref, Withdrawal(reason="by_client")),
    )
    assert isinstance(outcome, Succeeded), outcome
    if agency.declares("claim.read"):
        # The agency may say "closed" (its closing reasons are often undocumented): the gateway
        # reads "withdrawn" from its own confirmed withdrawal. It must not say the claim is open.
        status = (await agency.adapter.get_claim(agency.credential, ref)).status
        assert status in ("withdrawn", "closed"), (
            f"{agency.name}: after a whole withdrawal get_claim says {status!r}; expected withdrawn or "
            "closed (look at withdraw and get_claim's state table)"
        )


@pytest.mark.asyncio
async def test_withdrawing_some_invoices_leaves_the_claim_open(agency: Agency) -> None:
    agency.require("claim.withdraw_partial")
    claim = sample_claim(agency.spec, invoices=3)
    ref = await agency.create(claim)
    withdrawal = Withdrawal(
        reason="goods_returned", invoice_numbers=[claim.invoices[0].number, claim.invoices[2].number]
    )
    outcome = await agency.write(
        ref, "claim.withdraw", lambda op: agency.adapter.withdraw(agency.credential, op, ref, withdrawal)
    )
    assert isinstance(outcome, Succeeded), outcome
    if agency.declares("claim.read"):
        assert (await agency.adapter.get_claim(agency.credential, ref)).status not in ("withdrawn", "closed")


# --- the change feed (adapters that declare `Capabilities.feeds`) ------------------------------


def _require_feed(agency: Agency) -> None:
    if not agency.spec.capabilities.feeds:
        pytest.skip(f"{agency.name} declares no change feed")


def test_declared_feeds_are_known_and_read_by_changes_since(spec: AdapterSpec) -> None:
    assert spec.capabilities.feeds <= set(FEEDS), (
        f"{spec.name}: unknown feeds {spec.capabilities.feeds - set(FEEDS)}"
    )


@pytest.mark.asyncio
async def test_what_the_agency_does_on_its_own_comes_out_of_the_feed(agency: Agency) -> None:
    _require_feed(agency)
    assert isinstance(agency.adapter, ChangeFeed), f"{agency.name} declares feeds but has no changes_since"
    await agency.create(sample_claim(agency.spec, invoices=2))
    before, checkpoint = await agency.changes()
    for _ in range(3):  # the sandbox's own activity (adapters.sandbox_kit): collect, change a status
        await agency.sandbox("POST", "/_sandbox/activity/step")
    after, _ = await agency.changes(checkpoint)
    new = {r.record_id for r in after} - {r.record_id for r in before}
    assert new, (
        f"{agency.name}: the sandbox acted three times (POST /_sandbox/activity/step) and "
        "changes_since reported nothing new; expected records (look at changes_since and the "
        "sandbox's activity step)"
    )
    assert not [r for r in after if isinstance(r, Unreadable)], f"{agency.name}: {after}"


@pytest.mark.asyncio
async def test_the_feed_read_again_gives_the_same_records_by_the_same_ids(agency: Agency) -> None:
    _require_feed(agency)
    await agency.create(sample_claim(agency.spec))
    await agency.sandbox("POST", "/_sandbox/activity/step")
    first, _ = await agency.changes()
    again, _ = await agency.changes()
    by_id = {r.record_id: r for r in first}
    for record in again:
        if record.record_id in by_id:
            assert record == by_id[record.record_id], (
                f"{agency.name}: record {record.record_id} read twice says two things: "
                f"{by_id[record.record_id]} then {record}; a record id must name one record"
            )
    assert set(by_id) <= {r.record_id for r in again}, (
        f"{agency.name}: a second read from the same checkpoint lost records "
        f"{sorted(set(by_id) - {r.record_id for r in again})[:5]}"
    )


@pytest.mark.asyncio
async def test_a_record_the_adapter_cannot_read_is_set_aside_and_the_feed_goes_on(agency: Agency) -> None:
    _require_feed(agency)
    await agency.create(sample_claim(agency.spec))
    _, checkpoint = await agency.changes()
    poisoned = await agency.sandbox("POST", "/_sandbox/feed/poison")
    if not poisoned or poisoned.get("poison") is None:
        pytest.skip(f"{agency.name}'s sandbox has no POST /_sandbox/feed/poison")
    await agency.sandbox("POST", "/_sandbox/activity/step")
    records, _ = await agency.changes(checkpoint)  # raises nothing: the feed goes on
    unreadable = [r for r in records if isinstance(r, Unreadable)]
    assert len(unreadable) == 1, (
        f"{agency.name}: after one poisoned record changes_since gave {len(unreadable)} Unreadable "
        "records; expected exactly one (decode each record on its own, never the page at once)"
    )
    assert unreadable[0].raw and unreadable[0].reason and unreadable[0].record_id
