"""The SDK's resumable multi-step writes (`Steps`): whatever attempt crashes or loses an answer at
whatever step, the write ends with every step carried out exactly once at the agency, and a
finished step is never called again.

The agency here is a model of one with no idempotency key: each step is a write it carries out
every time it receives it, and a look-up by the step's own reference. The driver plays the
worker: the log `fix_request` stores survives an attempt (as the operation record does) and is
handed back as `request`; an attempt that ended not knowing what the agency did is retried with
`maybe_sent`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.sdk import (
    AgencyUnavailable,
    OperationContext,
    OutcomeUnknown,
    StepLog,
    Steps,
)

STEPS = ("debtor", "claim:INV-1", "claim:INV-2", "release")
#: Where an attempt goes wrong at a step:
#: - "store": the checkpoint store is down before the step is sent (nothing reached the agency);
#: - "unavailable": the agency answers 503 (nothing carried out);
#: - "lost": the agency carries the step out, the answer times out (OutcomeUnknown);
#: - "crash": the agency carries the step out, then the worker dies before it hears back;
#: - "look_up": the look-up itself fails (only fires where the step is looked up).
FAULTS = ("store", "unavailable", "lost", "crash", "look_up")


class Crash(Exception):
    """The worker process died: nothing after this point of the attempt ran."""


class Agency:
    def __init__(self) -> None:
        self.carried: list[str] = []
        self.look_ups: list[str] = []
        self.faults: dict[tuple[str, str], int] = {}
        #: What the worker has stored as finished (set by the Worker), and look-ups made anyway.
        self.stored_done: Callable[[], set[str]] = set
        self.finished_looked_up: list[str] = []

    def fault(self, step: str, kind: str) -> bool:
        left = self.faults.get((step, kind), 0)
        if left:
            self.faults[(step, kind)] = left - 1
        return left > 0

    async def send(self, step: str) -> str:
        if self.fault(step, "unavailable"):
            raise AgencyUnavailable("503")
        self.carried.append(step)
        if self.fault(step, "lost"):
            raise OutcomeUnknown("timed out")
        if self.fault(step, "crash"):
            raise Crash(step)
        return f"id-of-{step}"

    async def look_up(self, step: str) -> str | None:
        self.look_ups.append(step)
        if step in self.stored_done():
            self.finished_looked_up.append(step)
        if self.fault(step, "look_up"):
            raise AgencyUnavailable("503 on the look-up")
        return f"id-of-{step}" if step in self.carried else None


async def write(op: OperationContext, agency: Agency) -> dict[str, str]:
    steps = Steps(op)
    results: dict[str, str] = {}
    for name in STEPS:
        results[name] = await steps.step(
            name,
            send=lambda name=name: agency.send(name),
            look_up=lambda name=name: agency.look_up(name),
            result=str,
        )
    return results


class Worker:
    """Runs attempts as the gateway's worker does, keeping the operation's stored request."""

    def __init__(self, agency: Agency) -> None:
        self.agency = agency
        self.stored: str | None = None
        self.maybe_sent = False
        self.attempts = 0
        self.store_down: set[str] = set()
        agency.stored_done = self.done

    def done(self) -> set[str]:
        return set(msgspec.json.decode(self.stored, type=StepLog).done) if self.stored else set()

    def context(self) -> OperationContext:
        async def fix_request(request: str) -> None:
            for step in list(self.store_down):
                if f'"sending":"{step}"' in request:
                    self.store_down.discard(step)
                    raise Crash("the store is down")  # nothing stored, nothing sent (the worker retries)
            self.stored = request

        self.attempts += 1
        return OperationContext(
            id="op_1",
            kind="claim.create",
            idempotency_token="token-1",
            attempt=self.attempts,
            maybe_sent=self.maybe_sent,
            request=self.stored,
            fix_request=fix_request,
        )

    async def run(self, bound: int = 50) -> dict[str, str]:
        for _ in range(bound):
            try:
                return await write(self.context(), self.agency)
            except OutcomeUnknown:
                self.maybe_sent = True
            except AgencyUnavailable:
                pass
            except Crash:
                self.maybe_sent = True  # found in flight: its outcome is unknown
        pytest.fail("the write never finished")


CLEAN = {name: f"id-of-{name}" for name in STEPS}


def test_a_clean_write_sends_each_step_once_and_looks_nothing_up() -> None:
    agency = Agency()
    worker = Worker(agency)
    assert asyncio.run(worker.run()) == CLEAN
    assert agency.carried == list(STEPS)
    assert agency.look_ups == []
    assert worker.stored is not None and StepLog(done=CLEAN) == Steps(worker.context()).log


@pytest.mark.parametrize("kind", ["lost", "crash"])
@pytest.mark.parametrize("step", STEPS)
def test_a_step_carried_out_without_its_answer_is_looked_up_never_resent(step: str, kind: str) -> None:
    agency = Agency()
    agency.faults[(step, kind)] = 1
    worker = Worker(agency)
    assert asyncio.run(worker.run()) == CLEAN
    assert agency.carried == list(STEPS)
    assert agency.look_ups == [step]  # only the step in flight; finished ones come from the log
    assert worker.attempts == 2


@pytest.mark.parametrize("step", STEPS)
def test_a_step_the_agency_refused_with_a_503_is_looked_up_then_sent(step: str) -> None:
    agency = Agency()
    agency.faults[(step, "unavailable")] = 1
    worker = Worker(agency)
    assert asyncio.run(worker.run()) == CLEAN
    assert agency.carried == list(STEPS)
    assert agency.look_ups == [step]


def test_a_finished_step_is_never_called_again() -> None:
    agency = Agency()
    worker = Worker(agency)
    asyncio.run(worker.run())
    calls = (list(agency.carried), list(agency.look_ups))
    worker.maybe_sent = True  # even an attempt that fears the worst
    assert asyncio.run(write(worker.context(), agency)) == CLEAN
    assert (agency.carried, agency.look_ups) == calls


def test_without_a_stored_log_an_unknown_attempt_looks_every_step_up_first() -> None:
    agency = Agency()
    asyncio.run(write(OperationContext(id="op", kind="claim.create", idempotency_token="t"), agency))
    again = OperationContext(id="op", kind="claim.create", idempotency_token="t", attempt=2, maybe_sent=True)
    assert asyncio.run(write(again, agency)) == CLEAN
    assert agency.carried == list(STEPS)  # nothing twice
    assert agency.look_ups == list(STEPS)


def test_a_request_that_is_not_a_step_log_is_refused_not_guessed_at() -> None:
    op = OperationContext(id="op", kind="claim.create", idempotency_token="t", request='{"amount": 1}')
    with pytest.raises(ValueError, match="step log"):
        Steps(op)


faults = st.lists(st.tuples(st.sampled_from(STEPS), st.sampled_from(FAULTS)), max_size=8)


@given(faults)
def test_whatever_goes_wrong_at_whatever_step_each_step_is_carried_out_exactly_once(
    plan: list[tuple[str, str]],
) -> None:
    agency = Agency()
    worker = Worker(agency)
    for step, kind in plan:
        if kind == "store":
            worker.store_down.add(step)
        else:
            agency.faults[(step, kind)] = agency.faults.get((step, kind), 0) + 1
    assert asyncio.run(worker.run()) == CLEAN
    assert agency.carried == list(STEPS)
    # Never a look-up of a step the log already holds as finished.
    assert agency.finished_looked_up == []
