"""Month arithmetic on :class:`datetime.date`."""

from __future__ import annotations

import calendar
import datetime as _dt

__all__ = ["add_months", "days_in_month", "month_end", "month_start", "nth_weekday", "quarter"]


def days_in_month(year, month):
    """Number of days in ``month`` of ``year`` (leap years included)."""
    return calendar.monthrange(year, month)[1]


def month_start(day):
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_end(day):
    """The last day of ``day``'s month."""
    return day.replace(day=days_in_month(day.year, day.month))


def add_months(day, months):
    """Move ``day`` by ``months`` calendar months (negative moves back).

    The day of the month is kept when the target month has it and clamped to
    the month's last day otherwise: ``add_months(date(2024, 1, 31), 1)`` is
    ``date(2024, 2, 29)``.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    return _dt.date(year, month, min(day.day, days_in_month(year, month)))


def quarter(day):
    """The quarter (1-4) ``day`` falls in."""
    return (day.month - 1) // 3 + 1


def nth_weekday(year, month, weekday, n):
    """The ``n``-th ``weekday`` (0 = Monday) of a month; ``n = -1`` is the last one.

    ``nth_weekday(2024, 11, 3, 4)`` is Thanksgiving 2024, ``date(2024, 11, 28)``.
    Raises ``ValueError`` if the month has no such day.
    """
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be in 0..6, not {weekday}")
    if n == -1:
        last = _dt.date(year, month, days_in_month(year, month))
        return last - _dt.timedelta(days=(last.weekday() - weekday) % 7)
    if n < 1:
        raise ValueError(f"n must be -1 or at least 1, not {n}")
    first = _dt.date(year, month, 1)
    day = 1 + (weekday - first.weekday()) % 7 + 7 * (n - 1)
    if day > days_in_month(year, month):
        raise ValueError(f"{calendar.month_name[month]} {year} has fewer than {n} {calendar.day_name[weekday]}s")
    return _dt.date(year, month, day)
