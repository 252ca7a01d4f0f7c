"""Signing secrets and Standard Webhooks signatures.

Signatures come from the maintained `standardwebhooks` package (the reference implementation of
https://www.standardwebhooks.com, pure Python, no dependencies): `webhook-signature` is
`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, one per secret, space
separated, so that during a rotation's overlap a receiver holding either secret verifies.

Secrets are `whsec_` + base64 of 32 random bytes, shown once. The store keeps them sealed with
AES-256-GCM (`cryptography`) under the key named by `webhooks.secret_key_env` (or a key kept in the
store when none is configured), bound to the endpoint's id: a sealed secret copied onto another
endpoint does not open. Nothing here logs a secret; `SecretBox` has no readable repr of its key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from standardwebhooks.webhooks import Webhook

__all__ = ["SecretBox", "Signer", "new_secret", "signature_header", "signed_headers"]

_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks format."""
    return _PREFIX + base64.b64encode(os.urandom(32)).decode()


class SecretBox:
    """Seals and opens signing secrets for the store (AES-256-GCM, endpoint id as associated data)."""

    __slots__ = ("_aead",)

    def __init__(self, key_material: str | bytes) -> None:
        raw = key_material.encode() if isinstance(key_material, str) else key_material
        if not raw:
            raise ValueError("an empty webhook secret key")
        # Any string works as key material (an operator's `openssl rand -base64 32`): hashed to 256 bits.
        self._aead = AESGCM(hashlib.sha256(raw).digest())

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, secret: str, endpoint_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), endpoint_id.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, endpoint_id: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], endpoint_id.encode()).decode()
        except InvalidTag:
            raise ValueError(
                f"the signing secret of {endpoint_id} does not open with this key "
                "(webhooks.secret_key_env changed?)"
            ) from None


class Signer:
    """Signs with every secret of an endpoint (newest first); built once per batch of deliveries."""

    __slots__ = ("_webhooks",)

    def __init__(self, secrets: Sequence[str]) -> None:
        self._webhooks = [Webhook(secret) for secret in secrets]

    def __repr__(self) -> str:
        return f"Signer(<{len(self._webhooks)} secrets hidden>)"

    def signature(self, message_id: str, timestamp: dt.datetime, body: bytes) -> str:
        """`webhook-signature`: one `v1,<signature>` per secret, space separated."""
        text = body.decode()
        return " ".join(webhook.sign(message_id, timestamp, text) for webhook in self._webhooks)

    def headers(self, message_id: str, timestamp: dt.datetime, body: bytes) -> dict[str, str]:
        """The headers of one delivery attempt (`timestamp` is the attempt's, `message_id` the event's)."""
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": self.signature(message_id, timestamp, body),
            "content-type": "application/json",
        }


def signature_header(secrets: Sequence[str], message_id: str, timestamp: dt.datetime, body: bytes) -> str:
    return Signer(secrets).signature(message_id, timestamp, body)


def signed_headers(
    secrets: Sequence[str], message_id: str, timestamp: dt.datetime, body: bytes
) -> dict[str, str]:
    return Signer(secrets).headers(message_id, timestamp, body)
