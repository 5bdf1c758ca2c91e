import pytest

from moneta import Money, format_money


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        ("0", "USD", "$0.00"),
        ("0.01", "USD", "$0.01"),
        ("5", "USD", "$5.00"),
        ("999.99", "USD", "$999.99"),
        ("1000", "USD", "$1,000.00"),
        ("1234.5", "USD", "$1,234.50"),
        ("1234567.891", "USD", "$1,234,567.89"),
        ("999999.999", "USD", "$1,000,000.00"),
        ("100000", "GBP", "\u00a3100,000.00"),
        ("2.999", "EUR", "\u20ac3.00"),
        ("1234567", "JPY", "\u00a51,234,567"),
        ("1.5", "KWD", "KD 1.500"),
        ("12", "CHF", "CHF 12.00"),
    ],
    ids=["zero", "one-cent", "small", "no-grouping-needed", "thousand", "cents", "millions", "rounds-into-millions",
         "gbp", "rounds-up", "jpy", "kwd", "chf"],
)
def test_format_money(amount, currency, expected):
    assert format_money(Money(amount, currency)) == expected


def test_without_symbol():
    assert format_money(Money("1234.5", "USD"), symbol=False) == "1,234.50"


def test_without_grouping():
    assert format_money(Money("1234567.8", "USD"), grouping=False) == "$1234567.80"


def test_custom_separators():
    m = Money("1234567.8", "EUR")
    assert format_money(m, symbol=False, group_sep=".", decimal_sep=",") == "1.234.567,80"
    assert format_money(m, symbol=False, group_sep="\u202f") == "1\u202f234\u202f567.80"


def test_exact_amount_is_rounded_for_display():
    assert format_money(Money("10", "USD") / 3) == "$3.33"
