from datetime import date

import pytest

from datespan import add_months, days_in_month, month_end, month_start, nth_weekday, quarter


@pytest.mark.parametrize(
    "year, month, expected",
    [(2024, 2, 29), (2023, 2, 28), (1900, 2, 28), (2000, 2, 29), (2024, 4, 30), (2024, 12, 31)],
)
def test_days_in_month(year, month, expected):
    assert days_in_month(year, month) == expected


def test_month_start_and_end():
    assert month_start(date(2024, 2, 17)) == date(2024, 2, 1)
    assert month_end(date(2024, 2, 17)) == date(2024, 2, 29)


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (date(2024, 1, 15), 1, date(2024, 2, 15)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 11, 30), 3, date(2025, 2, 28)),
        (date(2024, 12, 1), 1, date(2025, 1, 1)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 1, 10), -13, date(2022, 12, 10)),
        (date(2024, 5, 5), 0, date(2024, 5, 5)),
    ],
    ids=["simple", "clamp-leap", "clamp", "into-next-year", "december", "back", "back-over-year", "zero"],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize("month, expected", [(1, 1), (3, 1), (4, 2), (9, 3), (12, 4)])
def test_quarter(month, expected):
    assert quarter(date(2024, month, 10)) == expected


def test_nth_weekday():
    assert nth_weekday(2024, 11, 3, 4) == date(2024, 11, 28)  # Thanksgiving
    assert nth_weekday(2024, 9, 0, 1) == date(2024, 9, 2)  # Labor Day
    assert nth_weekday(2024, 5, 0, -1) == date(2024, 5, 27)  # Memorial Day


def test_nth_weekday_missing():
    with pytest.raises(ValueError):
        nth_weekday(2024, 2, 4, 5)  # February 2024 has four Fridays
