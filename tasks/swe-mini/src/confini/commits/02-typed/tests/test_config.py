import pytest

from confini import Config, ConversionError, NoOptionError, NoSectionError

TEXT = """
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
    assert config.options("server") == ["host", "port", "timeout"]


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
