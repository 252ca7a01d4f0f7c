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

from adapters.sdk import AdapterSpec, Money, amount_examples, lazy_sandbox

from skuld.adapter import CAPABILITIES, SkuldAdapter, create
from skuld.mapping import from_wire_amount, from_wire_state, to_wire_amount

__all__ = ["CAPABILITIES", "SPEC", "SkuldAdapter"]


SPEC = AdapterSpec(
    name="skuld",
    capabilities=CAPABILITIES,
    create=create,
    # imported on demand: the gateway loads SPEC without needing the simulator
    sandbox=lazy_sandbox("skuld.sandbox"),
    # The tenant's credential section must hold these (`api_key_env = "VAR"` resolves to api_key).
    credential_fields=("api_key",),
    # Skuld needs nothing in its [agencies.skuld] section but base_url.
    config_fields=(),
    # "120 requests per minute per API key" (Rate limits).
    rate_limit_per_minute=120,
    # Amounts are decimal strings in major units ("amount": "12.50", Amounts).
    wire_examples=amount_examples(
        to_wire_amount,
        lambda value, currency: Money(amount=from_wire_amount(value, currency), currency=currency),
        (Money(amount=12345, currency="EUR"), "123.45"),
        (Money(amount=1250, currency="SEK"), "12.50"),
    ),
    read_state=from_wire_state,
)
