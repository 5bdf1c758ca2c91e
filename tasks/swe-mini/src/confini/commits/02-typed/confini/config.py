"""The :class:`Config` object."""

from __future__ import annotations

from . import convert
from .errors import ConversionError, NoOptionError, NoSectionError
from .parser import normalize_key, parse

__all__ = ["Config"]


class Config:
    """Options read from INI text, grouped by section.

    Option names are case-insensitive; section names are not.
    """

    def __init__(self, data=None):
        self._sections = {}
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
            target = self._sections.setdefault(section, {})
            for key, value in options.items():
                target[normalize_key(key)] = str(value)

    def sections(self):
        """Section names in file order."""
        return list(self._sections)

    def has_section(self, section):
        return section in self._sections

    def _options(self, section):
        try:
            return self._sections[section]
        except KeyError:
            raise NoSectionError(section) from None

    def options(self, section):
        """Option names of ``section``."""
        return list(self._options(section))

    def has_option(self, section, option):
        return option in self._sections.get(section, {})

    def get(self, section, option):
        """The value of ``option`` in ``section``.

        Raises :class:`NoSectionError` or :class:`NoOptionError` if it does not exist.
        """
        options = self._options(section)
        if option not in options:
            raise NoOptionError(section, option)
        return options[option]

    def _get_converted(self, converter, type_name, section, option):
        value = self.get(section, option)
        try:
            return converter(value)
        except ValueError:
            raise ConversionError(section, option, value, type_name) from None

    def getint(self, section, option):
        return self._get_converted(convert.to_int, "integer", section, option)

    def getfloat(self, section, option):
        return self._get_converted(convert.to_float, "number", section, option)

    def getboolean(self, section, option):
        """``yes/no``, ``true/false``, ``on/off`` or ``1/0``, in any case."""
        return self._get_converted(convert.to_bool, "boolean", section, option)

    def getlist(self, section, option, *, sep=","):
        """Items separated by ``sep`` or by newlines."""
        return self._get_converted(lambda value: convert.to_list(value, sep), "list", section, option)

    def __contains__(self, section):
        return self.has_section(section)

    def __repr__(self):
        return f"<Config sections={self.sections()!r}>"
