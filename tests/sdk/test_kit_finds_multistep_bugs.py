"""The kit's checks for agencies that keep one claim per invoice catch the bugs such an adapter is
prone to: each is planted in the Verdandi example (examples/adapter-example-multistep) and the
kit's own test fails on it, naming what it saw; unplanted, the same test passes.

In process, against the example's sandbox over real HTTP: the kit's tests are plain coroutines
taking the `Agency` fixture, so they run here without a pytest subprocess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from adapters.sdk import OperationContext, Steps, Succeeded
from collection_gateway.conformance import running_agency
from collection_gateway.conformance import suite as kit
from tests.sdk.conftest import ROOT

SOURCE = ROOT / "examples" / "adapter-example-multistep" / "src"


@pytest.fixture
def verdandi() -> Iterator[ModuleType]:
    sys.path.insert(0, str(SOURCE))
    try:
        import verdandi.adapter

        yield verdandi.adapter
    finally:
        sys.path.remove(str(SOURCE))


def _spec(adapter: ModuleType) -> Any:
    return sys.modules["verdandi"].SPEC


def _refused_read_as_accepted(adapter: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's refusals are overlooked: every invoice reads as accepted."""

    def review(release: Any, claims: Any) -> Any:
        if release.state != "DECIDED":
            return None
        return Succeeded(
            agency_reference=release.id, invoice_references={c.invoice_number: c.id for c in claims}
        )

    monkeypatch.setattr(adapter, "review_outcome", review)


def _steps_forgotten(adapter: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt starts the create over: no checkpoint, no look-up, every step resent."""

    def fresh(op: OperationContext) -> Steps:
        return Steps(OperationContext(id=op.id, kind=op.kind, idempotency_token=op.idempotency_token))

    monkeypatch.setattr(adapter, "Steps", fresh)


async def test_unplanted_the_kit_passes_partial_acceptance_and_a_lost_step(verdandi: ModuleType) -> None:
    spec = _spec(verdandi)
    async with running_agency(spec) as agency:
        await kit.test_a_claim_refused_for_one_invoice_is_partially_accepted(agency)
    await kit.test_a_create_whose_answer_was_lost_is_reconciled_without_a_second_write(spec)


async def test_the_kit_names_refused_invoices_read_as_accepted(
    verdandi: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refused_read_as_accepted(verdandi, monkeypatch)
    async with running_agency(_spec(verdandi)) as agency:
        with pytest.raises(AssertionError, match="expected PartiallyAccepted listing it"):
            await kit.test_a_claim_refused_for_one_invoice_is_partially_accepted(agency)


async def test_the_kit_names_a_step_resent_after_its_answer_was_lost(
    verdandi: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    _steps_forgotten(verdandi, monkeypatch)
    with pytest.raises(AssertionError, match="never carried out twice"):
        await kit.test_a_create_whose_answer_was_lost_is_reconciled_without_a_second_write(_spec(verdandi))
