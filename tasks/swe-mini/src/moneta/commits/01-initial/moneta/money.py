"""The :class:`Money` value type."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .currency import get_currency
from .errors import CurrencyMismatch

__all__ = ["Money"]


def _to_decimal(value):
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError("amounts cannot be booleans")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr() gives the shortest string that round-trips: 0.1 -> "0.1".
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise ValueError(f"invalid amount {value!r}") from None
    else:
        raise TypeError(f"amounts must be numbers or strings, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"amounts must be finite, not {value!r}")
    return result


class Money:
    """An amount of a currency, e.g. ``Money("12.50", "EUR")``.

    The amount is kept exactly (as a :class:`~decimal.Decimal`); use
    :meth:`rounded` to get it in whole minor units.
    """

    __slots__ = ("amount", "currency")

    def __init__(self, amount, currency):
        object.__setattr__(self, "amount", _to_decimal(amount))
        object.__setattr__(self, "currency", get_currency(currency))

    def __setattr__(self, name, value):
        raise AttributeError("Money objects are immutable")

    def _quantum(self):
        return Decimal(1).scaleb(-self.currency.exponent)

    def rounded(self):
        """This amount rounded to whole minor units of its currency.

        Halves are rounded away from zero (commercial rounding), as on invoices
        and receipts: ``Money("0.125", "USD").rounded()`` is ``Money("0.13", "USD")``.
        """
        return Money(self.amount.quantize(self._quantum()), self.currency)

    def _check(self, other, operation):
        if not isinstance(other, Money):
            return False
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency, operation)
        return True

    def __add__(self, other):
        if not self._check(other, "add"):
            return NotImplemented
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other):
        if not self._check(other, "subtract"):
            return NotImplemented
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor):
        if isinstance(factor, Money):
            return NotImplemented
        return Money(self.amount * _to_decimal(factor), self.currency)

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        if isinstance(divisor, Money):
            return NotImplemented
        return Money(self.amount / _to_decimal(divisor), self.currency)

    def __neg__(self):
        return Money(-self.amount, self.currency)

    def __abs__(self):
        return Money(abs(self.amount), self.currency)

    def __bool__(self):
        return bool(self.amount)

    def __eq__(self, other):
        if not isinstance(other, Money):
            return NotImplemented
        return self.currency == other.currency and self.amount == other.amount

    def __hash__(self):
        return hash((self.amount, self.currency.code))

    def __lt__(self, other):
        if not self._check(other, "compare"):
            return NotImplemented
        return self.amount < other.amount

    def __le__(self, other):
        if not self._check(other, "compare"):
            return NotImplemented
        return self.amount <= other.amount

    def __gt__(self, other):
        if not self._check(other, "compare"):
            return NotImplemented
        return self.amount > other.amount

    def __ge__(self, other):
        if not self._check(other, "compare"):
            return NotImplemented
        return self.amount >= other.amount

    def __repr__(self):
        return f"Money({str(self.amount)!r}, {self.currency.code!r})"

    def __str__(self):
        return f"{self.rounded().amount} {self.currency.code}"
