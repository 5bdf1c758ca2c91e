"""Business-day arithmetic: weekends and holidays."""

from __future__ import annotations

import datetime as _dt

__all__ = [
    "DEFAULT_WEEKEND",
    "add_business_days",
    "business_days",
    "is_business_day",
    "is_weekend",
    "roll_forward",
]

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
DEFAULT_WEEKEND = frozenset({SATURDAY, SUNDAY})


def is_weekend(day, weekend=DEFAULT_WEEKEND):
    """True if ``day`` falls on a weekend.

    ``weekend`` holds day numbers as returned by :meth:`datetime.date.weekday`
    (Monday is 0, Sunday is 6), e.g. ``{FRIDAY, SATURDAY}`` for a Friday-Saturday
    weekend.
    """
    return day.isoweekday() in weekend


def is_business_day(day, holidays=(), weekend=DEFAULT_WEEKEND):
    """True unless ``day`` is a weekend day or one of ``holidays``."""
    return not is_weekend(day, weekend) and day not in holidays


def business_days(span, holidays=(), weekend=DEFAULT_WEEKEND):
    """How many business days the :class:`~datespan.DateSpan` ``span`` contains."""
    holidays = frozenset(holidays)
    return sum(1 for day in span if is_business_day(day, holidays, weekend))


def _check_weekend(weekend):
    if len(set(weekend)) >= 7:
        raise ValueError("the weekend cannot cover the whole week")


def add_business_days(day, n, holidays=(), weekend=DEFAULT_WEEKEND):
    """The date ``n`` business days after ``day`` (before it if ``n`` < 0).

    ``day`` itself does not need to be a business day; ``n == 0`` returns it
    unchanged.
    """
    _check_weekend(weekend)
    holidays = frozenset(holidays)
    step = _dt.timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if is_business_day(day, holidays, weekend):
            remaining -= 1
    return day


def roll_forward(day, holidays=(), weekend=DEFAULT_WEEKEND):
    """``day`` if it is a business day, else the next business day."""
    _check_weekend(weekend)
    holidays = frozenset(holidays)
    while not is_business_day(day, holidays, weekend):
        day += _dt.timedelta(days=1)
    return day
