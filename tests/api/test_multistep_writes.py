"""A create made of several agency calls (`adapters.sdk.Steps`) through the real worker and store:
whatever step loses its answer, whatever step the worker fails at, and when the store fails to
keep a step's checkpoint, the claim is created with every step carried out once at an agency
that has no idempotency key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import msgspec
import pytest

from adapters.base import ClaimRef, Credential, OperationContext, Outcome, Succeeded
from adapters.sandbox_kit import serve_in_thread
from adapters.steps import Steps
from canonical import ClaimCreate
from canonical.problems import OutcomeUnknown
from gateway.app import create_app
from gateway.stores.base import StoreUnavailable
from gateway.stores.memory import MemoryStore
from gateway.stores.records import OperationRecord
from tests.api.test_pipeline import CLAIMS, wait_for_status
from tests.support.fake_agency import FakeAdapter, FakeAgency, fake_spec
from tests.support.gateway import auth, claim_body, gateway_settings

INVOICES = ("INV-1", "INV-2")
STEPS = ("debtor", *(f"claim:{number}" for number in INVOICES), "release")


class StepAgency:
    """An agency with no idempotency key: every send creates; a look-up finds by our reference."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.look_ups: list[str] = []
        #: step → "lost" (carried out, answer lost) or "crash" (carried out, then our own fault)
        self.faults: dict[str, str] = {}

    async def send(self, step: str) -> str:
        self.writes.append(step)
        fault = self.faults.pop(step, None)
        if fault == "lost":
            raise OutcomeUnknown("timed out after sending", agency="fake")
        if fault == "crash":
            raise RuntimeError("the worker failed after sending")
        return f"id:{step}"

    async def look_up(self, step: str) -> str | None:
        self.look_ups.append(step)
        return f"id:{step}" if step in self.writes else None


class StepAdapter(FakeAdapter):
    """The fake agency's adapter, creating claims in steps."""

    def __init__(self, agency: FakeAgency, steps: StepAgency) -> None:
        super().__init__(agency)
        self.steps = steps

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        steps = Steps(op)
        names = ["debtor", *(f"claim:{invoice.number}" for invoice in claim.invoices), "release"]
        ids = [
            await steps.step(
                name,
                send=lambda name=name: self.steps.send(name),  # type: ignore[misc]
                look_up=lambda name=name: self.steps.look_up(name),  # type: ignore[misc]
                result=str,
            )
            for name in names
        ]
        return Succeeded(agency_reference=ids[-1])

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> Any:
        raise AssertionError("not read in these tests")


class FlakyStore(MemoryStore):
    """Fails to save an operation whose step log says it is about to send `failing` (once)."""

    def __init__(self, failing: str | None = None) -> None:
        super().__init__()
        self.failing = failing

    async def save_operation(
        self, operation: OperationRecord, claim: Any = None, events: Sequence[Any] = ()
    ) -> None:
        if self.failing and f'"sending":"{self.failing}"' in (operation.agency_request or ""):
            self.failing = None
            raise StoreUnavailable("the store went away")
        await super().save_operation(operation, claim, events)


@pytest.fixture
def steps() -> StepAgency:
    return StepAgency()


async def _client(
    agency: FakeAgency, steps: StepAgency, store: MemoryStore
) -> AsyncIterator[httpx.AsyncClient]:
    spec = msgspec.structs.replace(fake_spec(agency), create=lambda context: StepAdapter(agency, steps))
    specs = {"fake": spec}
    server = serve_in_thread(create_app(gateway_settings(specs), store=store, specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        server.stop()


async def _create(http: httpx.AsyncClient) -> dict[str, Any]:
    body = claim_body()
    first = body["invoices"][0]
    body["invoices"] = [{**first, "number": number} for number in INVOICES]
    accepted = await http.post(CLAIMS, json=body, headers=auth(idempotency_key="multi-1"))
    assert accepted.status_code == 202, accepted.text
    return await wait_for_status(http, accepted.headers["location"], "succeeded", "failed")


#: (step, fault): every kind of step once, each fault at least once (tests/sdk/test_steps.py
#: crosses every fault with every step without a gateway).
AT = [("debtor", "lost"), ("claim:INV-2", "crash"), ("claim:INV-1", "lost"), ("release", "crash")]


@pytest.mark.parametrize(("step", "fault"), AT)
async def test_a_step_carried_out_without_its_answer_is_looked_up_and_the_create_goes_on(
    agency: FakeAgency, steps: StepAgency, step: str, fault: str
) -> None:
    steps.faults[step] = fault
    async for http in _client(agency, steps, MemoryStore()):
        done = await _create(http)
    assert done["status"] == "succeeded", done
    assert done["agency_reference"] == "id:release"
    assert steps.writes == list(STEPS)  # each step once, none resent
    assert steps.look_ups == [step]  # only the step in flight; finished ones come from the log


@pytest.mark.parametrize("step", ["debtor", "claim:INV-2"])
async def test_a_store_that_fails_to_keep_a_steps_checkpoint_delays_the_create_never_fails_it(
    agency: FakeAgency, steps: StepAgency, step: str
) -> None:
    async for http in _client(agency, steps, FlakyStore(failing=step)):
        done = await _create(http)
    assert done["status"] == "succeeded", done
    assert steps.writes == list(STEPS)
