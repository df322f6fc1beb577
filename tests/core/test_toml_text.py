"""`parse_toml`, the one parser of TOML from elsewhere: every way `tomllib`
fails on hostile text is one InvalidInput line naming the file."""

from __future__ import annotations

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.toml_text import TomlSyntaxError, parse_toml

DEEP = "x = " + "[" * 5000 + "]" * 5000
HUGE = "x = " + "9" * 5000


@pytest.mark.parametrize(
    "text, message",
    [
        (DEEP, "f.toml: not valid TOML: arrays or tables nested too deeply"),
        ("x = " + "{a = " * 5000 + "1" + "}" * 5000, "f.toml: not valid TOML: arrays or tables nested too deeply"),
        (HUGE, "f.toml: not valid TOML: Exceeds the limit (4300 digits)"),
        ("x = = 1", "f.toml: not valid TOML: "),
        (b"x = 1\n# \xff\xfe", "f.toml: not UTF-8 text (invalid start byte at byte 8)"),
    ],
)
def test_every_failure_is_one_invalid_input_line_naming_the_file(text, message):
    with pytest.raises(InvalidInput) as info:
        parse_toml(text, "f.toml")
    assert info.value.exit_code == 8 and info.value.message.startswith(message)
    assert "\n" not in info.value.message and "set_int_max_str_digits" not in info.value.message


def test_only_text_that_is_not_toml_is_a_syntax_error():
    with pytest.raises(TomlSyntaxError):
        parse_toml("v = hello", "--var x")
    for text in (DEEP, HUGE):
        with pytest.raises(InvalidInput) as info:
            parse_toml(text, "--var x")
        assert not isinstance(info.value, TomlSyntaxError)


def test_good_text_and_bytes_parse():
    assert parse_toml('a = 1\n[b]\nc = "é"', "f") == {"a": 1, "b": {"c": "é"}}
    assert parse_toml('a = "é"'.encode(), "f") == {"a": "é"}
