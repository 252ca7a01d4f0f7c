"""The client against a running gateway and the agencies' sandboxes: what a calling service sees."""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from collection_gateway_client import (
    Address,
    AgencyRejected,
    AsyncClient,
    BadRequest,
    ClaimCreate,
    Client,
    Debtor,
    DuplicateClientReference,
    Forbidden,
    IdempotencyKeyReused,
    InvoiceCreate,
    Money,
    NotFound,
    Operation,
    PaymentReport,
    RetryPolicy,
    Unauthorized,
    UnsupportedByAgency,
    ValidationFailed,
)

from gateway.demo import DEMO_KEYS
from tests.client.conftest import Stack, reference
from tests.client.proxy import Proxy

pytestmark = pytest.mark.e2e

FAST = RetryPolicy(attempts=6, timeout=30, wait_initial=0.05, wait_max=1, wait_jitter=0.05)


def claim(currency: str = "EUR", amount: int = 12000, client_reference: str | None = None) -> ClaimCreate:
    """Invoice numbers are unique per claim: Intrum refuses a number its portfolio already has."""
    return ClaimCreate(
        client_reference=client_reference or reference(),
        currency=currency,
        debtor=Debtor(
            kind="person",
            reference="CUST-42",
            first_name="Anna",
            last_name="Muster",
            language="de",
            address=Address(
                street="Bahnhofstrasse", house_number="1", postal_code="8001", city="Zurich", country="CH"
            ),
        ),
        invoices=[
            InvoiceCreate(
                number=f"INV-{uuid.uuid4().hex[:8]}",
                issued_on=dt.date(2026, 10, 1),
                due_on=dt.date(2026, 10, 31),
                amount=Money(amount=amount, currency=currency),
                costs=Money(amount=500, currency=currency),
            )
        ],
    )


@pytest.fixture
def gateway(stack: Stack) -> Iterator[Client]:
    with Client(stack.url, DEMO_KEYS["acme"], tenant="acme", retry=FAST) as client:
        yield client


@pytest.fixture
def proxy(stack: Stack) -> Iterator[Proxy]:
    running = Proxy(stack.gateway.port)
    try:
        yield running
    finally:
        running.close()


CREATIONS = {"intrum": "registration", "debbie": "case.create"}


def creations(stack: Stack, agency: str, body: ClaimCreate) -> int:
    """How many times the agency was handed this claim (its invoice number is unique to it)."""
    number = body.invoices[0].number
    return sum(
        1
        for entry in stack.ledger(agency)
        if entry["kind"] == CREATIONS[agency] and number in str(entry["body"])
    )


def test_submit_wait_read_report_a_payment_and_reverse_it(gateway: Client) -> None:
    body = claim()
    accepted = gateway.claims.create(body)
    assert isinstance(accepted, Operation) and accepted.kind == "claim.create"
    assert accepted.status in ("queued", "submitted", "succeeded")
    done = gateway.wait_for(accepted, timeout=20)
    assert done.status == "succeeded" and done.agency == "intrum"

    read = gateway.claims.get(done.claim_id)
    assert read.client_reference == body.client_reference and read.agency_reference
    assert gateway.claims.get(done.claim_id, refresh=True).synced_at is not None  # read at the agency
    assert read.balance == Money(amount=12500, currency="EUR")
    [invoice] = list(gateway.claims.invoices(read.id))
    assert invoice.remaining == Money(amount=12000, currency="EUR")

    paid = gateway.claims.report_payment(
        read.id,
        PaymentReport(
            payment_id="P-1", amount=Money(amount=5000, currency="EUR"), paid_on=dt.date(2026, 11, 20)
        ),
        wait=20,
    )
    assert paid.kind == "payment.report" and paid.status == "succeeded", paid.error
    reversed_ = gateway.wait_for(gateway.claims.reverse_payment(read.id, "P-1", reason="bounced"), timeout=20)
    assert reversed_.kind == "payment.reverse" and reversed_.status == "succeeded", reversed_.error


def test_lists_are_iterated_across_pages(gateway: Client) -> None:
    mine = {gateway.claims.create(claim()).claim_id for _ in range(3)}
    seen = [c.id for c in gateway.claims.list(page_size=2)]
    assert mine <= set(seen) and len(seen) == len(set(seen))
    operations = [op.claim_id for op in gateway.operations.list(kind="claim.create", page_size=2)]
    assert mine <= set(operations)
    assert [c.id for c in gateway.claims.list(client_reference="no-such-reference")] == []


def test_a_dropped_connection_is_retried_with_the_same_key_and_reaches_the_agency_once(
    stack: Stack, proxy: Proxy
) -> None:
    body = claim(currency="SEK")  # Debbie
    proxy.plan = ["drop"]  # the gateway accepts it, the answer never arrives
    with Client(proxy.base_url, DEMO_KEYS["acme"], tenant="acme", retry=FAST) as client:
        operation = client.claims.create(body)
        final = client.wait_for(operation, timeout=20)
        assert final.status == "succeeded"
        assert [c.id for c in client.claims.list(client_reference=body.client_reference)] == [
            operation.claim_id
        ]
    assert [status for _, method, _, status in proxy.seen if method == "POST"] == ["dropped", 202]
    assert creations(stack, "debbie", body) == 1


