"""The Intrum sandbox behaves as CPS-API V1 is documented, seen over real HTTP with plain httpx.

The sandbox's clock is the test's: token lifetimes, rate-limit windows, idempotency retention and
processing steps move when the test moves the clock, never by waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.intrum.sandbox import API_PREFIX, TOKEN_PATH, SandboxOptions, create_app
from adapters.sandbox_kit import serve_in_thread

START = 1_790_000_000.0  # 2026-09-21, an ordinary Monday


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Intrum:
    """A plain HTTP client of the sandbox, speaking Intrum's wire as the document shows it."""

    def __init__(self, http: httpx.Client, clock: Clock) -> None:
        self.http = http
        self.clock = clock
        self._tokens: dict[str, str] = {}

    def token(self, client_id: str = "demo-rw", secret: str | None = None) -> str:
        response = self.http.post(
            TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret or f"{client_id}-secret",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def forget_tokens(self) -> None:
        self._tokens.clear()

    def call(
        self, method: str, path: str, *, client_id: str = "demo-rw", key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        if client_id not in self._tokens:
            self._tokens[client_id] = self.token(client_id)
        headers = {"Authorization": f"Bearer {self._tokens[client_id]}", "Accept": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        return self.http.request(method, API_PREFIX + path, headers=headers, **kwargs)

    def register(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return self.call("POST", "/portfolio/registration", key=key or str(uuid.uuid4()), json=body)

    def track(self, tracking_id: int) -> dict[str, Any]:
        response = self.call("GET", "/tracking", params={"trackingId": tracking_id})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def registered_case(self, body: dict[str, Any]) -> int:
        """Register and read /tracking until the case exists; its number."""
        accepted = self.register(body)
        assert accepted.status_code == 202, accepted.text
        for _ in range(5):
            tracking = self.track(accepted.json()["trackingId"])
            transaction = tracking["transactions"][0]
            if transaction["status"] == "COMPLETED":
                return int(transaction["identifiers"]["caseNumber"])
        pytest.fail(f"registration did not complete: {tracking}")

    def ledger(self, kind: str) -> list[dict[str, Any]]:
        entries = self.http.get("/_sandbox/ledger").json()["entries"]
        return [entry for entry in entries if entry["kind"] == kind]


def registration(tag: str | None = None, *, invoices: int = 2, customer: str | None = None) -> dict[str, Any]:
    tag = tag or uuid.uuid4().hex[:8]
    return {
        "claimType": "INV",
        "currency": "CHF",
        "customer": {
            "customerReference": customer or f"CUST-{tag}",
            "customerType": "PERSON",
            "firstName": "Lisa",
            "lastName": "Meier",
            "language": "DE",
            "address": {"street": "Bahnhofstrasse", "zipCode": "8001", "town": "Zürich", "countryCode": "CH"},
        },
        "invoices": [
            {
                "invoiceNumber": f"{tag}-{index}",
                "invoiceDate": "2026-08-01",
                "dueDate": "2026-09-01",
                "invoiceClaimedAmount": 500.5,
                "invoiceClientCosts": 20,
                "invoiceAttributes": [{"attributeType": "itemId", "attributeValue": f"ITEM-{tag}-{index}"}],
            }
            for index in range(invoices)
        ],
    }


def _serve(clock: Clock, options: SandboxOptions) -> Iterator[Intrum]:
    server = serve_in_thread(create_app(options=options, clock=clock))
    try:
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            yield Intrum(http, clock)
    finally:
        server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def intrum(clock: Clock) -> Iterator[Intrum]:
    # processing moves on reads only, so that each step is seen
    yield from _serve(clock, SandboxOptions(step_seconds=None))


# --- authentication ---


def test_a_token_is_a_bearer_token_for_300_seconds(intrum: Intrum) -> None:
    response = intrum.http.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": "demo-rw", "client_secret": "demo-rw-secret"},
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert response.json()["expires_in"] == 300


def test_an_expired_token_is_access_denied(intrum: Intrum, clock: Clock) -> None:
    assert intrum.call("GET", "/portfolio/query").status_code == 200
    clock.advance(301)
    response = intrum.call("GET", "/portfolio/query")
    assert (response.status_code, response.json()) == (401, {"message": "Access denied"})


def test_a_call_without_a_token_is_access_denied(intrum: Intrum) -> None:
    response = intrum.http.get(API_PREFIX + "/portfolio/query")
    assert (response.status_code, response.json()) == (401, {"message": "Access denied"})


def test_a_wrong_secret_gets_no_token(intrum: Intrum) -> None:
    response = intrum.http.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": "demo-rw", "client_secret": "guess"},
    )
    assert response.status_code == 401


def test_read_only_credentials_cannot_write(intrum: Intrum) -> None:
    response = intrum.call(
        "POST", "/portfolio/registration", client_id="demo-ro", key="k", json=registration()
    )
    assert response.status_code == 403
    assert intrum.ledger("registration") == []
    assert intrum.call("GET", "/portfolio/query", client_id="demo-ro").status_code == 200


# --- strict bodies ---


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: b["invoices"][0].update(invoiceClaimedAmount="500.50"),
            "invoiceClaimedAmount must be a number",
        ),
        (lambda b: b.update(inovices=b["invoices"]), "unknown field `inovices`"),
        (lambda b: b.update(claimType="LOAN"), "claimType"),
        (lambda b: b["customer"].update(language="UNKNOWN"), "language"),
        (lambda b: b["customer"]["address"].pop("zipCode"), "zipCode"),
        (lambda b: b["invoices"][0].update(invoiceClaimedAmount=1.005), "more decimals than CHF allows"),
        (lambda b: b["invoices"][0].update(invoiceClaimedAmount=0), "strictly positive"),
        (
            lambda b: b["invoices"][1].update(invoiceNumber=b["invoices"][0]["invoiceNumber"]),
            "already exists",
        ),
        (lambda b: b["customer"].update(phoneNumber="079 123 45 67"), "E.164"),
    ],
    ids=[
        "amount-as-string",
        "misspelt-field",
        "claim-type",
        "language",
        "zip-missing",
        "fraction",
        "zero",
        "dup",
        "phone",
    ],
)
def test_a_body_that_breaks_the_schema_is_refused_with_a_message(
    intrum: Intrum, change: Any, message: str
) -> None:
    body = registration()
    change(body)
    response = intrum.register(body)
    assert response.status_code == 422
    assert message in response.json()["message"]
    assert intrum.ledger("registration") == []


