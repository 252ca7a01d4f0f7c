"""Verdandi mapping, property-tested: amounts exact both ways, states safe, review outcomes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.sdk import CLAIM_STATUSES, Failed, Money, MoneyError, PartiallyAccepted, Succeeded
from collection_gateway.conformance.strategies import amounts

from verdandi.mapping import (
    claim_status,
    from_wire_amount,
    from_wire_state,
    review_outcome,
    to_wire_amount,
)
from verdandi.wire import (
    VERDANDI_CURRENCIES,
    VerdandiAmount,
    VerdandiClaim,
    VerdandiDebtor,
    VerdandiRelease,
)

CURRENCIES = sorted(VERDANDI_CURRENCIES)
KNOWN_STATES = ("DRAFT", "IN_REVIEW", "OPEN", "REFUSED", "PAID", "WITHDRAWN")


@given(amount=amounts(), currency=st.sampled_from(CURRENCIES))
def test_an_amount_survives_the_trip_through_a_value_object(amount: int, currency: str) -> None:
    money = Money(amount=amount, currency=currency)
    wire = to_wire_amount(money)
    assert "e" not in wire.value.lower() and "," not in wire.value
    assert from_wire_amount(wire, currency) == money


@pytest.mark.parametrize("text", ["12,50", "1e3", "-1.00", " 12", "", "1.005"])
def test_what_is_not_an_exact_verdandi_amount_is_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        from_wire_amount(VerdandiAmount(value=text), "EUR")


def test_negative_amounts_are_never_sent() -> None:
    with pytest.raises(MoneyError):
        to_wire_amount(Money(amount=-1, currency="EUR"))


@given(st.text(max_size=20))
def test_every_state_reads_as_a_canonical_status_and_unknown_ones_as_pending(state: str) -> None:
    status = from_wire_state(state)
    assert status in CLAIM_STATUSES
    if state not in KNOWN_STATES:
        assert status == "pending"


def _claim(number: str, state: str, reason: str | None = None) -> VerdandiClaim:
    return VerdandiClaim(
        id=f"C-{number}",
        debtor_id="D-1",
        currency="EUR",
        invoice_number=number,
        invoice_date=dt.date(2026, 9, 1),
        due_date=dt.date(2026, 10, 1),
        principal=VerdandiAmount(value="10.00"),
        outstanding=VerdandiAmount(value="10.00" if state != "REFUSED" else "0"),
        state=state,
        refusal_reason=reason,
    )


RELEASE = VerdandiRelease(id="R-1", state="DECIDED", debtor=VerdandiDebtor(id="D-1"))


def test_a_release_under_review_has_no_outcome_yet() -> None:
    in_review = VerdandiRelease(id="R-1", state="IN_REVIEW", debtor=VerdandiDebtor(id="D-1"))
    assert review_outcome(in_review, [_claim("A", "IN_REVIEW")]) is None


def test_review_outcomes_all_accepted_some_refused_all_refused() -> None:
    assert review_outcome(RELEASE, [_claim("A", "OPEN"), _claim("B", "OPEN")]) == Succeeded(
        agency_reference="R-1", invoice_references={"A": "C-A", "B": "C-B"}
    )
    partly = review_outcome(RELEASE, [_claim("A", "OPEN"), _claim("B", "REFUSED", "too old")])
    assert isinstance(partly, PartiallyAccepted)
    assert partly.invoice_references == {"A": "C-A"}
    assert [(r.invoice_number, r.problem.detail) for r in partly.refused] == [("B", "too old")]
    refused = review_outcome(RELEASE, [_claim("A", "REFUSED", "x"), _claim("B", "REFUSED", "y")])
    assert isinstance(refused, Failed) and refused.problem.code == "agency_rejected"


@pytest.mark.parametrize(
    ("states", "status"),
    [
        (["OPEN", "REFUSED"], "active"),
        (["OPEN", "WITHDRAWN"], "active"),
        (["WITHDRAWN", "WITHDRAWN", "REFUSED"], "withdrawn"),
        (["PAID", "WITHDRAWN"], "closed"),
        (["REFUSED"], "rejected"),
        (["OPEN", "SOMETHING_NEW"], "pending"),
    ],
)
def test_the_claims_status_is_read_from_its_invoices_claims(states: list[str], status: str) -> None:
    assert claim_status([_claim(str(n), state) for n, state in enumerate(states)]) == status
