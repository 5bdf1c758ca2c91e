"""Month arithmetic on :class:`datetime.date`."""

from __future__ import annotations

import calendar
import datetime as _dt

__all__ = ["add_months", "days_in_month", "month_end", "month_start"]


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