def test_an_invoice_number_already_in_the_portfolio_is_refused(intrum: Intrum) -> None:
    intrum.registered_case(registration("DUP"))
    response = intrum.register(registration("DUP"))
    assert response.status_code == 422
    assert "already exists" in response.json()["message"]


# --- idempotency ---


def test_a_repeated_key_gets_the_first_answer_and_nothing_is_done_twice(intrum: Intrum) -> None:
    body = registration()
    first = intrum.register(body, key="same-key")
    again = intrum.register(body, key="same-key")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert len(intrum.ledger("registration")) == 1


def test_a_repeated_key_with_another_body_still_gets_the_first_answer(intrum: Intrum) -> None:
    # "the API will return the original response from the first submission rather than
    # executing the operation again" - whatever the second body says
    first = intrum.register(registration(), key="reused")
    other = intrum.register(registration(), key="reused")
    assert other.json() == first.json()
    assert len(intrum.ledger("registration")) == 1


def test_a_key_is_forgotten_after_seven_days(intrum: Intrum, clock: Clock) -> None:
    first = intrum.register(registration(), key="old-key")
    clock.advance(7 * 24 * 3600 + 1)
    intrum.forget_tokens()  # they lived 300 s
    later = intrum.register(registration(), key="old-key")
    assert later.status_code == 202
    assert later.json()["trackingId"] != first.json()["trackingId"]
    assert len(intrum.ledger("registration")) == 2


# --- asynchronous processing ---


