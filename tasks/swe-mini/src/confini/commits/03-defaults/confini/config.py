"""The :class:`Config` object."""

from __future__ import annotations

from . import convert
from .errors import ConversionError, NoOptionError, NoSectionError
from .parser import normalize_key, parse

__all__ = ["Config"]

_MISSING = object()


class Config:
    """Options read from INI text, grouped by section.

    Options of the ``[DEFAULT]`` section are visible from every section.
    Option names are case-insensitive; section names are not.
    """

    DEFAULT_SECTION = "DEFAULT"

    def __init__(self, data=None):
        self._sections = {}
        self._defaults = {}
        if data:
            self.read_dict(data)

    @classmethod
    def from_string(cls, text, *, source="<string>"):
        config = cls()
        config.read_string(text, source=source)
        return config

    @classmethod
    def from_file(cls, path, *, encoding="utf-8"):
        with open(path, encoding=encoding) as f:
            return cls.from_string(f.read(), source=str(path))

    def read_string(self, text, *, source="<string>"):
        """Add the sections of ``text``; later values override earlier ones."""
        self.read_dict(parse(text, source=source))

    def read_dict(self, data):
        """Add ``{section: {option: value}}``; values are converted with ``str()``."""
        for section, options in data.items():
            if section == self.DEFAULT_SECTION:
                target = self._defaults
            else:
                target = self._sections.setdefault(section, {})
            for key, value in options.items():
                target[normalize_key(key)] = str(value)

    def sections(self):
        """Section names in file order, without ``DEFAULT``."""
        return list(self._sections)

    def has_section(self, section):
        return section in self._sections

    def _options(self, section):
        try:
            return self._sections[section]
        except KeyError:
            raise NoSectionError(section) from None

    def options(self, section):
        """Option names of ``section``, including the ``[DEFAULT]`` ones."""
        options = self._options(section)
        return list(options) + [key for key in self._defaults if key not in options]

    def has_option(self, section, option):
        if section not in self._sections:
            return False
        return option in self._sections[section] or option in self._defaults

    def get(self, section, option, *, fallback=_MISSING):
        """The value of ``option`` in ``section``.

        ``fallback`` is returned when the section or the option does not exist;
        without it, :class:`NoSectionError` or :class:`NoOptionError` is raised.
        """
        try:
            options = self._options(section)
        except NoSectionError:
            if fallback is _MISSING:
                raise
            return fallback
        if option in options:
            value = options[option]
        elif option in self._defaults:
            value = self._defaults[option]
        elif fallback is not _MISSING:
            return fallback
        else:
            raise NoOptionError(section, option)
        return value

    def _get_converted(self, converter, type_name, section, option, fallback):
        try:
            value = self.get(section, option)
        except (NoSectionError, NoOptionError):
            if fallback is _MISSING:
                raise
            return fallback
        try:
            return converter(value)
        except ValueError:
            raise ConversionError(section, option, value, type_name) from None

    def getint(self, section, option, *, fallback=_MISSING):
        return self._get_converted(convert.to_int, "integer", section, option, fallback)

    def getfloat(self, section, option, *, fallback=_MISSING):
        return self._get_converted(convert.to_float, "number", section, option, fallback)

    def getboolean(self, section, option, *, fallback=_MISSING):
        """``yes/no``, ``true/false``, ``on/off`` or ``1/0``, in any case."""
        return self._get_converted(convert.to_bool, "boolean", section, option, fallback)

    def getlist(self, section, option, *, sep=",", fallback=_MISSING):
        """Items separated by ``sep`` or by newlines."""
        return self._get_converted(lambda value: convert.to_list(value, sep), "list", section, option, fallback)

    def __contains__(self, section):
        return self.has_section(section)

    def __repr__(self):
        return f"<Config sections={self.sections()!r}>"
