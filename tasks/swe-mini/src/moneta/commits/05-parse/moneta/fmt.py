"""Formatting :class:`~moneta.Money` for people, and reading it back."""

from __future__ import annotations

import re

from .currency import get_currency
from .money import Money

__all__ = ["format_money", "parse_money"]


def _group_thousands(digits, sep):
    groups = []
    while len(digits) > 3:
        digits, group = digits[:-3], digits[-3:]
        groups.append(group)
    groups.append(digits)
    return sep.join(reversed(groups))


def format_money(money, *, symbol=True, grouping=True, group_sep=",", decimal_sep="."):
    """Format ``money`` rounded to its minor unit: ``'$1,234.50'``.

    Single-character symbols are written in front of the number (``'$5.00'``),
    longer ones with a space (``'CHF 5.00'``).  ``symbol=False`` leaves the
    symbol out; ``group_sep``/``decimal_sep`` change the separators, e.g.
    ``group_sep=".", decimal_sep=","`` for ``'1.234,50'``.
    """
    text = f"{money.rounded().amount:f}"
    whole, _, fraction = text.partition(".")
    if grouping:
        whole = _group_thousands(whole, group_sep)
    number = whole + (decimal_sep + fraction if fraction else "")
    if not symbol:
        return number
    currency_symbol = money.currency.symbol
    if len(currency_symbol) > 1:
        return f"{currency_symbol} {number}"
    return f"{currency_symbol}{number}"


def parse_money(text, currency, *, group_sep=",", decimal_sep="."):
    """Read an amount written by :func:`format_money` (or by a person).

    The currency's symbol or code may appear before or after the number and a
    leading minus sign is accepted: ``parse_money("-$1,234.50", "USD")``.
    """
    currency = get_currency(currency)
    cleaned = text.strip()
    for marker in (currency.symbol, currency.code):
        cleaned = cleaned.replace(marker, "")
    cleaned = re.sub(r"\s+", "", cleaned)
    if group_sep:
        cleaned = cleaned.replace(group_sep, "")
    if decimal_sep != ".":
        cleaned = cleaned.replace(decimal_sep, ".")
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", cleaned):
        raise ValueError(f"cannot read an amount of {currency.code} from {text!r}")
    return Money(cleaned, currency)
