"""Money amounts with exact decimal arithmetic, allocation and formatting."""

from .currency import Currency, get_currency, register
from .errors import CurrencyMismatch, MoneyError, UnknownCurrency
from .fmt import format_money, parse_money
from .money import Money

__all__ = [
    "Currency",
    "CurrencyMismatch",
    "Money",
    "MoneyError",
    "UnknownCurrency",
    "format_money",
    "get_currency",
    "parse_money",
    "register",
]
__version__ = "1.1.0"
