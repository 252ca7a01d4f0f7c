"""Verdandi Inkasso (a made-up agency, docs/verdandi-api.md): a collection-gateway adapter.

The gateway's second adapter example, for agencies that keep **one claim per invoice**: written
by following docs/adding-an-adapter.md, starting from `collection-gateway new-adapter verdandi
--package`. A create in three steps (debtor → claims → release) with no idempotency key,
resumed through `adapters.sdk.Steps`; review by hand that accepts some invoices and refuses
others (`PartiallyAccepted`) within a review timeout; amounts as `{"value": "12.50"}`;
`count/next/previous` pages.

`SPEC` is what the entry point `collection_gateway.adapters: verdandi` names.

    wire.py      the agency's JSON as msgspec Structs
    mapping.py   canonical ⇄ wire, pure (the only place units and states change)
    client.py    the agency's HTTP calls, each write with its look-up by external id
    adapter.py   the Adapter protocol on top of client + mapping
    sandbox.py   a simulator of the agency (tests, demo, conformance)
"""

from __future__ import annotations

from adapters.sdk import AdapterSpec, Money, amount_examples, lazy_sandbox

from verdandi.adapter import CAPABILITIES, VerdandiAdapter, create
from verdandi.mapping import from_wire_amount, from_wire_state, to_wire_amount
from verdandi.wire import VerdandiAmount

__all__ = ["CAPABILITIES", "SPEC", "VerdandiAdapter"]


SPEC = AdapterSpec(
    name="verdandi",
    capabilities=CAPABILITIES,
    create=create,
    # imported on demand: the gateway loads SPEC without needing the simulator; the sandbox's
    # control that refuses one invoice in review lets the conformance kit check PartiallyAccepted
    sandbox=lazy_sandbox("verdandi.sandbox", refuse_invoice_path="/_sandbox/verdandi/refuse-invoice"),
    # The tenant's credential section must hold these (`api_key_env = "VAR"` resolves to api_key).
    credential_fields=("api_key",),
    config_fields=(),
    # "300 requests per minute per API key" (General).
    rate_limit_per_minute=300,
    # Amounts are {"value": "12.50"} objects, decimal strings in major units (General).
    wire_examples=amount_examples(
        to_wire_amount,
        from_wire_amount,
        (Money(amount=12345, currency="EUR"), VerdandiAmount(value="123.45")),
        (Money(amount=1250, currency="CHF"), VerdandiAmount(value="12.50")),
    ),
    read_state=from_wire_state,
)
