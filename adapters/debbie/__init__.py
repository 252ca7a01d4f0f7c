"""Debbie (Nordic debt-collection platform): signed minor-unit vouchers, synchronous writes, 0-based pages.

`SPEC` is what the entry point `collection_gateway.adapters:debbie` names.
"""

from __future__ import annotations

from typing import Any

from adapters.debbie.adapter import CAPABILITIES, DebbieAdapter, create
from adapters.sdk import AdapterSpec, SandboxSpec

__all__ = ["CAPABILITIES", "SPEC", "DebbieAdapter"]


def _sandbox_app() -> Any:
    # imported on demand: the gateway loads SPEC without needing the simulator
    from adapters.debbie.sandbox import create_app

    return create_app()


def _sandbox_config(base_url: str) -> dict[str, Any]:
    from adapters.debbie.sandbox import agency_config

    return agency_config(base_url)


def _sandbox_credentials() -> dict[str, Any]:
    from adapters.debbie.sandbox import demo_credentials

    return demo_credentials()


def _sandbox_secrets() -> dict[str, str]:
    from adapters.debbie.sandbox import demo_secrets

    return demo_secrets()


SPEC = AdapterSpec(
    name="debbie",
    capabilities=CAPABILITIES,
    create=create,
    sandbox=SandboxSpec(
        create_app=_sandbox_app,
        agency_config=_sandbox_config,
        credentials=_sandbox_credentials,
        secrets=_sandbox_secrets,
    ),
    # config.md: account_id = Debbie's tenantId, creditor_id = Debbie's creditorId (customers are
    # created under it), token from token_env (a static bearer token per tenant credential).
    credential_fields=("account_id", "creditor_id", "token"),
    config_fields=("voucher_types",),
    # Debbie publishes no rate limits (notes: "Error format and rate limits: not documented").
)
