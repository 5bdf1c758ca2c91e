"""Exceptions raised by moneta."""


class MoneyError(Exception):
    """Base class for every error raised by moneta."""


class UnknownCurrency(MoneyError, LookupError):
    """The currency code is not registered."""

    def __init__(self, code):
        self.code = code
        super().__init__(f"unknown currency {code!r}")


class CurrencyMismatch(MoneyError, ValueError):
    """An operation mixed two different currencies."""

    def __init__(self, left, right, operation):
        self.currencies = (left, right)
        super().__init__(f"cannot {operation} {left.code} and {right.code}")
