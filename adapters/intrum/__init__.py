"""Intrum CPS-API V1: registration, case and invoice reads, payments feed and follow-up writes.

`SPEC` is what the entry point `collection_gateway.adapters:intrum` names.
"""

from __future__ import annotations

from typing import Any

from adapters.intrum.adapter import CAPABILITIES, IntrumAdapter, create
from adapters.sdk import AdapterSpec, SandboxSpec

__all__ = ["CAPABILITIES", "SPEC", "IntrumAdapter"]


def _sandbox_app() -> Any:
    # imported on demand: the gateway loads SPEC without needing the simulator
    from adapters.intrum.sandbox import create_app

    return create_app()


def _sandbox_config(base_url: str) -> dict[str, Any]:
    from adapters.intrum.sandbox import agency_config

    return agency_config(base_url)


def _sandbox_credentials() -> dict[str, Any]:
    from adapters.intrum.sandbox import demo_credentials

    return demo_credentials()


def _sandbox_secrets() -> dict[str, str]:
    from adapters.intrum.sandbox import demo_secrets

    return demo_secrets()


SPEC = AdapterSpec(
    name="intrum",
    capabilities=CAPABILITIES,
    create=create,
    sandbox=SandboxSpec(
        create_app=_sandbox_app,
        agency_config=_sandbox_config,
        credentials=_sandbox_credentials,
        secrets=_sandbox_secrets,
    ),
    credential_fields=("client_id", "client_secret"),
    config_fields=("token_url",),
    # "Each OAuth 2.0 client ID is subject to: 100 requests per minute, 10,000 requests per day"
    rate_limit_per_minute=100,
    rate_limit_per_day=10_000,
)