def test_a_registration_goes_through_registered_in_progress_completed(intrum: Intrum) -> None:
    body = registration(invoices=2)
    tracking_id = intrum.register(body).json()["trackingId"]
    seen = [intrum.track(tracking_id) for _ in range(3)]
    assert [[t["status"] for t in s["transactions"]] for s in seen] == [
        ["REGISTERED", "REGISTERED"],
        ["IN_PROGRESS", "IN_PROGRESS"],
        ["COMPLETED", "COMPLETED"],
    ]
    done = seen[-1]["transactions"]
    assert {t["identifiers"]["invoiceNumber"] for t in done} == {i["invoiceNumber"] for i in body["invoices"]}
    case_number = done[0]["identifiers"]["caseNumber"]
    cases = intrum.call("GET", "/portfolio/query", params={"caseNumber": case_number}).json()
    assert cases["matchingResults"][0]["invoiceNumbers"] == [i["invoiceNumber"] for i in body["invoices"]]


def test_a_debtor_named_reject_fails_registration_with_a_message(intrum: Intrum) -> None:
    tracking_id = intrum.register(registration(customer="REJECT-42")).json()["trackingId"]
    last = [intrum.track(tracking_id) for _ in range(3)][-1]
    assert {t["status"] for t in last["transactions"]} == {"FAILED"}
    assert "rejected" in last["transactions"][0]["message"]
    assert (
        intrum.call("GET", "/portfolio/query", params={"customerReference": "REJECT-42"}).json()[
            "matchingResults"
        ]
        == []
    )


def test_processing_also_moves_on_with_time(clock: Clock) -> None:
    for intrum in _serve(clock, SandboxOptions(step_seconds=1.0)):
        tracking_id = intrum.register(registration()).json()["trackingId"]
        clock.advance(2.0)
        assert intrum.track(tracking_id)["transactions"][0]["status"] == "COMPLETED"


def test_tracking_of_another_client_is_not_visible(intrum: Intrum) -> None:
    tracking_id = intrum.register(registration()).json()["trackingId"]
    response = intrum.call("GET", "/tracking", client_id="demo-ro", params={"trackingId": tracking_id})
    assert response.status_code == 422


# --- reads and pagination ---


def test_cases_page_forward_and_back_by_case_number(intrum: Intrum) -> None:
    numbers = [intrum.registered_case(registration(invoices=1)) for _ in range(5)]
    forward: list[int] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"startingAfter": after} if after else {})}
        page = intrum.call("GET", "/portfolio/query", params=params).json()
        forward += [case["caseNumber"] for case in page["matchingResults"]]
        if not page["hasMore"]:
            break
        after = str(forward[-1])
    assert forward == sorted(numbers)
    back = intrum.call("GET", "/portfolio/query", params={"limit": 2, "endingBefore": numbers[3]}).json()
    assert ([c["caseNumber"] for c in back["matchingResults"]], back["hasMore"]) == (numbers[1:3], True)


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"startingAfter": "1", "endingBefore": "9"}]
)
def test_bad_pagination_parameters_are_refused(intrum: Intrum, params: dict[str, Any]) -> None:
    assert intrum.call("GET", "/portfolio/query", params=params).status_code == 422


def test_invoice_query_needs_an_identifier_that_matches(intrum: Intrum) -> None:
    assert intrum.call("GET", "/invoices/query").status_code == 422
    assert intrum.call("GET", "/invoices/query", params={"invoiceNumber": "nope"}).status_code == 422


def test_invoice_attributes_come_only_when_asked_for(intrum: Intrum) -> None:
    body = registration("ATTR", invoices=1)
    intrum.registered_case(body)
    plain = intrum.call("GET", "/invoices/query", params={"itemId": "ITEM-ATTR-0"}).json()
    assert "invoiceAttributes" not in plain
    assert plain["invoiceClaimedAmount"] == 500.5
    full = intrum.call(
        "GET", "/invoices/query", params={"invoiceNumber": "ATTR-0", "addInvoiceAttributes": "true"}
    ).json()
    assert full["invoiceAttributes"] == [{"attributeType": "itemId", "attributeValue": "ITEM-ATTR-0"}]