def test_429_is_retried_after_retry_after(gateway: Client, proxy: Proxy) -> None:
    proxy.plan = ["429"]
    with Client(proxy.base_url, DEMO_KEYS["acme"], tenant="acme", retry=FAST) as client:
        assert [agency.name for agency in client.agencies()]
    (first, _, _, refused), (second, _, _, answered) = proxy.seen
    assert (refused, answered) == (429, 200)
    assert second - first >= 0.9  # Retry-After: 1, though the policy's own backoff starts at 0.05 s


def test_a_retry_while_the_first_request_still_runs_gets_its_answer(stack: Stack, proxy: Proxy) -> None:
    """409 idempotency_in_progress is retried with the same key until the first request's answer is stored."""
    body = claim(currency="SEK")  # Debbie, made slow for this test
    key = str(uuid.uuid4())
    stack.faults("debbie", latency_ms=1500, paths="/cases$")
    first: list[Operation] = []
    try:
        with Client(stack.url, DEMO_KEYS["acme"], tenant="acme", retry=FAST) as direct:
            waiting = threading.Thread(
                target=lambda: first.append(direct.claims.create(body, idempotency_key=key, wait=10))
            )
            waiting.start()
            try:
                deadline = dt.datetime.now() + dt.timedelta(seconds=10)
                while not list(direct.claims.list(client_reference=body.client_reference)):
                    assert dt.datetime.now() < deadline, "the first request was never accepted"
                with Client(proxy.base_url, DEMO_KEYS["acme"], tenant="acme", retry=FAST) as second:
                    again = second.claims.create(body, idempotency_key=key)
            finally:
                waiting.join(timeout=20)
    finally:
        stack.faults("debbie")
    assert first and again.id == first[0].id and again.status == first[0].status == "succeeded"
    statuses = [status for _, method, _, status in proxy.seen if method == "POST"]
    assert statuses[0] == 409 and statuses[-1] == 201, statuses
    assert creations(stack, "debbie", body) == 1


def test_each_problem_is_a_typed_exception_with_code_pointer_and_request_id(
    stack: Stack, gateway: Client
) -> None:
    with pytest.raises(NotFound) as not_found:
        gateway.claims.get("clm_nope")
    assert (
        not_found.value.code == "not_found" and not_found.value.status == 404 and not_found.value.request_id
    )

    bad = claim(amount=0)
    with pytest.raises(ValidationFailed) as invalid:
        gateway.claims.create(bad)
    assert invalid.value.code == "validation_failed"
    assert "/invoices/0/amount/amount" in invalid.value.pointers

    body = claim()
    gateway.claims.create(body, wait=10)
    with pytest.raises(DuplicateClientReference) as duplicate:
        gateway.claims.create(body)
    assert duplicate.value.status == 409

    key = str(uuid.uuid4())
    gateway.claims.create(claim(), idempotency_key=key)
    with pytest.raises(IdempotencyKeyReused):
        gateway.claims.create(claim(), idempotency_key=key)
    with pytest.raises(BadRequest) as too_long:
        gateway.claims.create(claim(), idempotency_key="k" * 256)
    assert too_long.value.code == "idempotency_key_invalid"

    nordic = gateway.wait_for(gateway.claims.create(claim(currency="SEK")), timeout=20)
    assert nordic.agency == "debbie"
    with pytest.raises(UnsupportedByAgency) as unsupported:
        gateway.claims.reverse_payment(nordic.claim_id, "P-1")
    assert unsupported.value.agency == "debbie"

    with Client(stack.url, "not-a-key", tenant="acme") as stranger, pytest.raises(Unauthorized) as refused:
        stranger.agencies()
    assert refused.value.request_id
    with Client(stack.url, DEMO_KEYS["admin"], tenant="acme") as admin, pytest.raises(Forbidden):
        admin.claims.get("clm_nope")


async def test_the_async_client_does_the_same_over_asyncio(stack: Stack) -> None:
    async with AsyncClient(stack.url, DEMO_KEYS["acme"], tenant="acme", retry=FAST) as gateway:
        operation = await gateway.wait_for(await gateway.claims.create(claim(currency="SEK")), timeout=20)
        assert operation.status == "succeeded"
        read = await gateway.claims.get(operation.claim_id)
        assert [i.number async for i in gateway.claims.invoices(read.id)] == [read.invoices[0].number]
        assert operation.claim_id in [c.id async for c in gateway.claims.list(page_size=2)]
        assert "operation.succeeded" in [event.type async for event in gateway.events.list()]
        with pytest.raises(NotFound):
            await gateway.claims.get("clm_nope")


def test_the_readme_example_runs_as_written(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert len(example.splitlines()) <= 15
    exec(compile(example.replace("http://127.0.0.1:8000", stack.url), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert re.search(r"^clm_\S+ \d+ EUR$", printed, re.MULTILINE), printed


def test_an_agency_rejection_is_a_failed_operation_that_raises_agency_rejected(gateway: Client) -> None:
    first = claim()
    assert gateway.wait_for(gateway.claims.create(first, wait=10), timeout=20).status == "succeeded"
    again = claim()  # another claim, but an invoice number Intrum's portfolio already has
    again.invoices[0].number = first.invoices[0].number
    failed = gateway.wait_for(gateway.claims.create(again), timeout=20)
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "agency_rejected"
    with pytest.raises(AgencyRejected) as rejected:
        failed.raise_for_failure()
    assert rejected.value.code == "agency_rejected" and rejected.value.detail
    assert gateway.claims.get(failed.claim_id).status == "rejected"
