"""Business-day arithmetic: weekends and holidays."""

from __future__ import annotations

import datetime as _dt

__all__ = ["add_business_days", "business_days", "is_business_day", "is_weekend"]


def is_weekend(day):
    """True on Saturdays and Sundays."""
    return day.weekday() >= 5


def is_business_day(day, holidays=()):
    """True unless ``day`` is a Saturday, a Sunday or one of ``holidays``."""
    return not is_weekend(day) and day not in holidays


def business_days(span, holidays=()):
    """How many business days the :class:`~datespan.DateSpan` ``span`` contains."""
    holidays = frozenset(holidays)
    return sum(1 for day in span if is_business_day(day, holidays))


def add_business_days(day, n, holidays=()):
    """The date ``n`` business days after ``day`` (before it if ``n`` < 0).

    ``day`` itself does not need to be a business day; ``n == 0`` returns it
    unchanged.
    """
    holidays = frozenset(holidays)
    step = _dt.timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if is_business_day(day, holidays):
            remaining -= 1
    return day