def test_a_payments_window_over_100_days_is_refused(intrum: Intrum) -> None:
    ok = {"fromJournalizedDate": "2026-01-01", "toJournalizedDate": "2026-04-10"}
    too_long = {"fromJournalizedDate": "2026-01-01", "toJournalizedDate": "2026-04-11"}
    assert intrum.call("GET", "/portfolio/payments", params=ok).status_code == 200
    response = intrum.call("GET", "/portfolio/payments", params=too_long)
    assert response.status_code == 422
    assert "100 days" in response.json()["message"]


def test_a_reported_payment_lowers_the_remaining_amount_but_is_never_journalized(intrum: Intrum) -> None:
    # "/portfolio/payments: journalized payment transactions and payment reversals collected by Intrum"
    intrum.registered_case(registration("PAY", invoices=2))
    payment = {
        "paymentId": "P-PAY",
        "totalPaymentAmount": 600.5,
        "paymentDate": "2026-09-10",
        "invoices": [
            {"invoiceNumber": "PAY-0", "paymentAmount": 500.5},
            {"itemId": "ITEM-PAY-1", "paymentAmount": 100},
        ],
    }
    accepted = intrum.call("POST", "/invoices/payment", key="pay-1", json=payment)
    assert accepted.status_code == 202, accepted.text
    for _ in range(3):
        intrum.track(accepted.json()["trackingId"])
    window = {"fromJournalizedDate": "2026-09-01", "toJournalizedDate": "2026-10-01"}
    assert intrum.call("GET", "/portfolio/payments", params=window).json()["payments"] == []
    closed = intrum.call("GET", "/invoices/query", params={"invoiceNumber": "PAY-0"}).json()
    assert (closed["invoiceRemainingAmount"], closed["closingCode"]) == (0, None)  # client costs still open
    updates = intrum.call(
        "GET", "/portfolio/statusUpdate", params={"lastUpdatedFrom": "2026-01-01T00:00:00Z"}
    )
    remaining = {u["invoiceNumber"]: u["invoiceRemainingAmount"] for u in updates.json()["updates"]}
    assert remaining == {"PAY-0": 0, "PAY-1": 400.5}


def _updates(intrum: Intrum) -> dict[str, dict[str, Any]]:
    answer = intrum.call("GET", "/portfolio/statusUpdate", params={"lastUpdatedFrom": "2026-01-01T00:00:00Z"})
    return {u["invoiceNumber"]: u for u in answer.json()["updates"]}


def test_a_collection_is_journalized_and_its_reversal_too(intrum: Intrum, clock: Clock) -> None:
    case = intrum.registered_case(registration("COL", invoices=1))
    clock.advance(5)
    collected = intrum.http.post(
        "/_sandbox/intrum/collections", json={"caseNumber": case, "invoiceNumber": "COL-0", "amount": 100.5}
    )
    assert collected.status_code == 201, collected.text
    window = {"fromJournalizedDate": "2026-09-01", "toJournalizedDate": "2026-10-01"}
    [record] = intrum.call("GET", "/portfolio/payments", params=window).json()["payments"]
    assert (record["caseNumber"], record["paidInvoiceAmount"], record["type"]) == (case, 100.5, "PAYMENT")
    assert _updates(intrum)["COL-0"]["invoiceRemainingAmount"] == 400
    clock.advance(5)
    reversal = {"intPaymentId": record["intPaymentId"]}
    assert intrum.http.post("/_sandbox/intrum/collections/reversal", json=reversal).status_code == 201
    assert intrum.http.post("/_sandbox/intrum/collections/reversal", json=reversal).status_code == 422
    records = intrum.call("GET", "/portfolio/payments", params=window).json()["payments"]
    assert [(r["type"], r["paidInvoiceAmount"], r["intPaymentId"]) for r in records] == [
        ("PAYMENT", 100.5, record["intPaymentId"]),
        ("REVERSAL", 100.5, record["intPaymentId"]),
    ]
    assert _updates(intrum)["COL-0"]["invoiceRemainingAmount"] == 500.5


