"""Verifying the gateway's webhooks (Standard Webhooks): `verify_webhook(headers, body, secret)`.

The gateway signs `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256 under the
endpoint's secret (`whsec_<base64 key>`) and sends `webhook-signature: v1,<base64>`; while a
secret is being rotated it sends one signature per secret, space-separated. A receiver checks
the signature over the exact bytes it received, and the timestamp against a tolerance window
(replays of old deliveries are refused). The same `webhook-id` on two deliveries is one event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

import msgspec

from collection_gateway_client.errors import WebhookVerificationError
from collection_gateway_client.models import Event

__all__ = ["TOLERANCE_SECONDS", "sign_webhook", "verify_webhook"]

#: How far `webhook-timestamp` may be from now (either way), as Standard Webhooks recommends.
TOLERANCE_SECONDS = 300
_event = msgspec.json.Decoder(Event)


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not whsec_<base64>") from None


def sign_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of one delivery (what the gateway sends; handy in tests)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Event:
    """The delivered event, once its signature and timestamp check out; WebhookVerificationError if not.

    `headers` as received (names in any case); `body` the raw request body, unparsed.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not webhook_id or not stamp or not signatures:
        raise WebhookVerificationError("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp is not a number: {stamp[:40]!r}") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(f"webhook-timestamp {timestamp} is outside the {tolerance:g} s window")
    raw = body.encode() if isinstance(body, str) else body
    expected = sign_webhook(secret, webhook_id, timestamp, raw).encode()
    if not any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    ):
        raise WebhookVerificationError("no webhook-signature matches this secret")
    try:
        return _event.decode(raw)
    except msgspec.DecodeError as exc:
        raise WebhookVerificationError(f"the signed body is not an event: {exc}") from exc
