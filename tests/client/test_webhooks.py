"""verify_webhook: Standard Webhooks signatures, several signatures, the tolerance window."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from collection_gateway_client import WebhookVerificationError, sign_webhook, verify_webhook
from hypothesis import given
from hypothesis import strategies as st

SECRET = "whsec_" + base64.b64encode(b"a secret of the gateway's endpoint").decode()
OTHER = "whsec_" + base64.b64encode(b"someone else's secret").decode()
NOW = 1_790_000_000
EVENT = {
    "id": "evt_1",
    "type": "claim.status_changed",
    "created_at": "2026-11-25T10:00:00Z",
    "claim_id": "clm_1",
    "data": {"from": "pending", "to": "active"},
}
BODY = json.dumps(EVENT).encode()


def headers(signature: str, webhook_id: str = "msg_1", timestamp: int = NOW) -> dict[str, str]:
    return {"Webhook-Id": webhook_id, "Webhook-Timestamp": str(timestamp), "Webhook-Signature": signature}


def test_the_standard_webhooks_test_vector() -> None:
    # The example of the Standard Webhooks specification's reference libraries.
    signature = sign_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_signed_event_is_verified_and_decoded() -> None:
    event = verify_webhook(headers(sign_webhook(SECRET, "msg_1", NOW, BODY)), BODY, SECRET, now=NOW)
    assert (event.id, event.type, event.claim_id, event.data) == (
        "evt_1",
        "claim.status_changed",
        "clm_1",
        EVENT["data"],
    )


def test_any_of_several_signatures_may_match_during_a_rotation() -> None:
    both = f"{sign_webhook(OTHER, 'msg_1', NOW, BODY)} {sign_webhook(SECRET, 'msg_1', NOW, BODY)}"
    assert verify_webhook(headers(both), BODY, SECRET, now=NOW).id == "evt_1"
    assert verify_webhook(headers(both), BODY, OTHER, now=NOW).id == "evt_1"


@pytest.mark.parametrize(
    ("case", "signed_with", "webhook_id", "timestamp", "body"),
    [
        ("another secret", OTHER, "msg_1", NOW, BODY),
        ("another id", SECRET, "msg_2", NOW, BODY),
        ("another timestamp", SECRET, "msg_1", NOW + 1, BODY),
        ("another body", SECRET, "msg_1", NOW, BODY.replace(b"active", b"closed")),
    ],
)
def test_anything_changed_after_signing_is_refused(
    case: str, signed_with: str, webhook_id: str, timestamp: int, body: bytes
) -> None:
    signature = sign_webhook(signed_with, webhook_id, timestamp, body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers(signature), BODY, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, 10_000])
def test_a_timestamp_outside_the_tolerance_is_refused_even_when_signed(offset: int) -> None:
    signature = sign_webhook(SECRET, "msg_1", NOW + offset, BODY)
    with pytest.raises(WebhookVerificationError, match="window"):
        verify_webhook(headers(signature, timestamp=NOW + offset), BODY, SECRET, now=NOW)
    assert (
        verify_webhook(headers(signature, timestamp=NOW + offset), BODY, SECRET, now=NOW + offset).id
        == "evt_1"
    )


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"webhook-id": "msg_1", "webhook-timestamp": str(NOW)},
        {"webhook-id": "msg_1", "webhook-timestamp": "yesterday", "webhook-signature": "v1,x"},
        {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": "v2,abc"},
    ],
)
def test_missing_or_malformed_headers_are_refused(broken: dict[str, str]) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(broken, BODY, SECRET, now=NOW)


def test_a_secret_that_is_not_whsec_base64_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="whsec_"):
        verify_webhook(headers("v1,abc"), BODY, "whsec_!!not base64!!", now=NOW)


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40).filter(lambda s: " " not in s))
def test_only_the_exact_signed_bytes_verify(tail: bytes, webhook_id: str) -> None:
    body = BODY[:-1] + b', "x": "' + base64.b64encode(tail) + b'"}'
    signature = sign_webhook(SECRET, webhook_id, NOW, body)
    assert verify_webhook(headers(signature, webhook_id), body, SECRET, now=NOW).id == "evt_1"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers(signature, webhook_id), body + b" ", SECRET, now=NOW)


def test_what_the_gateway_signs_the_client_verifies_with_either_secret_of_a_rotation() -> None:
    from gateway.webhooks.signing import new_secret, signed_headers

    old, new = new_secret(), new_secret()
    sent_at = dt.datetime.fromtimestamp(NOW, dt.UTC)
    sent = signed_headers([new, old], "evt_1", sent_at, BODY)
    for secret in (old, new):
        assert verify_webhook(sent, BODY, secret, now=NOW).type == "claim.status_changed"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(sent, BODY, new_secret(), now=NOW)
