from datetime import date, datetime

import pytest

from datespan import DateSpan

JAN = DateSpan(date(2024, 1, 1), date(2024, 1, 31))


def test_len_counts_both_ends():
    assert len(JAN) == 31
    assert len(DateSpan(date(2024, 2, 1), date(2024, 3, 1))) == 30


def test_single_day_span():
    span = DateSpan.single(date(2024, 5, 17))
    assert len(span) == 1
    assert list(span) == [date(2024, 5, 17)]


def test_iteration_crosses_month_and_year():
    span = DateSpan(date(2023, 12, 30), date(2024, 1, 2))
    assert list(span) == [date(2023, 12, 30), date(2023, 12, 31), date(2024, 1, 1), date(2024, 1, 2)]


def test_reversed():
    span = DateSpan(date(2024, 2, 28), date(2024, 3, 1))
    assert list(reversed(span)) == [date(2024, 3, 1), date(2024, 2, 29), date(2024, 2, 28)]


def test_end_before_start_is_rejected():
    with pytest.raises(ValueError):
        DateSpan(date(2024, 1, 2), date(2024, 1, 1))


def test_datetimes_are_rejected():
    with pytest.raises(TypeError):
        DateSpan(datetime(2024, 1, 1, 12, 0), date(2024, 1, 2))


@pytest.mark.parametrize(
    "day, expected",
    [(date(2024, 1, 1), True), (date(2024, 1, 31), True), (date(2024, 1, 15), True),
     (date(2023, 12, 31), False), (date(2024, 2, 1), False)],
    ids=["first-day", "last-day", "middle", "day-before", "day-after"],
)
def test_contains_date(day, expected):
    assert (day in JAN) is expected


def test_contains_span_and_other_objects():
    assert DateSpan(date(2024, 1, 10), date(2024, 1, 31)) in JAN
    assert DateSpan(date(2024, 1, 10), date(2024, 2, 1)) not in JAN
    assert "2024-01-10" not in JAN


def test_equality_and_hash():
    same = DateSpan(date(2024, 1, 1), date(2024, 1, 31))
    assert same == JAN
    assert len({same, JAN}) == 1
    assert JAN != DateSpan(date(2024, 1, 1), date(2024, 1, 30))


def test_str_and_repr():
    assert str(JAN) == "2024-01-01..2024-01-31"
    assert repr(JAN) == "DateSpan(datetime.date(2024, 1, 1), datetime.date(2024, 1, 31))"


@pytest.mark.parametrize(
    "other, expected",
    [
        (DateSpan(date(2024, 1, 31), date(2024, 2, 5)), True),
        (DateSpan(date(2023, 12, 1), date(2024, 1, 1)), True),
        (DateSpan(date(2024, 2, 1), date(2024, 2, 5)), False),
    ],
    ids=["shares-last-day", "shares-first-day", "adjacent"],
)
def test_overlaps(other, expected):
    assert JAN.overlaps(other) is expected
    assert other.overlaps(JAN) is expected


def test_intersection():
    other = DateSpan(date(2024, 1, 20), date(2024, 2, 10))
    assert JAN.intersection(other) == DateSpan(date(2024, 1, 20), date(2024, 1, 31))


def test_intersection_of_disjoint_spans_is_none():
    assert JAN.intersection(DateSpan(date(2024, 3, 1), date(2024, 3, 2))) is None


def test_shift():
    assert JAN.shift(-1) == DateSpan(date(2023, 12, 31), date(2024, 1, 30))


def test_month_constructor():
    assert DateSpan.month(2024, 2) == DateSpan(date(2024, 2, 1), date(2024, 2, 29))
    assert len(DateSpan.month(2023, 2)) == 28


def test_months_splits_at_month_boundaries():
    span = DateSpan(date(2024, 1, 20), date(2024, 3, 5))
    assert list(span.months()) == [
        DateSpan(date(2024, 1, 20), date(2024, 1, 31)),
        DateSpan(date(2024, 2, 1), date(2024, 2, 29)),
        DateSpan(date(2024, 3, 1), date(2024, 3, 5)),
    ]


def test_months_within_one_month():
    span = DateSpan(date(2024, 4, 3), date(2024, 4, 9))
    assert list(span.months()) == [span]


def test_chunk_larger_than_span_is_the_whole_span():
    assert list(JAN.chunks(90)) == [JAN]


@pytest.mark.parametrize("size", [0, -7])
def test_chunk_size_must_be_positive(size):
    with pytest.raises(ValueError):
        list(JAN.chunks(size))
