"""Exceptions raised by confini."""


class ConfigError(Exception):
    """Base class for every error raised by confini."""


class ParseError(ConfigError):
    """The INI text is malformed."""

    def __init__(self, message, source="<string>", lineno=None):
        self.message = message
        self.source = source
        self.lineno = lineno
        super().__init__(f"{source}, line {lineno}: {message}")


class NoSectionError(ConfigError, KeyError):
    """A section that does not exist was asked for."""

    def __init__(self, section):
        self.section = section
        super().__init__(f"no section {section!r}")

    __str__ = ConfigError.__str__  # KeyError would add quotes


class NoOptionError(ConfigError, KeyError):
    """An option that does not exist was asked for."""

    def __init__(self, section, option):
        self.section = section
        self.option = option
        super().__init__(f"no option {option!r} in section {section!r}")

    __str__ = ConfigError.__str__


class ConversionError(ConfigError, ValueError):
    """A value cannot be converted by a typed getter such as ``getint``."""

    def __init__(self, section, option, value, type_name):
        self.section = section
        self.option = option
        self.value = value
        super().__init__(f"[{section}] {option} = {value!r} is not a valid {type_name}")