def test_intrum_closing_a_case_shows_in_the_status_updates_of_all_its_invoices(
    intrum: Intrum, clock: Clock
) -> None:
    case = intrum.registered_case(registration("CLO", invoices=2))
    before = _updates(intrum)
    assert {u["mainStatusCode"] for u in before.values()} == {1}
    clock.advance(5)
    assert intrum.http.post("/_sandbox/intrum/closings", json={"caseNumber": case}).status_code == 201
    after = _updates(intrum)
    assert all(u["closingCode"] is not None for u in after.values())
    assert all(u["lastUpdatedTimestamp"] > before[n]["lastUpdatedTimestamp"] for n, u in after.items())
    assert {u["mainStatusCode"] for u in after.values()} != {1}


def test_the_agency_collects_on_its_own_when_activity_is_switched_on(intrum: Intrum) -> None:
    case = intrum.registered_case(registration("ACT", invoices=1))
    assert intrum.http.post("/_sandbox/activity/step").json()["activity"]["caseNumber"] == case
    window = {"fromJournalizedDate": "2026-09-01", "toJournalizedDate": "2026-10-01"}
    [record] = intrum.call("GET", "/portfolio/payments", params=window).json()["payments"]
    assert (record["paidInvoiceAmount"], record["type"]) == (125.12, "PAYMENT")  # a quarter of 500.50


def test_a_total_that_is_not_the_sum_is_refused(intrum: Intrum) -> None:
    intrum.registered_case(registration("SUM", invoices=1))
    payment = {
        "paymentId": "P-SUM",
        "totalPaymentAmount": 10,
        "paymentDate": "2026-09-10",
        "invoices": [{"invoiceNumber": "SUM-0", "paymentAmount": 9.99}],
    }
    response = intrum.call("POST", "/invoices/payment", key="sum", json=payment)
    assert response.status_code == 422
    assert "sum" in response.json()["message"]


# --- rate limits ---


def test_over_the_limit_answers_429_with_retry_after_and_ratelimit_headers(clock: Clock) -> None:
    for intrum in _serve(clock, SandboxOptions(per_minute=3, step_seconds=None)):
        answers = [intrum.call("GET", "/portfolio/query") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        refused = answers[-1]
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert refused.headers["Retry-After"] == "60"
        assert int(refused.headers["X-RateLimit-Reset"]) == int(START) + 60
        clock.advance(60)
        assert intrum.call("GET", "/portfolio/query").status_code == 200


def test_the_daily_limit_holds_across_minutes(clock: Clock) -> None:
    for intrum in _serve(clock, SandboxOptions(per_minute=100, per_day=2, step_seconds=None)):
        assert [intrum.call("GET", "/portfolio/query").status_code for _ in range(3)] == [200, 200, 429]
        clock.advance(120)
        assert intrum.call("GET", "/portfolio/query").status_code == 429


def test_status_updates_page_by_timestamp_and_invoice_number(intrum: Intrum, clock: Clock) -> None:
    intrum.registered_case(registration("UPD", invoices=3))
    since = {"lastUpdatedFrom": "2026-01-01T00:00:00Z", "limit": 2}
    first = intrum.call("GET", "/portfolio/statusUpdate", params=since).json()
    assert ([u["invoiceNumber"] for u in first["updates"]], first["hasMore"]) == (["UPD-0", "UPD-1"], True)
    last = first["updates"][-1]
    cursor = {
        "startingAfterTimestamp": last["lastUpdatedTimestamp"],
        "startingAfterInvoiceNumber": last["invoiceNumber"],
    }
    second = intrum.call("GET", "/portfolio/statusUpdate", params={**since, **cursor}).json()
    assert ([u["invoiceNumber"] for u in second["updates"]], second["hasMore"]) == (["UPD-2"], False)
    half_cursor = {**since, "startingAfterTimestamp": last["lastUpdatedTimestamp"]}
    assert intrum.call("GET", "/portfolio/statusUpdate", params=half_cursor).status_code == 422
