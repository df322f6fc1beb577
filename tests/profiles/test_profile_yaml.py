"""`profile export`'s YAML: whatever it writes, a YAML reader reads back as the
same JSON value, and strings a YAML 1.2 reader would take for something else are quoted."""

from __future__ import annotations

import json
import random

import pytest
import yaml

from wsctl.cli.profile.yaml_text import dumps

TRICKY = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "true",
    "False",
    "<<",
    "=",
    "1",
    "-1",
    "1.5",
    "1e3",
    "0x1F",
    "0o17",
    "1_000",
    "12:30",
    "2001-12-14",
    ".inf",
    "-.inf",
    ".NaN",
    "3.0.0",
    "2.0",
    "- item",
    "? key",
    ": x",
    "a: b",
    "a #b",
    "#c",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "'single'",
    '"double"',
    "%YAML",
    "@at",
    "`tick",
    "{x}",
    "[x]",
    "a,b",
    "trailing ",
    " leading",
    "multi\nline",
    "tab\there",
    "back\\slash",
    "$message.payload#/id",
    "#/components/x",
    "°C",
    "µs",
    "\u2028sep",
    "\x7f",
    "\x85",
    "\ufeff",
    "snow ☃",
    "emoji 😀",
    "Sec-WebSocket-Protocol",
    "x-unit",
    "^VOLT -?\\d+(\\.\\d+)?$",
    "{{params.speed}}",
    "/rpc",
    "mm/s",
    "%",
    "ocpp1.6",
    "*IDN?",
]


@pytest.mark.parametrize("text", TRICKY)
def test_strings_come_back_as_the_same_string(text):
    assert yaml.safe_load(dumps({"k": text, text: [text]})) == {"k": text, text: [text]}


@pytest.mark.parametrize("value", [0, -7, 10**20, 1.5, -0.25, 1e20, 1e-7, 3.0, True, False, None])
def test_scalars(value):
    assert yaml.safe_load(dumps([value])) == [value]


def test_nan_and_infinity():
    back = yaml.safe_load(dumps([float("inf"), float("-inf"), float("nan")]))
    assert back[:2] == [float("inf"), float("-inf")] and back[2] != back[2]


def test_nesting_and_empty_containers():
    value = {
        "a": [],
        "b": {},
        "c": [[1, [2, []]], {"d": [{"e": {}}]}, [{}]],
        "f": [{"g": 1, "h": [1, 2]}, {"i": {"j": "k"}}],
    }
    text = dumps(value)
    assert yaml.safe_load(text) == value
    assert text.startswith("a: []\nb: {}\nc:\n- - 1\n")  # block style, not one JSON line


def scalar(text):
    return dumps([text]).removeprefix("- ").rstrip("\n")


def test_plain_strings_stay_plain_where_safe():
    assert scalar("conveyor.v1") == "conveyor.v1" and scalar("/rpc") == "/rpc" and scalar("°C") == "°C"
    assert scalar("yes") == "'yes'" and scalar("1_000") == "'1_000'"


@pytest.mark.parametrize("text", ["0o17", "-0o7", "+0o0"])
def test_yaml_1_2_octals_are_quoted(text):
    # PyYAML (YAML 1.1) alone would write these plain; a YAML 1.2 reader takes them for numbers
    assert scalar(text) == f"'{text}'"


def test_a_shared_object_is_written_out_not_aliased():
    shared = {"type": "string"}
    text = dumps({"a": shared, "b": [shared, shared]})
    assert "&" not in text and "*" not in text
    assert yaml.safe_load(text) == {"a": shared, "b": [shared, shared]}


def test_random_json_round_trips():
    rng = random.Random(1234)
    alphabet = "ab :#-?{}[],&*!|>'\"%@`\\\n\t yes0.1~°\u2028"

    def make(depth):
        kind = rng.randrange(8 if depth < 4 else 5)
        if kind == 0:
            return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
        if kind == 1:
            return rng.randint(-(10**6), 10**6)
        if kind == 2:
            return rng.uniform(-1e6, 1e6)
        if kind == 3:
            return rng.choice([True, False, None])
        if kind == 4:
            return rng.choice(TRICKY)
        if kind in (5, 6):
            return {
                str(make(0)) if rng.random() < 0.5 else rng.choice(TRICKY): make(depth + 1)
                for _ in range(rng.randrange(4))
            }
        return [make(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(300):
        value = {"root": make(0)}
        value = json.loads(json.dumps(value))  # only JSON values (string keys)
        assert yaml.safe_load(dumps(value)) == value, dumps(value)


def test_rejects_non_json_values():
    with pytest.raises(TypeError):
        dumps({"k": object()})
    with pytest.raises(TypeError):
        dumps({1: "int key"})


def test_keys_longer_than_yamls_implicit_key_limit():
    value = {"k" * 1100: [1, {"a": "b"}], "q" * 1200: "v", "e" * 1100: {}}
    assert yaml.safe_load(dumps(value)) == value
