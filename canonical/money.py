"""Money: integer minor units of an ISO 4217 currency, and exact conversion to decimal major units.

Amounts in the canonical model are never floats and never rounded. Agencies that speak decimal
major units (Intrum, Riverty) convert here, once per amount, in their `mapping.py`; a value that
would need rounding to fit the currency's exponent is an error, not a rounding.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Annotated

import msgspec

from canonical._iso import CURRENCY_EXPONENTS

__all__ = [
    "CURRENCY_EXPONENTS",
    "MAX_AMOUNT",
    "Amount",
    "CurrencyCode",
    "Money",
    "MoneyError",
    "exponent_of",
    "from_major",
    "is_currency",
    "to_major",
]

#: Largest amount the gateway accepts, in minor units: 10^15 - 1 (a quadrillion cents minus one).
#: Far above any claim, and small enough that every agency's decimal field can carry it.
MAX_AMOUNT = 10**15 - 1

CurrencyCode = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217 alphabetic code")]
Amount = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_AMOUNT, description="integer in the currency's minor units")
]


# Exact arithmetic: no rounding however many digits an agency sends (the default context rounds
# at 28 significant digits, which could hide a fraction of a minor unit).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def is_currency(code: str) -> bool:
    return code in CURRENCY_EXPONENTS


def exponent_of(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"{currency!r} is not an active ISO 4217 currency") from None


class Money(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An amount in minor units (EUR 12345 = 123.45 EUR; JPY 500 = 500 JPY; KWD 1000 = 1.000 KWD).

    Frozen: a value. Arithmetic only within one currency.
    """

    amount: Amount
    currency: CurrencyCode

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return self._checked(self.amount + other.amount)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return self._checked(self.amount - other.amount)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def _checked(self, amount: int) -> Money:
        # The constructor does not check `Amount` (msgspec validates on decode only): a result
        # outside 0..MAX_AMOUNT would be a Money that its own decoder refuses.
        if not 0 <= amount <= MAX_AMOUNT:
            raise MoneyError(f"{amount} {self.currency} is outside 0..{MAX_AMOUNT} minor units")
        return Money(amount=amount, currency=self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=0, currency=currency)


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units → exact Decimal in major units (12345 EUR → Decimal('123.45'))."""
    exponent = exponent_of(currency)
    return Decimal(amount).scaleb(-exponent, context=_EXACT)


def from_major(value: Decimal | int | str, currency: str) -> int:
    """Exact Decimal major units → minor units; raises MoneyError on a fraction of a minor unit.

    `float` is refused: a float has already lost exactness before it reaches us.
    """
    if isinstance(value, float):  # guarded by typing; kept for callers without it (decoded JSON)
        raise MoneyError("floats are never money")
    if isinstance(value, bool):  # an int to Python, so Decimal(True) would be 1 major unit
        raise MoneyError(f"{value!r} is not an amount")
    exponent = exponent_of(currency)
    try:
        major = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        # An agency's "12,50" or "" must surface as MoneyError, which adapters translate; the bare
        # decimal.InvalidOperation would escape them as a gateway 500.
        raise MoneyError(f"{value!r} is not a decimal amount") from None
    if not major.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    if major.adjusted() > 20:
        raise MoneyError(f"{value} {currency} is too large to be an amount")
    minor = major.scaleb(exponent, context=_EXACT)
    if minor != minor.to_integral_value(context=_EXACT):
        raise MoneyError(f"{value} {currency} has a fraction of a minor unit (exponent {exponent})")
    return int(minor)
