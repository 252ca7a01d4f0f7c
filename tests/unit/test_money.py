"""Money: integer minor units, exact conversion to and from Decimal major units, never a float."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canonical.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    Money,
    MoneyError,
    exponent_of,
    from_major,
    is_currency,
    to_major,
)

ALL_CURRENCIES = sorted(CURRENCY_EXPONENTS)
minor_units = st.one_of(
    st.integers(min_value=0, max_value=MAX_AMOUNT),
    st.sampled_from([0, 1, 99, 100, 10**12, MAX_AMOUNT]),
)


# --- the exponent table ---------------------------------------------------------------------------


def test_exponent_table_knows_the_currencies_that_matter_to_money() -> None:
    assert {code: exponent_of(code) for code in ("EUR", "CHF", "SEK", "USD", "JPY", "KWD", "BHD", "CLF")} == {
        "EUR": 2,
        "CHF": 2,
        "SEK": 2,
        "USD": 2,
        "JPY": 0,
        "KWD": 3,
        "BHD": 3,
        "CLF": 4,
    }
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


@pytest.mark.parametrize("code", ["XXX", "XAU", "eur", "EURO", "", "BGN"])
def test_codes_that_are_not_active_currencies_with_a_minor_unit_are_refused(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(MoneyError):
        exponent_of(code)
    with pytest.raises(MoneyError):
        to_major(1, code)
    with pytest.raises(MoneyError):
        from_major("1", code)


# --- exact round trips for every currency ---------------------------------------------------------


@settings(max_examples=60)
@given(amount=minor_units)
def test_minor_units_survive_a_round_trip_through_major_units_in_every_currency(amount: int) -> None:
    for currency in ALL_CURRENCIES:
        major = to_major(amount, currency)
        assert from_major(major, currency) == amount, currency
        assert from_major(str(major), currency) == amount, currency


@settings(max_examples=60)
@given(amount=minor_units)
def test_major_units_carry_exactly_the_currency_exponent(amount: int) -> None:
    for currency, exponent in CURRENCY_EXPONENTS.items():
        major = to_major(amount, currency)
        assert isinstance(major, Decimal)
        assert major.as_tuple().exponent == -exponent, currency
        assert major * 10**exponent == amount, currency


@settings(max_examples=60)
@given(units=st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT), data=st.data())
def test_decimals_within_the_exponent_survive_a_round_trip_through_minor_units(
    units: int, data: st.DataObject
) -> None:
    for currency, exponent in CURRENCY_EXPONENTS.items():
        # Any number of places up to the exponent: 12.5 EUR is as exact as 12.50 EUR.
        places = data.draw(st.integers(min_value=0, max_value=exponent), label=currency)
        value = Decimal(units).scaleb(-places)
        assert to_major(from_major(value, currency), currency) == value, currency


# --- a fraction of a minor unit is an error, never a rounding -------------------------------------


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("0.001", "EUR"),
        ("123.455", "EUR"),
        ("0.5", "JPY"),
        ("1000.1", "JPY"),
        ("0.0001", "KWD"),
        ("1.2345", "BHD"),
        ("0.00001", "CLF"),
        # 31 significant digits: a context of 28 digits would round this to 0.01 and hide the fraction.
        ("0.010000000000000000000000000001", "EUR"),
    ],
)
def test_a_fraction_of_a_minor_unit_is_refused(value: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        from_major(Decimal(value), currency)
    with pytest.raises(MoneyError):
        from_major(value, currency)


@settings(max_examples=100)
@given(units=st.integers(min_value=0, max_value=MAX_AMOUNT), extra=st.integers(min_value=1, max_value=9))
def test_one_more_decimal_place_than_the_exponent_is_refused_unless_it_is_zero(
    units: int, extra: int
) -> None:
    for currency, exponent in CURRENCY_EXPONENTS.items():
        value = Decimal(units * 10 + extra).scaleb(-(exponent + 1))
        with pytest.raises(MoneyError):
            from_major(value, currency)
        assert from_major(Decimal(units * 10).scaleb(-(exponent + 1)), currency) == units


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity", "1e400", "abc", "12,50", ""])
def test_what_is_not_a_finite_decimal_amount_is_a_money_error(value: str) -> None:
    with pytest.raises(MoneyError):
        from_major(value, "EUR")


# --- examples that matter to money ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("0.01", "EUR", 1),
        ("0.1", "EUR", 10),
        ("123.45", "EUR", 12345),
        ("120", "EUR", 12000),
        ("1E+2", "EUR", 10000),
        ("500", "JPY", 500),
        ("500.000", "JPY", 500),
        ("1", "KWD", 1000),
        ("0.001", "KWD", 1),
        ("0.0001", "CLF", 1),
        ("10000000000", "EUR", 10**12),  # a 10^12 total
        ("1000000000000", "JPY", 10**12),
        ("1000000000", "KWD", 10**12),
        ("9999999999999.99", "EUR", MAX_AMOUNT),
        ("-12.30", "EUR", -1230),  # negative major units stay exact (refunds at agencies)
        ("0", "EUR", 0),
    ],
)
def test_known_amounts_convert_exactly(value: str, currency: str, minor: int) -> None:
    assert from_major(Decimal(value), currency) == minor
    assert to_major(minor, currency) == Decimal(value)


def test_to_major_of_the_examples_reads_as_an_agency_would_write_it() -> None:
    assert str(to_major(12345, "EUR")) == "123.45"
    assert str(to_major(1, "EUR")) == "0.01"
    assert str(to_major(0, "EUR")) == "0.00"
    assert str(to_major(500, "JPY")) == "500"
    assert str(to_major(1000, "KWD")) == "1.000"
    assert str(to_major(10**12, "EUR")) == "10000000000.00"
    assert str(to_major(MAX_AMOUNT, "CLF")) == "99999999999.9999"


# --- never a float --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.01, 1.0, 0.0, 12.5, float("nan")])
def test_from_major_refuses_a_float_even_when_it_looks_exact(value: float) -> None:
    with pytest.raises(MoneyError, match="float"):
        from_major(value, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False])
def test_from_major_refuses_a_boolean(value: bool) -> None:
    with pytest.raises(MoneyError):
        from_major(value, "EUR")


def test_conversion_is_exact_where_a_float_would_lose_minor_units() -> None:
    # Through float, 0.29 EUR becomes 28 cents and CLF 99999999999.9999 loses its last unit.
    assert int(float("0.29") * 100) == 28
    assert int(float(to_major(MAX_AMOUNT, "CLF")) * 10**4) != MAX_AMOUNT
    assert from_major("0.29", "EUR") == 29
    assert from_major(to_major(MAX_AMOUNT, "CLF"), "CLF") == MAX_AMOUNT
    for currency in ALL_CURRENCIES:
        assert from_major(to_major(MAX_AMOUNT, currency), currency) == MAX_AMOUNT


def test_integers_are_exact_major_units() -> None:
    assert from_major(12, "EUR") == 1200
    assert from_major(10**12, "JPY") == 10**12


# --- Money values ---------------------------------------------------------------------------------


def test_money_adds_and_subtracts_within_one_currency() -> None:
    a = Money(amount=12000, currency="EUR")
    b = Money(amount=500, currency="EUR")
    assert a + b == Money(amount=12500, currency="EUR")
    assert a - b == Money(amount=11500, currency="EUR")
    assert a - a == Money.zero("EUR")


@pytest.mark.parametrize("operation", ["add", "sub"])
def test_money_arithmetic_refuses_mixed_currencies(operation: str) -> None:
    eur, chf = Money(amount=100, currency="EUR"), Money(amount=100, currency="CHF")
    with pytest.raises(MoneyError, match=r"EUR.*CHF"):
        _ = eur + chf if operation == "add" else eur - chf


def test_money_arithmetic_never_makes_an_amount_its_type_forbids() -> None:
    with pytest.raises(MoneyError):
        _ = Money(amount=1, currency="EUR") - Money(amount=2, currency="EUR")
    with pytest.raises(MoneyError):
        _ = Money(amount=MAX_AMOUNT, currency="JPY") + Money(amount=1, currency="JPY")


@settings(max_examples=100)
@given(a=minor_units, b=minor_units)
def test_money_sums_are_exact_and_decode_again(a: int, b: int) -> None:
    if a + b > MAX_AMOUNT:
        return
    total = Money(amount=a, currency="KWD") + Money(amount=b, currency="KWD")
    assert total.amount == a + b
    assert msgspec.json.decode(msgspec.json.encode(total), type=Money) == total


def test_money_is_a_frozen_value() -> None:
    money = Money(amount=1, currency="EUR")
    with pytest.raises(AttributeError):
        money.amount = 2  # type: ignore[misc]
    assert money == Money(amount=1, currency="EUR")
    assert hash(money) == hash(Money(amount=1, currency="EUR"))


# --- Money from JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ['"1"', "1.0", "true", "false", "-1", "1.5", "1e2", '"100"', "null", "1000000000000000"]
)
def test_money_json_refuses_anything_but_an_integer_within_range(amount: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.amount"):
        msgspec.json.decode(f'{{"amount": {amount}, "currency": "EUR"}}'.encode(), type=Money)


def test_money_json_accepts_zero_one_and_the_maximum() -> None:
    for amount in (0, 1, 10**12, MAX_AMOUNT):
        raw = f'{{"amount": {amount}, "currency": "JPY"}}'.encode()
        assert msgspec.json.decode(raw, type=Money) == Money(amount=amount, currency="JPY")


@pytest.mark.parametrize("currency", ['"eur"', '"EURO"', '"EU"', "978", "null"])
def test_money_json_refuses_a_currency_that_is_not_three_capitals(currency: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.currency"):
        msgspec.json.decode(f'{{"amount": 1, "currency": {currency}}}'.encode(), type=Money)


def test_money_json_refuses_unknown_and_missing_fields() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `value`"):
        msgspec.json.decode(b'{"amount": 1, "currency": "EUR", "value": "0.01"}', type=Money)
    with pytest.raises(msgspec.ValidationError, match="missing required field `currency`"):
        msgspec.json.decode(b'{"amount": 1}', type=Money)


def test_money_json_is_the_documented_shape() -> None:
    assert msgspec.json.encode(Money(amount=12345, currency="EUR")) == b'{"amount":12345,"currency":"EUR"}'
