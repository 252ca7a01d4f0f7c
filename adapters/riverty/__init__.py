"""Riverty (Back in Flow): asynchronous writes resolved through `/transactions`, 1-based pages.

The entry point `collection_gateway.adapters: riverty = "adapters.riverty:SPEC"` names `SPEC`.
"""

from __future__ import annotations

from typing import Any

from adapters.riverty.adapter import CAPABILITIES, RivertyAdapter
from adapters.riverty.sandbox import AUDIENCE, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_GLOBAL_ID, create_app
from adapters.sdk import AdapterContext, AdapterSpec, SandboxSpec

__all__ = ["CAPABILITIES", "SPEC", "RivertyAdapter"]

_DEMO_SECRET_ENV = "RIVERTY_DEMO_CLIENT_SECRET"


def _create(context: AdapterContext) -> RivertyAdapter:
    return RivertyAdapter(context)


def _agency_config(base_url: str) -> dict[str, Any]:
    base_url = base_url.rstrip("/")
    return {
        "base_url": base_url,
        "token_url": f"{base_url}/oauth/token",
        "audience": AUDIENCE,
        "poll_interval_seconds": 1,
    }


def _credentials() -> dict[str, Any]:
    return {
        "client_id": DEMO_CLIENT_ID,
        "client_secret_env": _DEMO_SECRET_ENV,
        "client_global_id": DEMO_GLOBAL_ID,
    }


def _secrets() -> dict[str, str]:
    return {_DEMO_SECRET_ENV: DEMO_CLIENT_SECRET}


SPEC = AdapterSpec(
    name="riverty",
    capabilities=CAPABILITIES,
    create=_create,
    sandbox=SandboxSpec(
        create_app=create_app,
        agency_config=_agency_config,
        credentials=_credentials,
        secrets=_secrets,
    ),
    credential_fields=("client_id", "client_secret", "client_global_id"),
    config_fields=("token_url", "audience"),
)
