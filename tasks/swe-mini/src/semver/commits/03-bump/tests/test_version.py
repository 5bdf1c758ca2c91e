import pytest

from semverkit import InvalidVersion, Version, parse


def test_parse_core_numbers():
    v = Version.parse("1.22.333")
    assert (v.major, v.minor, v.patch) == (1, 22, 333)
    assert v.prerelease == ()
    assert v.build == ()


def test_parse_prerelease_and_build():
    v = Version.parse("1.4.0-rc.2+build.7")
    assert v.prerelease == ("rc", "2")
    assert v.build == ("build", "7")


def test_parse_accepts_v_prefix_and_whitespace():
    assert Version.parse("  v2.0.1\n") == Version(2, 0, 1)


def test_module_level_parse_alias():
    assert parse("0.1.0") == Version(0, 1, 0)


def test_parse_rejects_leading_zero_in_numeric_prerelease():
    with pytest.raises(InvalidVersion):
        Version.parse("1.0.0-rc.01")


def test_parse_rejects_non_string():
    with pytest.raises(TypeError):
        Version.parse(123)


@pytest.mark.parametrize("args", [(-1, 0, 0), (1, "2", 0), (1, 0, 1.5), (True, 0, 0)])
def test_constructor_validates_numbers(args):
    with pytest.raises(InvalidVersion):
        Version(*args)


@pytest.mark.parametrize(
    "text",
    ["0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0+20130313144700",
     "1.0.0-beta+exp.sha.5114f85"],
)
def test_str_round_trip(text):
    assert str(Version.parse(text)) == text


def test_repr():
    assert repr(Version.parse("1.2.3-rc.1")) == "Version.parse('1.2.3-rc.1')"


def test_precedence_chain_from_the_specification():
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ]
    versions = [Version.parse(text) for text in chain]
    for lower, higher in zip(versions, versions[1:]):
        assert lower < higher, (lower, higher)
    assert sorted(reversed(versions)) == versions


def test_build_metadata_ignored_for_equality_and_hash():
    a = Version.parse("1.0.0+linux")
    b = Version.parse("1.0.0+windows")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_comparison_with_other_types():
    v = Version.parse("1.0.0")
    assert v != "1.0.0"
    with pytest.raises(TypeError):
        v < "2.0.0"  # noqa: B015


def test_versions_are_immutable():
    v = Version(1, 2, 3)
    with pytest.raises(AttributeError):
        v.major = 2


def test_is_prerelease():
    assert Version.parse("1.0.0-rc.1").is_prerelease
    assert not Version.parse("1.0.0+build").is_prerelease


def test_release_drops_prerelease_and_build():
    assert Version.parse("1.2.3-rc.1+b5").release == Version(1, 2, 3)
    assert Version.parse("1.2.3-rc.1+b5").release.build == ()


@pytest.mark.parametrize(
    "method, before, after",
    [
        ("bump_major", "1.2.3", "2.0.0"),
        ("bump_major", "1.2.3-rc.1", "2.0.0"),
        ("bump_minor", "1.2.3", "1.3.0"),
        ("bump_patch", "1.2.3", "1.2.4"),
        ("bump_patch", "1.2.4-rc.1", "1.2.4"),
        ("bump_prerelease", "1.2.3", "1.2.4-rc.1"),
        ("bump_prerelease", "1.2.4-rc.1", "1.2.4-rc.2"),
        ("bump_prerelease", "1.2.4-beta", "1.2.4-beta.1"),
    ],
)
def test_bump(method, before, after):
    assert str(getattr(Version.parse(before), method)()) == after


def test_bump_prerelease_custom_label():
    assert str(Version(2, 0, 0).bump_prerelease("alpha")) == "2.0.1-alpha.1"
