"""Debbie (Nordic debt-collection platform): signed minor-unit vouchers, synchronous writes, 0-based pages.

`SPEC` is what the entry point `collection_gateway.adapters: debbie` names.
"""

from adapters.base import AdapterSpec, SandboxSpec
from adapters.debbie.adapter import CAPABILITIES, DebbieAdapter, create
from adapters.debbie.sandbox import agency_config, create_app, demo_credentials, demo_secrets

__all__ = ["CAPABILITIES", "SPEC", "DebbieAdapter"]

SPEC = AdapterSpec(
    name="debbie",
    capabilities=CAPABILITIES,
    create=create,
    sandbox=SandboxSpec(
        create_app=create_app,
        agency_config=agency_config,
        credentials=demo_credentials,
        secrets=demo_secrets,
    ),
    # config.md: account_id = Debbie's tenantId, creditor_id = Debbie's creditorId, token via token_env.
    credential_fields=("account_id", "creditor_id", "token"),
    config_fields=("voucher_types",),
)
