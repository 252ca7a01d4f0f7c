"""The demo setup (`make run`): every installed agency sandbox, two tenants, fixed demo keys.

Also what the end-to-end tests run against, so that what `make run` shows is what is tested.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters.base import AdapterSpec
from gateway.auth import hash_key

__all__ = [
    "DEMO_ACTIVITY_SECONDS",
    "DEMO_CLAIM",
    "DEMO_KEYS",
    "DemoReceiver",
    "demo_document",
    "start_agency_activity",
    "subscribe_demo_receiver",
]

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
    document: dict[str, Any] = {
        "store_url": store_url,
        "run_worker": True,
        "agencies": {},
        "tenants": {},
        # The demo's webhook receiver listens on the loopback interface over plain http.
        "webhooks": {"allow_http_hosts": ["127.0.0.1"]},
    }
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
    sandbox_urls: Mapping[str, str],
    every_seconds: float = DEMO_ACTIVITY_SECONDS,
    *,
    gateway_url: str | None = None,
    document: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> None:
    """Switch on each sandbox's own activity (`PUT /_sandbox/activity`, adapters.sandbox_kit),
    and point the callbacks of those that send them (`PUT /_sandbox/callbacks`: Debbie's
    webhooks) at the gateway's `/v1/agency-callbacks/{agency}/acme` with acme's callback secret.

    A sandbox that offers neither (a third-party adapter's) is left as it is.
    """
    import httpx

    acme = (document or {}).get("tenants", {}).get("acme", {}).get("credentials", {})
    for name, url in sandbox_urls.items():
        with contextlib.suppress(httpx.HTTPError):
            httpx.put(f"{url}/_sandbox/activity", json={"every_seconds": every_seconds}, timeout=5)
        secret_env = acme.get(name, {}).get("callback_secret_env")
        if gateway_url and secret_env and secrets and secret_env in secrets:
            receiver = {
                "url": f"{gateway_url}/v1/agency-callbacks/{name}/acme",
                "secret": secrets[secret_env],
            }
            with contextlib.suppress(httpx.HTTPError):
                httpx.put(f"{url}/_sandbox/callbacks", json=receiver, timeout=5)


class DemoReceiver:
    """The webhook receiver `make run` starts: what an internal service would run, in 40 lines.

    `POST /hooks` checks the signature with `standardwebhooks` (as docs/webhooks.md shows), keeps
    the last 50 deliveries and prints one line each; `GET /` lists them as JSON, newest first.
    """

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.secret: str | None = None
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=50)
        self.echo = echo

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (message := await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if scope["method"] == "POST":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            verified = self.verify(body, headers)
            event = json.loads(body) if body.startswith(b"{") else {}
            self.deliveries.appendleft(
                {"webhook_id": headers.get("webhook-id"), "verified": verified, "event": event}
            )
            self.echo(
                f"webhook {headers.get('webhook-id')} {event.get('type')} "
                f"signature {'verified' if verified else 'NOT verified'}"
            )
            answer, status = b"", 204 if verified else 400
        else:
            answer, status = json.dumps(list(self.deliveries), indent=2).encode(), 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def subscribe_demo_receiver(
    gateway_url: str, receiver: DemoReceiver, receiver_url: str, timeout: float = 30.0
) -> dict[str, Any]:
    """Once the gateway answers, subscribe `acme` to the receiver through the admin API (as an
    admin would) and give the receiver the secret shown once."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=gateway_url, timeout=10) as http:
        while True:
            try:
                if http.get("/health/live").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the demo gateway at {gateway_url} did not start")
            time.sleep(0.1)
        response = http.post(
            "/v1/admin/tenants/acme/webhooks",
            json={"url": receiver_url, "description": "the demo receiver (make run)"},
            headers={"Authorization": f"Bearer {DEMO_KEYS['admin']}"},
        )
        response.raise_for_status()
    endpoint: dict[str, Any] = response.json()
    receiver.secret = endpoint["secret"]
    return endpoint
