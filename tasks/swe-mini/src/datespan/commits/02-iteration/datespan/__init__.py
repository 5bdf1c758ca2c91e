"""Inclusive date ranges and month arithmetic."""

from .months import add_months, days_in_month, month_end, month_start, nth_weekday, quarter
from .span import DateSpan

__all__ = ["DateSpan", "add_months", "days_in_month", "month_end", "month_start", "nth_weekday", "quarter"]
__version__ = "1.0.0"
