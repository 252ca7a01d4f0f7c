"""The operation pipeline through the HTTP API, against the fake agency and the embedded store."""

from __future__ import annotations

import asyncio
import threading

from httpx import AsyncClient as AsyncTestClient

from tests.support.fake_agency import FakeAgency
from tests.support.gateway import OTHER_KEY, READ_ONLY_KEY, auth, claim_body

CLAIMS = "/v1/tenants/acme/claims"


async def wait_for_status(
    client: AsyncTestClient, location: str, *statuses: str, timeout: float = 5.0
) -> dict:
    """Poll the operation until it reaches one of `statuses` (a condition, not a fixed sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await client.get(location, headers=auth())).json()
        if body["status"] in statuses:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"operation stuck in {body['status']}"
        await asyncio.sleep(0.01)


async def test_submitted_claim_is_accepted_with_location_and_delivered(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k1"))
    assert response.status_code == 202
    operation = response.json()
    assert operation["kind"] == "claim.create" and operation["status"] == "queued"
    assert response.headers["location"] == f"/v1/tenants/acme/operations/{operation['id']}"
    assert operation["claim_id"].startswith("clm_")
    done = await wait_for_status(client, response.headers["location"], "succeeded")
    assert done["agency_reference"] == "AG-1"
    assert len(agency.ledger) == 1
    claim = (await client.get(f"{CLAIMS}/{operation['claim_id']}", headers=auth())).json()
    # From the claim ledger: the invoice (12000) plus its costs (500) are still owed.
    assert claim["status"] == "active" and claim["balance"] == {"amount": 12500, "currency": "EUR"}
    assert claim["synced_at"] is not None


async def test_prefer_wait_answers_201_when_the_outcome_arrives_in_time(client: AsyncTestClient) -> None:
    response = await client.post(
        CLAIMS, json=claim_body(), headers=auth(idempotency_key="k1", Prefer="wait=5")
    )
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"
    assert response.headers["preference-applied"] == "wait=5"


async def test_replayed_request_returns_the_first_response_byte_for_byte(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    first = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="same"))
    again = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="same"))
    assert again.status_code == first.status_code == 202
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    await wait_for_status(client, first.headers["location"], "succeeded")
    assert len(agency.ledger) == 1


async def test_key_reused_with_another_body_is_422(client: AsyncTestClient) -> None:
    await client.post(CLAIMS, json=claim_body("A"), headers=auth(idempotency_key="k"))
    response = await client.post(CLAIMS, json=claim_body("B"), headers=auth(idempotency_key="k"))
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_key_of_a_request_still_running_is_409(client: AsyncTestClient, agency: FakeAgency) -> None:
    agency.hang = threading.Event()
    first = asyncio.create_task(
        client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="busy", Prefer="wait=10"))
    )
    assert await asyncio.to_thread(agency.entered.wait, 5)
    second = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="busy"))
    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_in_progress"
    agency.hang.set()
    assert (await first).status_code == 201


async def test_missing_or_oversized_idempotency_key_is_400(client: AsyncTestClient) -> None:
    missing = await client.post(CLAIMS, json=claim_body(), headers=auth())
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_missing")
    too_long = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="x" * 256))
    assert (too_long.status_code, too_long.json()["code"]) == (400, "idempotency_key_invalid")


async def test_keys_are_scoped_to_the_tenant(client: AsyncTestClient) -> None:
    mine = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    theirs = await client.post(
        "/v1/tenants/other/claims", json=claim_body(), headers=auth(OTHER_KEY, idempotency_key="k")
    )
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


async def test_unauthorized_answers_are_not_stored_under_the_key(client: AsyncTestClient) -> None:
    refused = await client.post(CLAIMS, json=claim_body(), headers=auth(READ_ONLY_KEY, idempotency_key="k"))
    assert refused.status_code == 403
    accepted = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    assert accepted.status_code == 202


async def test_duplicate_client_reference_is_409_and_replays(client: AsyncTestClient) -> None:
    await client.post(CLAIMS, json=claim_body("ORD-7"), headers=auth(idempotency_key="a"))
    duplicate = await client.post(CLAIMS, json=claim_body("ORD-7"), headers=auth(idempotency_key="b"))
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "duplicate_client_reference"
    replay = await client.post(CLAIMS, json=claim_body("ORD-7"), headers=auth(idempotency_key="b"))
    assert replay.status_code == 409 and replay.content == duplicate.content


async def test_unsupported_currency_is_refused_before_anything_is_stored(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    response = await client.post(CLAIMS, json=claim_body(currency="USD"), headers=auth(idempotency_key="k"))
    assert response.status_code == 422
    assert response.json()["code"] == "unsupported_by_agency" and response.json()["agency"] == "fake"
    operations = (await client.get("/v1/tenants/acme/operations", headers=auth())).json()
    assert operations["data"] == [] and agency.calls == []


async def test_undeclared_capability_is_refused_without_calling_the_agency(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    created = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k", Prefer="wait=5"))
    claim_id = created.json()["claim_id"]
    calls = len(agency.calls)
    note = {
        "number": "CN-1",
        "invoice_number": "INV-1",
        "amount": {"amount": 100, "currency": "EUR"},
        "issued_on": "2026-11-01",
    }
    response = await client.post(
        f"{CLAIMS}/{claim_id}/credit-notes", json=note, headers=auth(idempotency_key="cn")
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unsupported_by_agency"
    assert len(agency.calls) == calls


async def test_transient_agency_faults_are_retried_until_success(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    agency.fail_next = 2
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    await wait_for_status(client, response.headers["location"], "succeeded")
    assert len(agency.calls) == 1 and len(agency.ledger) == 1


async def test_operation_fails_with_agency_unavailable_when_attempts_run_out(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    agency.fail_next = 100
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    failed = await wait_for_status(client, response.headers["location"], "failed")
    assert failed["error"]["code"] == "agency_unavailable"
    claim = (await client.get(f"{CLAIMS}/{failed['claim_id']}", headers=auth())).json()
    # The agency never refused it (it was not reachable, and may even hold it): not `rejected`,
    # still unconfirmed.
    assert claim["status"] == "pending"
    # A follow-up on it fails at once (it has nothing to go to) instead of waiting for ever.
    calls = len(agency.calls)
    payment = {"payment_id": "P-1", "amount": {"amount": 100, "currency": "EUR"}, "paid_on": "2026-11-02"}
    follow_up = await client.post(
        f"{CLAIMS}/{failed['claim_id']}/payments", json=payment, headers=auth(idempotency_key="p")
    )
    assert follow_up.status_code == 202, follow_up.text
    ended = await wait_for_status(client, follow_up.headers["location"], "failed")
    assert ended["error"]["code"] == "agency_unavailable"
    assert failed["id"] in ended["error"]["detail"]
    assert len(agency.calls) == calls


async def test_a_claim_the_agency_refuses_is_rejected(client: AsyncTestClient, agency: FakeAgency) -> None:
    agency.reject_next = "debtor unknown"
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    failed = await wait_for_status(client, response.headers["location"], "failed")
    assert failed["error"]["code"] == "agency_rejected"
    claim = (await client.get(f"{CLAIMS}/{failed['claim_id']}", headers=auth())).json()
    assert claim["status"] == "rejected"


async def test_lost_answer_is_reconciled_and_the_write_reaches_the_agency_once(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    agency.lose_answer_next = 1
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    await wait_for_status(client, response.headers["location"], "succeeded")
    assert len(agency.ledger) == 1
    assert [maybe_sent for _, _, maybe_sent in agency.calls] == [False, True]
    assert len({token for _, token, _ in agency.calls}) == 1  # the same agency-side key on every attempt


async def test_giving_up_on_a_write_whose_outcome_stayed_unknown_says_the_agency_may_hold_it(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    agency.lose_answer_next = 99  # every answer is lost: the gateway never learns the outcome
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    failed = await wait_for_status(client, response.headers["location"], "failed")
    assert failed["error"]["code"] == "agency_unavailable"
    assert "gave up after 4 attempts" in failed["error"]["detail"]
    assert "may have reached fake" in failed["error"]["detail"]


async def test_agency_rejection_fails_the_operation_with_its_message(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    agency.reject_next = "debtor address incomplete"
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    failed = await wait_for_status(client, response.headers["location"], "failed")
    assert failed["error"]["code"] == "agency_rejected"
    assert failed["error"]["detail"] == "debtor address incomplete"


async def test_asynchronous_agency_outcome_is_polled_to_success(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    agency.asynchronous = True
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k"))
    done = await wait_for_status(client, response.headers["location"], "succeeded")
    assert done["agency_reference"] == "AG-1"


async def test_follow_up_goes_to_the_claims_agency_and_events_tell_the_story(
    client: AsyncTestClient, agency: FakeAgency
) -> None:
    created = (
        await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k", Prefer="wait=5"))
    ).json()
    payment = {"payment_id": "P-1", "amount": {"amount": 5000, "currency": "EUR"}, "paid_on": "2026-11-20"}
    reported = await client.post(
        f"{CLAIMS}/{created['claim_id']}/payments",
        json=payment,
        headers=auth(idempotency_key="p", Prefer="wait=5"),
    )
    assert reported.status_code == 200 and reported.json()["status"] == "succeeded"
    assert [kind for kind, _ in agency.ledger.values()] == ["claim.create", "payment.report"]
    events = (await client.get("/v1/tenants/acme/events", headers=auth())).json()["data"]
    assert [e["type"] for e in events] == [
        "operation.succeeded",
        "claim.status_changed",
        "operation.succeeded",
        "invoice.updated",  # the claim ledger: the reported payment lowered what is owed
    ]
    assert events[1]["data"] == {"from": "pending", "to": "active"}
    assert events[3]["data"]["remaining"]["currency"] == "EUR"


async def test_payment_in_another_currency_names_the_field(client: AsyncTestClient) -> None:
    created = (
        await client.post(CLAIMS, json=claim_body(), headers=auth(idempotency_key="k", Prefer="wait=5"))
    ).json()
    payment = {"payment_id": "P-1", "amount": {"amount": 5000, "currency": "CHF"}, "paid_on": "2026-11-20"}
    response = await client.post(
        f"{CLAIMS}/{created['claim_id']}/payments", json=payment, headers=auth(idempotency_key="p")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/amount/currency"
