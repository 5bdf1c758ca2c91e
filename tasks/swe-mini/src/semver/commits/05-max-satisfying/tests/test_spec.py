import pytest

from semverkit import InvalidSpecifier, Range, Version, max_satisfying, min_satisfying


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


@pytest.mark.parametrize(
    "spec, expected",
    [
        pytest.param("1", ">=1.0.0 <2.0.0", id="major"),
        pytest.param("1.x", ">=1.0.0 <2.0.0", id="major-x"),
        pytest.param("1.2", ">=1.2.0 <1.3.0", id="minor"),
        pytest.param("1.2.*", ">=1.2.0 <1.3.0", id="minor-star"),
        pytest.param("*", ">=0.0.0", id="star"),
        pytest.param(">1.2", ">=1.3.0", id="greater-than-minor"),
        pytest.param(">=1.2", ">=1.2.0", id="at-least-minor"),
        pytest.param("<1.2", "<1.2.0", id="less-than-minor"),
        pytest.param("<=1.2", "<1.3.0", id="at-most-minor"),
        pytest.param("~1", ">=1.0.0 <2.0.0", id="tilde-major"),
        pytest.param("~1.2", ">=1.2.0 <1.3.0", id="tilde-minor"),
        pytest.param("^1.2", ">=1.2.0 <2.0.0", id="caret-minor"),
        pytest.param("^1", ">=1.0.0 <2.0.0", id="caret-major"),
    ],
)
def test_partial_versions_desugar(spec, expected):
    assert str(Range(spec)) == expected


def test_x_range_contains():
    r = Range("1.2.x")
    assert "1.2.0" in r
    assert "1.2.99" in r
    assert "1.3.0" not in r


def test_prerelease_bound():
    r = Range(">=2.0.0-rc.1 <2.0.0")
    assert "2.0.0-rc.2" in r
    assert "2.0.0-beta.9" not in r
    assert "2.0.0" not in r


@pytest.mark.parametrize(
    "text",
    [">=banana", "1.2.3.4", "=>1.0.0", "^1.2-rc.1", "01.2.3", "1.2.3 <2.0.0-"],
    ids=["word", "four-parts", "reversed-operator", "prerelease-on-partial", "leading-zero", "dangling-hyphen"],
)
def test_invalid_comparators_raise_invalid_specifier(text):
    with pytest.raises(InvalidSpecifier):
        Range(text)


RELEASES = ["0.9.0", "1.0.0", "1.2.0", "1.10.0", "2.0.0", "2.1.3"]


def test_filter_keeps_order_and_items():
    assert list(Range("^1.0.0").filter(RELEASES)) == ["1.0.0", "1.2.0", "1.10.0"]


def test_max_satisfying():
    assert max_satisfying(RELEASES, "^1.0.0") == "1.10.0"
    assert max_satisfying(RELEASES, "~2") == "2.1.3"


def test_min_satisfying():
    assert min_satisfying(RELEASES, ">=1.1") == "1.2.0"
    assert min_satisfying(["2.0.0", "2.0.0-rc.1"], "~2.0.0-rc.1") == "2.0.0-rc.1"


def test_prereleases_compare_by_plain_precedence():
    assert max_satisfying(["1.9.0", "2.0.0-rc.1"], "<2.0.0") == "2.0.0-rc.1"


def test_satisfying_returns_none_when_nothing_matches():
    assert max_satisfying(RELEASES, ">=3") is None
    assert min_satisfying([], "*") is None


def test_max_satisfying_accepts_range_and_version_objects():
    versions = [Version(1, 0, 0), Version(1, 4, 2), Version(2, 0, 0)]
    assert max_satisfying(versions, Range("<2")) == Version(1, 4, 2)
