"""Riverty (Back in Flow): asynchronous writes resolved through `/transactions`, 1-based pages.

The entry point `collection_gateway.adapters: riverty = "adapters.riverty:SPEC"` names `SPEC`.
"""

from __future__ import annotations

from decimal import Decimal

from adapters.riverty.adapter import CAPABILITIES, RivertyAdapter
from adapters.riverty.mapping import amount_from_wire, amount_to_wire, claim_status
from adapters.sdk import AdapterContext, AdapterSpec, Money, amount_examples, lazy_sandbox

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
    # Amounts are decimal numbers in major units ("amount": 100.00 in the document's examples).
    wire_examples=amount_examples(
        amount_to_wire,
        amount_from_wire,
        (Money(amount=12345, currency="EUR"), Decimal("123.45")),
        (Money(amount=1200, currency="JPY"), Decimal("1200")),
    ),
    read_state=claim_status,
)
