"""Building a gateway for tests: settings with one tenant on the fake agency, keys, a client."""

from __future__ import annotations

import hashlib
from typing import Any

from adapters.base import AdapterSpec
from gateway.settings import Settings, settings_from_mapping

TENANT_KEY = "test-acme-key"
OTHER_KEY = "test-other-key"
ADMIN_KEY = "test-admin-key"
READ_ONLY_KEY = "test-acme-read-key"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def gateway_settings(specs: dict[str, AdapterSpec], **overrides: Any) -> Settings:
    document: dict[str, Any] = {
        "store_url": "memory://",
        "run_worker": True,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
        "max_attempts": 4,
        "reclaim_idle_seconds": 30,
        "claim_cache_seconds": 0,
        # The fake agency commits inside its call: a lost answer is looked up at once, and the
        # call of a worker that died mid-call is over half a second later.
        "agencies": {
            "fake": {
                "base_url": "http://fake.invalid",
                "poll_interval_seconds": 0.02,
                "commit_latency_seconds": 0.0,
                "timeout_seconds": 0.5,
            }
        },
        "tenants": {
            "acme": {"default_agency": "fake", "credentials": {"fake": {"account_id": "acme-1"}}},
            "other": {"default_agency": "fake", "credentials": {"fake": {"account_id": "other-1"}}},
        },
        "api_keys": [
            {
                "name": "acme",
                "tenant": "acme",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": sha(TENANT_KEY),
            },
            {
                "name": "acme-read",
                "tenant": "acme",
                "scopes": ["claims:read"],
                "key_sha256": sha(READ_ONLY_KEY),
            },
            {
                "name": "other",
                "tenant": "other",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": sha(OTHER_KEY),
            },
            {"name": "ops", "scopes": ["admin"], "key_sha256": sha(ADMIN_KEY)},
        ],
    }
    document.update(overrides)
    return settings_from_mapping(document, {}, specs)


def invoice_bodies(count: int, currency: str = "EUR") -> list[dict[str, Any]]:
    """`count` invoices INV-0, INV-1, … of 10000 + n minor units each, no costs."""
    return [
        {
            "number": f"INV-{n}",
            "issued_on": "2026-10-01",
            "due_on": "2026-10-31",
            "amount": {"amount": 10000 + n, "currency": currency},
        }
        for n in range(count)
    ]


def claim_body(reference: str = "ORD-1", currency: str = "EUR", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_reference": reference,
        "currency": currency,
        "debtor": {
            "kind": "person",
            "reference": "CUST-42",
            "first_name": "Anna",
            "last_name": "Muster",
            "language": "de",
            "address": {
                "street": "Bahnhofstrasse 1",
                "postal_code": "8001",
                "city": "Zürich",
                "country": "CH",
            },
        },
        "invoices": [
            {
                "number": "INV-1",
                "issued_on": "2026-10-01",
                "due_on": "2026-10-31",
                "amount": {"amount": 12000, "currency": currency},
                "costs": {"amount": 500, "currency": currency},
            }
        ],
    }
    body.update(overrides)
    return body


def auth(key: str = TENANT_KEY, idempotency_key: str | None = None, **headers: str) -> dict[str, str]:
    result = {"Authorization": f"Bearer {key}", **headers}
    if idempotency_key is not None:
        result["Idempotency-Key"] = idempotency_key
    return result
