"""Inclusive date ranges, month arithmetic and business days."""

from .business import add_business_days, business_days, is_business_day, is_weekend
from .months import add_months, days_in_month, month_end, month_start, nth_weekday, quarter
from .span import DateSpan

__all__ = [
    "DateSpan",
    "add_business_days",
    "add_months",
    "business_days",
    "days_in_month",
    "is_business_day",
    "is_weekend",
    "month_end",
    "month_start",
    "nth_weekday",
    "quarter",
]
__version__ = "1.0.0"
