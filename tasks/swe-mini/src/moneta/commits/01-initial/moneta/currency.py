"""ISO 4217 currencies."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UnknownCurrency

__all__ = ["Currency", "get_currency", "register"]


@dataclass(frozen=True)
class Currency:
    """A currency and how many digits its minor unit has (2 for cents)."""

    code: str
    exponent: int
    symbol: str
    name: str = ""

    def __str__(self):
        return self.code


_REGISTRY: dict[str, Currency] = {}


def register(currency):
    """Make ``currency`` available to :func:`get_currency` (and so to ``Money``)."""
    if not re.fullmatch(r"[A-Z]{3}", currency.code):
        raise ValueError(f"currency codes are three upper-case letters, not {currency.code!r}")
    if not 0 <= currency.exponent <= 4:
        raise ValueError(f"unsupported exponent {currency.exponent}")
    _REGISTRY[currency.code] = currency
    return currency


def get_currency(code):
    """The registered :class:`Currency` for ``code`` (case-insensitive)."""
    if isinstance(code, Currency):
        return code
    try:
        return _REGISTRY[code.upper()]
    except (KeyError, AttributeError):
        raise UnknownCurrency(code) from None


for _currency in (
    Currency("USD", 2, "$", "US Dollar"),
    Currency("EUR", 2, "\u20ac", "Euro"),
    Currency("GBP", 2, "\u00a3", "Pound Sterling"),
    Currency("CHF", 2, "CHF", "Swiss Franc"),
    Currency("JPY", 0, "\u00a5", "Yen"),
    Currency("KWD", 3, "KD", "Kuwaiti Dinar"),
):
    register(_currency)
