"""Semantic version objects, following https://semver.org/spec/v2.0.0.html."""

from __future__ import annotations

import re
from functools import total_ordering

from .errors import InvalidVersion

__all__ = ["Version", "parse"]

_VERSION_RE = re.compile(
    r"""
    v?
    (?P<major>0|[1-9]\d*)
    \.(?P<minor>0|[1-9]\d*)
    \.(?P<patch>0|[1-9]\d*)
    (?:-(?P<prerelease>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    (?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    """,
    re.VERBOSE,
)


def _identifiers(text):
    """Split a dotted pre-release or build string into a tuple."""
    if not text:
        return ()
    return tuple(text.split("."))


def _prerelease_key(identifiers):
    # semver 2.0.0, section 11.4: numeric identifiers compare numerically,
    # alphanumeric ones in ASCII order, and numeric ones sort first.
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in identifiers
    )


@total_ordering
class Version:
    """An immutable semantic version ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build")

    def __init__(self, major, minor=0, patch=0, prerelease=(), build=()):
        for name, value in (("major", major), ("minor", minor), ("patch", patch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidVersion(f"{name} must be a non-negative integer, not {value!r}")
        if isinstance(prerelease, str):
            prerelease = _identifiers(prerelease)
        if isinstance(build, str):
            build = _identifiers(build)
        object.__setattr__(self, "major", major)
        object.__setattr__(self, "minor", minor)
        object.__setattr__(self, "patch", patch)
        object.__setattr__(self, "prerelease", tuple(prerelease))
        object.__setattr__(self, "build", tuple(build))

    @classmethod
    def parse(cls, text):
        """Parse a version string such as ``"1.2.3-rc.1+build.5"``.

        A leading ``v`` and surrounding whitespace are ignored.  Raises
        :class:`InvalidVersion` if ``text`` is not a semantic version.
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a version string, not {type(text).__name__}")
        match = _VERSION_RE.fullmatch(text.strip())
        prerelease = _identifiers(match.group("prerelease"))
        for part in prerelease:
            if part.isdigit() and len(part) > 1 and part.startswith("0"):
                raise InvalidVersion(
                    f"{text!r}: numeric pre-release identifier {part!r} has a leading zero"
                )
        return cls(
            int(match.group("major")),
            int(match.group("minor")),
            int(match.group("patch")),
            prerelease,
            _identifiers(match.group("build")),
        )

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} objects are immutable")

    @property
    def is_prerelease(self):
        return bool(self.prerelease)

    @property
    def release(self):
        """This version without its pre-release and build parts."""
        return Version(self.major, self.minor, self.patch)

    def bump_major(self):
        """``1.2.3`` -> ``2.0.0``."""
        return Version(self.major + 1, 0, 0)

    def bump_minor(self):
        """``1.2.3`` -> ``1.3.0``."""
        return Version(self.major, self.minor + 1, 0)

    def bump_patch(self):
        """``1.2.3`` -> ``1.2.4``; a pre-release becomes its release (``1.2.4-rc.1`` -> ``1.2.4``)."""
        if self.prerelease:
            return self.release
        return Version(self.major, self.minor, self.patch + 1)

    def bump_prerelease(self, label="rc"):
        """Next pre-release: ``1.2.3`` -> ``1.2.4-rc.1``, ``1.2.4-rc.1`` -> ``1.2.4-rc.2``."""
        if not self.prerelease:
            return Version(self.major, self.minor, self.patch + 1, (label, "1"))
        parts = list(self.prerelease)
        if parts[-1].isdigit():
            parts[-1] = str(int(parts[-1]) + 1)
        else:
            parts.append("1")
        return Version(self.major, self.minor, self.patch, parts)

    def _key(self):
        # A release has higher precedence than any of its pre-releases.
        if self.prerelease:
            pre = (0, _prerelease_key(self.prerelease))
        else:
            pre = (1,)
        return (self.major, self.minor, self.patch, pre)

    def __eq__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self):
        return f"Version.parse({str(self)!r})"


parse = Version.parse
