import pytest

from moneta import Currency, UnknownCurrency, get_currency, register


def test_builtin_currencies():
    assert get_currency("USD").exponent == 2
    assert get_currency("JPY").exponent == 0
    assert get_currency("KWD").exponent == 3


def test_lookup_is_case_insensitive():
    assert get_currency("eur") is get_currency("EUR")


def test_currency_objects_pass_through():
    usd = get_currency("USD")
    assert get_currency(usd) is usd


@pytest.mark.parametrize("code", ["XXX", "", None], ids=["unregistered", "empty", "none"])
def test_unknown_currency(code):
    with pytest.raises(UnknownCurrency) as info:
        get_currency(code)
    assert isinstance(info.value, LookupError)


def test_register_a_currency():
    register(Currency("ISK", 0, "kr", "Iceland Krona"))
    assert get_currency("isk").symbol == "kr"


@pytest.mark.parametrize("currency", [Currency("usd", 2, "$"), Currency("ABCD", 2, "?"), Currency("ABC", 9, "?")],
                         ids=["lower-case", "four-letters", "exponent"])
def test_register_validates(currency):
    with pytest.raises(ValueError):
        register(currency)


def test_str_is_the_code():
    assert str(get_currency("GBP")) == "GBP"
