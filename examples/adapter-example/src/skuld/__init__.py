"""Skuld Inkasso (a made-up agency, docs/skuld-api.md): a collection-gateway adapter.

The gateway's adapter example: written by following docs/adding-an-adapter.md, starting from
`collection-gateway new-adapter skuld --package`. Offset pagination without totals, amounts as
decimal strings, asynchronous registration, idempotency keys of Skuld's own.

`SPEC` is what the entry point `collection_gateway.adapters: skuld` names: the gateway
discovers the adapter through it, `collection-gateway sandbox skuld` runs the simulator,
and the conformance kit checks the adapter against it.

    wire.py      the agency's JSON as msgspec Structs
    mapping.py   canonical ⇄ wire, pure (the only place units and signs change)
    client.py    the agency's HTTP calls, sent through the shared UpstreamClient
    adapter.py   the Adapter protocol on top of client + mapping
    sandbox.py   a simulator of the agency (tests, demo, conformance)
"""

from __future__ import annotations

from typing import Any

from adapters.sdk import AdapterSpec, SandboxSpec

from skuld.adapter import CAPABILITIES, SkuldAdapter, create

__all__ = ["CAPABILITIES", "SPEC", "SkuldAdapter"]


def _sandbox_app() -> Any:
    # imported on demand: the gateway loads SPEC without needing the simulator
    from skuld.sandbox import create_app

    return create_app()


def _sandbox_config(base_url: str) -> dict[str, Any]:
    from skuld.sandbox import agency_config

    return agency_config(base_url)


def _sandbox_credentials() -> dict[str, Any]:
    from skuld.sandbox import demo_credentials

    return demo_credentials()


def _sandbox_secrets() -> dict[str, str]:
    from skuld.sandbox import demo_secrets

    return demo_secrets()


SPEC = AdapterSpec(
    name="skuld",
    capabilities=CAPABILITIES,
    create=create,
    sandbox=SandboxSpec(
        create_app=_sandbox_app,
        agency_config=_sandbox_config,
        credentials=_sandbox_credentials,
        secrets=_sandbox_secrets,
    ),
    # The tenant's credential section must hold these (`api_key_env = "VAR"` resolves to api_key).
    credential_fields=("api_key",),
    # Skuld needs nothing in its [agencies.skuld] section but base_url.
    config_fields=(),
    # "120 requests per minute per API key" (Rate limits).
    rate_limit_per_minute=120,
)
