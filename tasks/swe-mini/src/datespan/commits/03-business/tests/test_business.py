from datetime import date

import pytest

from datespan import DateSpan, add_business_days, business_days, is_business_day, is_weekend

# The week of Monday 4 March 2024.
MON, TUE, WED, THU = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)
SAT = date(2024, 3, 9)
WEEK = DateSpan(MON, date(2024, 3, 10))


def test_saturday_is_weekend():
    assert is_weekend(SAT)
    assert not is_business_day(SAT)


@pytest.mark.parametrize("day", [TUE, WED, THU], ids=["tuesday", "wednesday", "thursday"])
def test_midweek_days_are_business_days(day):
    assert not is_weekend(day)
    assert is_business_day(day)


def test_holiday_is_not_a_business_day():
    assert not is_business_day(WED, holidays={WED})


def test_business_days_in_a_full_week():
    assert business_days(WEEK) == 5


def test_business_days_over_two_weeks():
    assert business_days(DateSpan(MON, date(2024, 3, 17))) == 10


def test_business_days_skip_holidays():
    assert business_days(WEEK, holidays=[WED]) == 4


def test_holiday_on_a_weekend_is_not_counted_twice():
    assert business_days(WEEK, holidays=[SAT]) == 5


def test_business_days_of_a_single_day():
    assert business_days(DateSpan.single(WED)) == 1


def test_holidays_accept_any_iterable():
    assert business_days(WEEK, holidays=(d for d in [MON, TUE])) == 3


def test_add_business_days_within_a_week():
    assert add_business_days(MON, 3) == THU


def test_add_zero_business_days_returns_the_same_day():
    assert add_business_days(SAT, 0) == SAT


def test_add_business_days_over_a_weekend():
    assert add_business_days(THU, 2) == date(2024, 3, 11)


def test_add_business_days_backwards():
    assert add_business_days(date(2024, 3, 12), -5) == TUE


def test_add_business_days_skips_holidays():
    assert add_business_days(MON, 2, holidays={TUE}) == THU


def test_add_twenty_business_days_is_four_weeks():
    assert add_business_days(date(2024, 1, 1), 20) == date(2024, 1, 29)
