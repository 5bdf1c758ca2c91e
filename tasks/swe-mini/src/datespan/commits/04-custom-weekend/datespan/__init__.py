"""Inclusive date ranges, month arithmetic and business days."""

from .business import (
    DEFAULT_WEEKEND,
    FRIDAY,
    MONDAY,
    SATURDAY,
    SUNDAY,
    THURSDAY,
    TUESDAY,
    WEDNESDAY,
    add_business_days,
    business_days,
    is_business_day,
    is_weekend,
    roll_forward,
)
from .months import add_months, days_in_month, month_end, month_start, nth_weekday, quarter
from .span import DateSpan

__all__ = [
    "DEFAULT_WEEKEND",
    "FRIDAY",
    "MONDAY",
    "SATURDAY",
    "SUNDAY",
    "THURSDAY",
    "TUESDAY",
    "WEDNESDAY",
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
    "roll_forward",
]
__version__ = "1.1.0"
