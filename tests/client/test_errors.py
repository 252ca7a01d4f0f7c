"""Which answers become which exception, and which of them the retry policy retries."""

from __future__ import annotations

import json

import httpx
import pytest
from collection_gateway_client import (
    AgencyRejected,
    BadRequest,
    DuplicateClientReference,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    NotFound,
    ProblemError,
    RateLimited,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    UnprocessableEntity,
    UnsupportedByAgency,
    ValidationFailed,
)
from collection_gateway_client._core import should_retry
from collection_gateway_client.errors import problem_error


def problem(status: int, code: str, **extra: object) -> bytes:
    return json.dumps({"type": "about:blank", "title": "t", "status": status, "code": code, **extra}).encode()


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "idempotency_key_missing", BadRequest),
        (404, "not_found", NotFound),
        (409, "duplicate_client_reference", DuplicateClientReference),
        (409, "idempotency_in_progress", IdempotencyInProgress),
        (422, "validation_failed", ValidationFailed),
        (422, "unsupported_by_agency", UnsupportedByAgency),
        (422, "idempotency_key_reused", IdempotencyKeyReused),
        (422, "agency_rejected", AgencyRejected),
        (422, "a_code_of_a_newer_gateway", UnprocessableEntity),
        (429, "rate_limited", RateLimited),
        (503, "agency_rate_limited", ServiceUnavailable),
        (502, "agency_auth_failed", ServerError),
        (418, "teapot", ProblemError),
    ],
)
def test_problems_map_to_their_exception_by_code_then_status(status: int, code: str, kind: type) -> None:
    error = problem_error(status, problem(status, code), request_id="req-1")
    assert type(error) is kind
    assert (error.status, error.code, error.request_id) == (status, code, "req-1")


def test_pointers_come_from_errors() -> None:
    body = problem(
        422, "validation_failed", errors=[{"pointer": "/invoices/0/amount/amount", "detail": "> 0"}]
    )
    assert problem_error(422, body).pointers == ["/invoices/0/amount/amount"]


def test_an_answer_that_is_not_problem_json_still_raises_by_status() -> None:
    error = problem_error(502, b"<html>Bad Gateway</html>")
    assert isinstance(error, ServerError) and error.status == 502 and error.code == "http_error"


@pytest.mark.parametrize(
    ("error", "decision"),
    [
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("dropped"), True),
        (problem_error(503, problem(503, "store_unavailable"), retry_after=1), 1),
        (problem_error(429, problem(429, "rate_limited"), retry_after=2.5), 2.5),
        (problem_error(429, problem(429, "rate_limited"), retry_after=3600), False),  # longer than we wait
        (problem_error(409, problem(409, "idempotency_in_progress")), True),
        (problem_error(500, problem(500, "internal_error")), True),
        (problem_error(409, problem(409, "duplicate_client_reference")), False),
        (problem_error(422, problem(422, "validation_failed")), False),
        (problem_error(404, problem(404, "not_found")), False),
    ],
)
def test_the_retry_policy_retries_what_may_succeed_later(error: Exception, decision: bool | float) -> None:
    assert should_retry(RetryPolicy())(error) == decision
