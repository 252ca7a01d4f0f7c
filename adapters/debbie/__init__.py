"""Debbie (Nordic debt-collection platform): signed minor-unit vouchers, synchronous writes, 0-based pages.

`SPEC` is what the entry point `collection_gateway.adapters:debbie` names.
"""

from __future__ import annotations

from adapters.debbie.adapter import CAPABILITIES, DebbieAdapter, create
from adapters.sdk import AdapterSpec, lazy_sandbox

__all__ = ["CAPABILITIES", "SPEC", "DebbieAdapter"]


SPEC = AdapterSpec(
    name="debbie",
    capabilities=CAPABILITIES,
    create=create,
    # imported on demand: the gateway loads SPEC without needing the simulator
    sandbox=lazy_sandbox("adapters.debbie.sandbox"),
    # config.md: account_id = Debbie's tenantId, creditor_id = Debbie's creditorId (customers are
    # created under it), token from token_env (a static bearer token per tenant credential).
    credential_fields=("account_id", "creditor_id", "token"),
    config_fields=("voucher_types",),
    # Debbie publishes no rate limits (notes: "Error format and rate limits: not documented").
)
