from decimal import Decimal

import pytest

from moneta import CurrencyMismatch, Money, UnknownCurrency


def usd(amount):
    return Money(amount, "USD")


@pytest.mark.parametrize(
    "amount, expected",
    [("12.50", "12.50"), (" 1_000 ", "1000"), (7, "7"), (0.1, "0.1"), (Decimal("2.005"), "2.005")],
    ids=["str", "underscores", "int", "float", "decimal"],
)
def test_amount_is_an_exact_decimal(amount, expected):
    assert usd(amount).amount == Decimal(expected)


@pytest.mark.parametrize("amount", ["twelve", "NaN", "Infinity"])
def test_invalid_amounts(amount):
    with pytest.raises(ValueError):
        usd(amount)


@pytest.mark.parametrize("amount", [True, None, [1]], ids=["bool", "none", "list"])
def test_amount_types(amount):
    with pytest.raises(TypeError):
        usd(amount)


def test_unknown_currency():
    with pytest.raises(UnknownCurrency):
        Money("1", "ABC")


def test_money_is_immutable():
    with pytest.raises(AttributeError):
        usd("1").amount = Decimal("2")


def test_addition_and_subtraction():
    assert usd("10.10") + usd("0.95") == usd("11.05")
    assert usd("10") - usd("12.5") == usd("-2.5")


def test_mixing_currencies_is_an_error():
    with pytest.raises(CurrencyMismatch, match="cannot add USD and EUR"):
        usd("1") + Money("1", "EUR")


def test_multiplication_and_division():
    assert usd("19.99") * 3 == usd("59.97")
    assert 2 * usd("1.50") == usd("3.00")
    assert usd("10") / 4 == usd("2.5")


def test_negation_abs_and_bool():
    assert -usd("3") == usd("-3")
    assert abs(usd("-3")) == usd("3")
    assert not usd("0.00")
    assert usd("0.01")


def test_equality():
    assert usd("1.0") == usd("1.00")
    assert usd("1") != Money("1", "EUR")
    assert usd("1") != "1 USD"
    assert len({usd("1.0"), usd("1.00")}) == 1


def test_ordering():
    assert usd("1.99") < usd("2")
    assert usd("2") >= usd("2.00")
    assert max([usd("3"), usd("12"), usd("7")]) == usd("12")
    with pytest.raises(CurrencyMismatch):
        usd("1") < Money("1", "EUR")  # noqa: B015


@pytest.mark.parametrize(
    "amount, currency, expected",
    [("2.499", "USD", "2.50"), ("19.9949", "EUR", "19.99"), ("1234.4", "JPY", "1234"), ("1.23449", "KWD", "1.234"),
     ("-7.006", "USD", "-7.01"), ("3", "USD", "3.00")],
    ids=["usd-up", "eur-down", "jpy", "kwd", "negative", "whole"],
)
def test_rounded(amount, currency, expected):
    assert str(Money(amount, currency).rounded().amount) == expected


def test_repr_and_str():
    m = usd("1234.5")
    assert repr(m) == "Money('1234.5', 'USD')"
    assert str(m) == "1234.50 USD"
    assert str(Money("1234.4", "JPY")) == "1234 JPY"


def test_allocate_keeps_every_cent():
    parts = usd("100").allocate([1, 1, 1])
    assert parts == [usd("33.34"), usd("33.33"), usd("33.33")]
    assert sum(parts, usd(0)) == usd("100")


def test_allocate_by_ratio():
    assert usd("10").allocate([70, 20, 10]) == [usd("7"), usd("2"), usd("1")]
    assert usd("0.05").allocate([3, 7]) == [usd("0.02"), usd("0.03")]


def test_allocate_skips_zero_ratios_for_leftovers():
    assert usd("0.10").allocate([0, 1, 1, 1]) == [usd(0), usd("0.04"), usd("0.03"), usd("0.03")]


def test_allocate_negative_amount():
    assert usd("-10").allocate([1, 2]) == [usd("-3.34"), usd("-6.66")]


def test_allocate_yen_has_no_minor_unit():
    assert Money("1000", "JPY").allocate([1, 1, 1]) == [Money(n, "JPY") for n in (334, 333, 333)]


@pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1]], ids=["empty", "all-zero", "negative"])
def test_allocate_rejects_bad_ratios(ratios):
    with pytest.raises(ValueError):
        usd("1").allocate(ratios)


def test_split():
    assert usd("0.10").split(3) == [usd("0.04"), usd("0.03"), usd("0.03")]
    with pytest.raises(ValueError):
        usd("1").split(0)
