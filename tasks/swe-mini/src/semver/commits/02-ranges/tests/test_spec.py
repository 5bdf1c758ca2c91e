import pytest

from semverkit import InvalidSpecifier, Range, Version


@pytest.mark.parametrize(
    "spec, version, expected",
    [
        ("1.2.3", "1.2.3", True),
        ("=1.2.3", "1.2.4", False),
        (">1.2.3", "1.2.4", True),
        (">1.2.3", "1.2.3", False),
        (">=1.2.3", "1.2.3", True),
        ("<1.2.3", "1.2.3-rc.1", True),
        ("<=1.2.3", "1.2.3", True),
        ("<=1.2.3", "1.3.0", False),
    ],
    ids=["bare", "equal", "greater", "greater-not-equal", "greater-or-equal", "less-includes-prerelease",
         "less-or-equal", "less-or-equal-not-greater"],
)
def test_single_comparators(spec, version, expected):
    assert Range(spec).contains(version) is expected


def test_comparator_set_is_an_intersection():
    r = Range(">=1.2.0 <2.0.0")
    assert "1.2.0" in r
    assert "1.9.9" in r
    assert "2.0.0" not in r
    assert "1.1.9" not in r


def test_space_between_operator_and_version():
    assert str(Range(">= 1.2.0 < 2.0.0")) == ">=1.2.0 <2.0.0"


def test_alternatives_are_a_union():
    r = Range("<1.0.0 || >=3.0.0")
    assert "0.9.0" in r
    assert "3.1.0" in r
    assert "2.0.0" not in r


@pytest.mark.parametrize(
    "version, expected",
    [("1.2.3", True), ("1.9.0", True), ("1.2.2", False), ("2.0.0", False)],
)
def test_caret(version, expected):
    assert Range("^1.2.3").contains(version) is expected


@pytest.mark.parametrize(
    "version, expected",
    [("1.2.3", True), ("1.2.9", True), ("1.3.0", False), ("1.2.2", False)],
)
def test_tilde(version, expected):
    assert Range("~1.2.3").contains(version) is expected


def test_caret_and_tilde_desugar():
    assert str(Range("^1.2.3")) == ">=1.2.3 <2.0.0"
    assert str(Range("~1.2.3")) == ">=1.2.3 <1.3.0"


def test_contains_accepts_version_objects():
    assert Range(">=1.0.0").contains(Version(1, 5, 0))
    assert Version(0, 9, 0) not in Range(">=1.0.0")


@pytest.mark.parametrize(
    "text", ["", "   ", ">=1.0.0 ||", "|| <2.0.0"], ids=["empty", "blank", "trailing-or", "leading-or"]
)
def test_empty_comparator_set_is_rejected(text):
    with pytest.raises(InvalidSpecifier):
        Range(text)


def test_invalid_specifier_is_a_value_error():
    assert issubclass(InvalidSpecifier, ValueError)


def test_repr_keeps_original_text():
    assert repr(Range(">=1.0.0  <2.0.0")) == "Range('>=1.0.0  <2.0.0')"
