import pytest

from confini import Config, InterpolationError

TEXT = """
[DEFAULT]
root = /srv/app

[paths]
data = ${root}/data
cache = ${data}/cache
logs = ${root}/log

[server]
host = example.org
port = 8080
url = http://${host}:${port}/
log_file = ${paths:logs}/server.log
price = $$5
shell = $HOME/bin
"""


@pytest.fixture
def config():
    return Config.from_string(TEXT)


def test_reference_to_the_same_section(config):
    assert config.get("server", "url") == "http://example.org:8080/"


def test_reference_to_another_section(config):
    assert config.get("server", "log_file") == "/srv/app/log/server.log"


def test_reference_to_a_default(config):
    assert config.get("paths", "data") == "/srv/app/data"


def test_nested_references(config):
    assert config.get("paths", "cache") == "/srv/app/data/cache"


def test_dollar_escape_and_lone_dollar(config):
    assert config.get("server", "price") == "$5"
    assert config.get("server", "shell") == "$HOME/bin"


def test_raw_value(config):
    assert config.get("server", "url", raw=True) == "http://${host}:${port}/"


def test_interpolation_can_be_disabled():
    config = Config.from_string(TEXT, interpolation=False)
    assert config.get("paths", "cache") == "${data}/cache"


def test_typed_getters_see_expanded_values():
    config = Config.from_string("[a]\nbase = 8000\nport = ${base}\n")
    assert config.getint("a", "port") == 8000


def test_missing_option(config):
    config.read_string("[broken]\nx = ${nope}\n")
    with pytest.raises(InterpolationError, match="no option 'nope'"):
        config.get("broken", "x")


def test_missing_section(config):
    config.read_string("[broken]\nx = ${nowhere:y}\n")
    with pytest.raises(InterpolationError, match="no section 'nowhere'"):
        config.get("broken", "x")


def test_reference_cycle():
    config = Config.from_string("[a]\nx = ${y}\ny = ${x}\n")
    with pytest.raises(InterpolationError):
        config.get("a", "x")
