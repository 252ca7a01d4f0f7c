"""Debbie (Nordic debt-collection platform): signed minor-unit vouchers, synchronous writes, 0-based pages.

`SPEC` is what the entry point `collection_gateway.adapters:debbie` names.
"""

from __future__ import annotations

from adapters.debbie.adapter import CAPABILITIES, DebbieAdapter, create
from adapters.debbie.mapping import VoucherKind, from_wire_status, signed_amount, unsigned_amount
from adapters.debbie.wire import DebbieCase
from adapters.sdk import AdapterSpec, Money, WireExample, lazy_sandbox

__all__ = ["CAPABILITIES", "SPEC", "DebbieAdapter"]


def _voucher_amount(kind: VoucherKind, money: Money, wire: int) -> WireExample:
    """Debbie's amounts are signed minor units: debt negative, credit positive ("Sign convention")."""
    return WireExample(
        name=f"{kind} voucher {money.currency}",
        canonical=money,
        wire=wire,
        to_wire=lambda value: signed_amount(kind, value.amount),
        from_wire=lambda value, currency: Money(amount=unsigned_amount(kind, value), currency=currency),
    )


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
    wire_examples=(
        _voucher_amount("principal", Money(amount=12345, currency="EUR"), -12345),
        _voucher_amount("payment", Money(amount=12345, currency="EUR"), 12345),
        _voucher_amount("credit_note", Money(amount=500, currency="SEK"), 500),
    ),
    read_state=lambda state: from_wire_status(DebbieCase(id="kit", status=state)),
    # Debbie publishes no rate limits (notes: "Error format and rate limits: not documented").
)
