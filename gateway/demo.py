"""The demo setup (`make run`): every installed agency sandbox, two tenants, fixed demo keys.

Also what the end-to-end tests run against, so that what `make run` shows is what is tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import AdapterSpec
from gateway.auth import hash_key

__all__ = ["DEMO_ACTIVITY_SECONDS", "DEMO_CLAIM", "DEMO_KEYS", "demo_document", "start_agency_activity"]

#: How often each demo agency acts on its own (collects a payment, verifies a case): often enough
#: that `make run` shows `payment.received` events within a minute of submitting a claim.
DEMO_ACTIVITY_SECONDS = 15.0

#: The claim the demo banner's curl example submits, and the OpenAPI example of POST /claims.
DEMO_CLAIM: dict[str, Any] = {
    "client_reference": "ORD-1",
    "currency": "EUR",
    "debtor": {
        "kind": "person",
        "reference": "CUST-42",
        "first_name": "Anna",
        "last_name": "Muster",
        "language": "de",
        "address": {
            "street": "Bahnhofstrasse",
            "house_number": "1",
            "postal_code": "8001",
            "city": "Zurich",
            "country": "CH",
        },
    },
    "invoices": [
        {
            "number": "INV-1",
            "issued_on": "2026-10-01",
            "due_on": "2026-10-31",
            "amount": {"amount": 12000, "currency": "EUR"},
            "costs": {"amount": 500, "currency": "EUR"},
        }
    ],
}


DEMO_KEYS = {"acme": "cg_demo_acme", "globex": "cg_demo_globex", "admin": "cg_demo_admin"}


def demo_document(
    specs: Mapping[str, AdapterSpec], sandbox_urls: Mapping[str, str], store_url: str = "memory://"
) -> tuple[dict[str, Any], dict[str, str]]:
    """(config document, secrets env) for sandboxes running at `sandbox_urls`.

    Tenants: `acme` (Intrum by default, SEK/DKK/NOK to Debbie, credentials at every agency) and
    `globex` (Riverty). Keys: DEMO_KEYS.
    """
    document: dict[str, Any] = {"store_url": store_url, "run_worker": True, "agencies": {}, "tenants": {}}
    credentials: dict[str, dict[str, Any]] = {}
    env: dict[str, str] = {}
    for name, url in sandbox_urls.items():
        sandbox = specs[name].sandbox
        assert sandbox is not None
        document["agencies"][name] = sandbox.agency_config(url)
        credentials[name] = sandbox.credentials()
        env.update(sandbox.secrets())
    if not credentials:
        raise ValueError("no agency adapter with a sandbox is installed")
    first = "intrum" if "intrum" in credentials else next(iter(credentials))
    acme: dict[str, Any] = {"default_agency": first, "credentials": credentials}
    if "debbie" in credentials:
        acme["routing"] = {"rules": [{"when": {"currency": ["SEK", "DKK", "NOK"]}, "agency": "debbie"}]}
    document["tenants"]["acme"] = acme
    globex_agency = "riverty" if "riverty" in credentials else first
    document["tenants"]["globex"] = {
        "default_agency": globex_agency,
        "credentials": {globex_agency: credentials[globex_agency]},
    }
    tenant_scopes = ["claims:read", "claims:write"]
    document["api_keys"] = [
        {
            "name": "demo acme",
            "tenant": "acme",
            "scopes": tenant_scopes,
            "key_sha256": hash_key(DEMO_KEYS["acme"]),
        },
        {
            "name": "demo globex",
            "tenant": "globex",
            "scopes": tenant_scopes,
            "key_sha256": hash_key(DEMO_KEYS["globex"]),
        },
        {"name": "demo admin", "scopes": ["admin"], "key_sha256": hash_key(DEMO_KEYS["admin"])},
    ]
    return document, env


def start_agency_activity(
    sandbox_urls: Mapping[str, str], every_seconds: float = DEMO_ACTIVITY_SECONDS
) -> None:
    """Switch on each sandbox's own activity (`PUT /_sandbox/activity`, adapters.sandbox_kit).

    A sandbox that does not offer it (a third-party adapter's) is left as it is.
    """
    import httpx

    for url in sandbox_urls.values():
        try:
            httpx.put(f"{url}/_sandbox/activity", json={"every_seconds": every_seconds}, timeout=5)
        except httpx.HTTPError:
            continue
