import pytest

from confini import ParseError, parse


def test_sections_and_options():
    text = "[server]\nhost = example.org\nport = 8080\n\n[client]\nretries = 3\n"
    assert parse(text) == {
        "server": {"host": "example.org", "port": "8080"},
        "client": {"retries": "3"},
    }


def test_colon_separator():
    assert parse("[a]\nname: value\n") == {"a": {"name": "value"}}


def test_keys_are_lowercased_and_stripped():
    assert parse("[a]\n  Max Size   =  10\n") == {"a": {"max size": "10"}}


def test_section_names_keep_their_case():
    assert list(parse("[Server]\n[server]\n")) == ["Server", "server"]


def test_comment_and_blank_lines_are_ignored():
    text = "# leading comment\n[a]\n; another comment\n\nx = 1\n   # indented comment\n"
    assert parse(text) == {"a": {"x": "1"}}


def test_value_may_be_empty():
    assert parse("[a]\nempty =\n") == {"a": {"empty": ""}}


def test_only_the_first_separator_splits():
    assert parse("[a]\nurl = http://example.org:80/?q=1\n") == {"a": {"url": "http://example.org:80/?q=1"}}


def test_duplicate_section_is_an_error():
    with pytest.raises(ParseError) as info:
        parse("[a]\nx = 1\n[a]\n")
    assert info.value.lineno == 3


def test_duplicate_option_is_an_error():
    with pytest.raises(ParseError, match="duplicate option 'x'"):
        parse("[a]\nx = 1\nX = 2\n")


def test_option_before_any_section_is_an_error():
    with pytest.raises(ParseError):
        parse("x = 1\n")


def test_error_message_names_source_and_line():
    with pytest.raises(ParseError) as info:
        parse("[a]\nx = 1\nnot an option\n", source="app.ini")
    assert str(info.value).startswith("app.ini, line 3: ")
    assert info.value.source == "app.ini"


def test_indented_lines_continue_the_value():
    text = "[mail]\nto = alice@example.org,\n     bob@example.org\nsubject = hi\n"
    assert parse(text)["mail"] == {"to": "alice@example.org,\nbob@example.org", "subject": "hi"}


def test_comment_line_ends_a_continuation():
    text = "[a]\nx = 1\n# note\n  y = 2\n"
    assert parse(text) == {"a": {"x": "1", "y": "2"}}


def test_inline_comments_need_leading_whitespace():
    text = "[a]\nx = 1 ; one\ny = 2 # two\ncolor = #ff0000\nlist = a;b\n"
    assert parse(text) == {"a": {"x": "1", "y": "2", "color": "#ff0000", "list": "a;b"}}
