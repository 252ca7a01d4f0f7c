"""Riverty (Back in Flow): asynchronous writes resolved through `/transactions`, 1-based pages.

The entry point `collection_gateway.adapters: riverty = "adapters.riverty:SPEC"` names `SPEC`.
"""

from __future__ import annotations

from adapters.riverty.adapter import CAPABILITIES, RivertyAdapter
from adapters.sdk import AdapterContext, AdapterSpec, lazy_sandbox

__all__ = ["CAPABILITIES", "SPEC", "RivertyAdapter"]


def _create(context: AdapterContext) -> RivertyAdapter:
    return RivertyAdapter(context)


SPEC = AdapterSpec(
    name="riverty",
    capabilities=CAPABILITIES,
    create=_create,
    # imported on demand: the gateway loads SPEC without needing the simulator
    sandbox=lazy_sandbox("adapters.riverty.sandbox"),
    credential_fields=("client_id", "client_secret", "client_global_id"),
    config_fields=("token_url", "audience"),
)
