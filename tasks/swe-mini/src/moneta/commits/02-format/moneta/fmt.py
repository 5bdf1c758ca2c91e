"""Formatting :class:`~moneta.Money` for people."""

from __future__ import annotations

__all__ = ["format_money"]


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

