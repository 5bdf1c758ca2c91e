import pytest

from confini import Config, ConversionError, NoOptionError, NoSectionError

TEXT = """
[DEFAULT]
log_level = info

[server]
host = example.org
port = 8080
timeout = 2.5

[client]
retries = 3
"""


@pytest.fixture
def config():
    return Config.from_string(TEXT)


def test_sections_in_file_order(config):
    assert config.sections() == ["server", "client"]


def test_get(config):
    assert config.get("server", "host") == "example.org"


def test_missing_section(config):
    with pytest.raises(NoSectionError) as info:
        config.get("database", "host")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no section 'database'"


def test_missing_option(config):
    with pytest.raises(NoOptionError) as info:
        config.get("server", "user")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no option 'user' in section 'server'"


def test_has_section_and_in(config):
    assert config.has_section("client")
    assert "client" in config
    assert "database" not in config


def test_has_option(config):
    assert config.has_option("server", "port")
    assert not config.has_option("server", "user")
    assert not config.has_option("database", "port")


def test_options(config):
    assert config.options("server") == ["host", "port", "timeout", "log_level"]


def test_getint_and_getfloat(config):
    assert config.getint("server", "port") == 8080
    assert config.getfloat("server", "timeout") == 2.5


def test_getint_invalid_value(config):
    with pytest.raises(ConversionError) as info:
        config.getint("server", "host")
    assert isinstance(info.value, ValueError)
    assert (info.value.section, info.value.option, info.value.value) == ("server", "host", "example.org")


def test_read_dict_normalizes_keys_and_values():
    config = Config({"db": {"Port": 5432, "Debug": True}})
    assert config.get("db", "port") == "5432"
    assert config.get("db", "debug") == "True"


def test_later_sources_override_earlier_ones(config):
    config.read_string("[server]\nport = 9090\n[extra]\nx = 1\n")
    assert config.get("server", "port") == "9090"
    assert config.get("server", "host") == "example.org"
    assert config.sections() == ["server", "client", "extra"]


def test_from_file(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text("[app]\nname = demo\n", encoding="utf-8")
    assert Config.from_file(path).get("app", "name") == "demo"


def test_repr(config):
    assert repr(config) == "<Config sections=['server', 'client']>"


@pytest.mark.parametrize(
    "raw, expected",
    [("yes", True), ("On", True), ("TRUE", True), ("1", True), ("no", False), ("off", False), ("False", False),
     ("0", False)],
)
def test_getboolean(raw, expected):
    config = Config.from_string(f"[feature]\nenabled = {raw}\n")
    assert config.getboolean("feature", "enabled") is expected


def test_getlist():
    config = Config.from_string("[mail]\nto = alice@example.org, bob@example.org,\n")
    assert config.getlist("mail", "to") == ["alice@example.org", "bob@example.org"]


def test_getlist_custom_separator():
    config = Config.from_string("[paths]\nsearch = /usr/lib:/usr/local/lib\n")
    assert config.getlist("paths", "search", sep=":") == ["/usr/lib", "/usr/local/lib"]


def test_default_options_are_visible_from_every_section(config):
    assert config.get("client", "log_level") == "info"
    assert config.has_option("server", "log_level")


def test_section_values_override_defaults():
    config = Config.from_string("[DEFAULT]\nlog_level = info\n[worker]\nlog_level = debug\n")
    assert config.get("worker", "log_level") == "debug"


def test_default_is_not_a_section(config):
    assert "DEFAULT" not in config.sections()
    with pytest.raises(NoSectionError):
        config.get("DEFAULT", "log_level")


def test_options_include_defaults(config):
    assert config.options("client") == ["retries", "log_level"]


def test_get_fallback(config):
    assert config.get("server", "user", fallback="admin") == "admin"
    assert config.get("database", "host", fallback=None) is None
    assert config.get("server", "host", fallback="ignored") == "example.org"


def test_typed_getters_fallback(config):
    assert config.getint("client", "timeout", fallback=30) == 30
    assert config.getboolean("client", "verbose", fallback=False) is False
    assert config.getlist("client", "hosts", fallback=[]) == []
