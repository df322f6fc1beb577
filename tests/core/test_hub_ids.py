"""Device ids (wsctl.core.hub.ids): what may name a device in a hub path, the
registry, a recording file name and an MQTT topic level."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.ids import MAX_LENGTH, check_device_id, check_group_name

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)
SAFE = re.compile(r"[A-Za-z0-9._:][A-Za-z0-9._:-]{0,63}")


@pytest.mark.parametrize("text", ["CP-17", "a", "sensor.4", "urn:dev:42", "x" * MAX_LENGTH, "_under", "..."])
def test_valid_ids_come_back_unchanged(text):
    assert check_device_id(text) == text


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty device id"),
        ("a/b", "contains '/'"),
        ("../etc", "contains '/'"),
        ("..", "path component"),
        (".", "path component"),
        ("a+b", "contains '+'"),
        ("a#b", "contains '#'"),
        ("a b", "contains ' '"),
        ("a\x00b", "contains '\\x00'"),
        ("a\nb", "contains '\\n'"),
        ("é", "contains 'é'"),
        ("-rf", "starts with '-'"),
        ("x" * (MAX_LENGTH + 1), "more than 64"),
    ],
)
def test_invalid_ids_are_refused_naming_the_rule(text, says):
    with pytest.raises(InvalidInput, match=re.escape(says)):
        check_device_id(text)


def test_a_huge_id_is_not_echoed_whole():
    with pytest.raises(InvalidInput) as info:
        check_device_id("A" * 1_000_000)
    assert len(str(info.value)) < 200


def test_group_names_follow_the_same_rule_and_say_so():
    assert check_group_name("line-1") == "line-1"
    with pytest.raises(InvalidInput, match="group name 'a,b' contains ','"):
        check_group_name("a,b")


def test_non_text_is_refused():
    with pytest.raises(InvalidInput, match="must be text"):
        check_device_id(17)  # type: ignore[arg-type]


@FUZZ
@given(st.text(max_size=80))
@example("a\x00")
@example("-")
@example("CP/17")
def test_any_text_is_accepted_exactly_when_it_is_safe(text):
    safe = bool(SAFE.fullmatch(text)) and text not in (".", "..")
    try:
        assert check_device_id(text) == text
    except InvalidInput as exc:
        assert not safe, text
        assert "\n" not in str(exc) and str(exc).isprintable()
    else:
        assert safe, text
