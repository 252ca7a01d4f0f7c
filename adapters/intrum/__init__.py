"""Intrum CPS-API V1: registration, case and invoice reads, payments feed and follow-up writes.

`SPEC` is what the entry point `collection_gateway.adapters:intrum` names.
"""

from __future__ import annotations

from decimal import Decimal

from adapters.intrum.adapter import CAPABILITIES, IntrumAdapter, create
from adapters.intrum.mapping import amount_from_wire, amount_to_wire, claim_status
from adapters.sdk import AdapterSpec, Money, amount_examples, lazy_sandbox

__all__ = ["CAPABILITIES", "SPEC", "IntrumAdapter"]


SPEC = AdapterSpec(
    name="intrum",
    capabilities=CAPABILITIES,
    create=create,
    # imported on demand: the gateway loads SPEC without needing the simulator
    sandbox=lazy_sandbox("adapters.intrum.sandbox"),
    credential_fields=("client_id", "client_secret"),
    config_fields=("token_url",),
    # "Each OAuth 2.0 client ID is subject to: 100 requests per minute, 10,000 requests per day"
    rate_limit_per_minute=100,
    rate_limit_per_day=10_000,
    # Amounts are JSON numbers in major units ("invoiceAmount": 120.50 in the collection).
    wire_examples=amount_examples(
        amount_to_wire,
        amount_from_wire,
        (Money(amount=12345, currency="EUR"), Decimal("123.45")),
        (Money(amount=1200, currency="JPY"), Decimal("1200")),
    ),
    read_state=lambda state: claim_status(state, None),
)
