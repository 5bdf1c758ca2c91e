"""Inclusive ranges of calendar dates."""

from __future__ import annotations

import datetime as _dt

from .months import days_in_month, month_end

__all__ = ["DateSpan"]

_ONE_DAY = _dt.timedelta(days=1)


def _check_date(name, value):
    # datetime is a subclass of date; mixing them breaks comparisons later.
    if isinstance(value, _dt.datetime) or not isinstance(value, _dt.date):
        raise TypeError(f"{name} must be a datetime.date, not {type(value).__name__}")


class DateSpan:
    """Every calendar day from ``start`` to ``end``, both included.

    >>> span = DateSpan(date(2024, 1, 30), date(2024, 2, 2))
    >>> len(span), [d.day for d in span]
    (4, [30, 31, 1, 2])
    """

    __slots__ = ("start", "end")

    def __init__(self, start, end):
        _check_date("start", start)
        _check_date("end", end)
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        self.start = start
        self.end = end

    @classmethod
    def single(cls, day):
        """A span of one day."""
        return cls(day, day)

    @classmethod
    def month(cls, year, month):
        """The whole calendar month ``year-month``."""
        return cls(_dt.date(year, month, 1), _dt.date(year, month, days_in_month(year, month)))

    def __len__(self):
        return (self.end - self.start).days + 1

    def __iter__(self):
        day = self.start
        while day <= self.end:
            yield day
            day += _ONE_DAY

    def __reversed__(self):
        day = self.end
        while day >= self.start:
            yield day
            day -= _ONE_DAY

    def __contains__(self, item):
        if isinstance(item, DateSpan):
            return self.start <= item.start and item.end <= self.end
        if isinstance(item, _dt.datetime) or not isinstance(item, _dt.date):
            return False
        return self.start <= item <= self.end

    def __eq__(self, other):
        if not isinstance(other, DateSpan):
            return NotImplemented
        return (self.start, self.end) == (other.start, other.end)

    def __hash__(self):
        return hash((self.start, self.end))

    def __repr__(self):
        return f"DateSpan({self.start!r}, {self.end!r})"

    def __str__(self):
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def overlaps(self, other):
        """True if the two spans share at least one day."""
        return self.start <= other.end and other.start <= self.end

    def intersection(self, other):
        """The days in both spans, or ``None`` if they do not overlap."""
        if not self.overlaps(other):
            return None
        return DateSpan(max(self.start, other.start), min(self.end, other.end))

    def shift(self, days):
        """The same span moved by ``days`` days (negative moves it back)."""
        delta = _dt.timedelta(days=days)
        return DateSpan(self.start + delta, self.end + delta)

    def months(self):
        """Split the span at month boundaries, e.g. for monthly reports."""
        start = self.start
        while start <= self.end:
            end = min(month_end(start), self.end)
            yield DateSpan(start, end)
            start = end + _ONE_DAY

    def chunks(self, days):
        """Split the span into consecutive spans of ``days`` days.

        The chunks do not overlap and together cover the span; the last one
        may be shorter.  Handy for APIs that limit how many days one request
        may cover.
        """
        if days < 1:
            raise ValueError(f"chunk size must be at least one day, not {days}")
        step = _dt.timedelta(days=days)
        start = self.start
        while start <= self.end:
            end = min(start + step, self.end)
            yield DateSpan(start, end)
            start += step
