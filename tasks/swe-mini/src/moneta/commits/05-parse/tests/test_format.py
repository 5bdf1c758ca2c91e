import pytest

from moneta import Money, format_money, parse_money


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


@pytest.mark.parametrize(
    "text, currency, expected",
    [
        ("$1,234.50", "USD", "1234.50"),
        ("1234.5", "USD", "1234.5"),
        ("-$12.00", "USD", "-12.00"),
        ("CHF 12.00", "CHF", "12.00"),
        ("12.00 CHF", "CHF", "12.00"),
        ("¥1,234,567", "JPY", "1234567"),
        (".5", "EUR", "0.5"),
    ],
    ids=["formatted", "plain", "negative", "symbol-before", "code-after", "jpy", "no-leading-zero"],
)
def test_parse_money(text, currency, expected):
    assert parse_money(text, currency) == Money(expected, currency)


def test_parse_money_custom_separators():
    assert parse_money("1.234.567,80 €", "EUR", group_sep=".", decimal_sep=",") == Money("1234567.80", "EUR")


@pytest.mark.parametrize("amount", ["0", "0.01", "999.99", "1234567.89"])
def test_parse_money_reads_format_money(amount):
    m = Money(amount, "USD")
    assert parse_money(format_money(m), "USD") == m


@pytest.mark.parametrize("text", ["", "$", "12 apples", "1.2.3", "€5"], ids=["empty", "symbol-only", "words",
                                                                                  "two-points", "wrong-symbol"])
def test_parse_money_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_money(text, "USD")
