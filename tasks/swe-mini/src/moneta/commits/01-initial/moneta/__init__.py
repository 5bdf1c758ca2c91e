"""Money amounts with exact decimal arithmetic."""

from .currency import Currency, get_currency, register
from .errors import CurrencyMismatch, MoneyError, UnknownCurrency
from .money import Money

__all__ = ["Currency", "CurrencyMismatch", "Money", "MoneyError", "UnknownCurrency", "get_currency", "register"]
__version__ = "1.0.0"
