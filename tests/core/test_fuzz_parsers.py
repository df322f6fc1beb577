"""Property-based fuzzing of the parsers of files from elsewhere: profiles,
inventories, the known-devices file.  Whatever the file holds, the parser
returns its result or raises `InvalidInput` (exit 8, one line naming the
file) — never another exception, which the CLI would report as "internal
error".  Crashing inputs hypothesis found are kept as explicit examples.

Documents are built as data (shipped profiles mutated at random places, or
random tables) and written as TOML text by `toml_text`, so the parsers see
what a file would give them.  Bounded for CI: fixed example counts,
derandomized, no example database.
"""

from __future__ import annotations

import io
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wsctl.cli.support.errors import report
from wsctl.core import known_devices as kd
from wsctl.core.errors import InvalidInput
from wsctl.core.exit_table import ExitCode
from wsctl.core.inventory import parse_inventory
from wsctl.core.profile.loader import parse_profile

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _key(text: str) -> str:
    return _string(text)


def _string(text: str) -> str:
    # \U escapes for everything outside printable ASCII: valid TOML for every scalar value
    body = "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
    return f'"{body}"'


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def toml_text(doc: dict) -> str:
    """``doc`` as a TOML document (inline tables below the top level)."""
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in doc.items())


def test_toml_text_round_trips():
    doc = {"a": {"b": [1, 2.5, 'é\n"\\\U0001f600'], "c": {}}, "t": True, "n": -3}
    assert tomllib.loads(toml_text(doc)) == doc


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.just(10**400)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "",
            "{{id}}",
            "{{params.x}}",
            "/id",
            "(",
            "json",
            "text",
            "jsonrpc2",
            "ocpp-j",
            "text-lockstep",
            "*",
            "operator+",
            "emit:x",
            "close",
        ]
    )
)
toml_values = st.recursive(
    scalars.filter(lambda v: v is not None),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated(draw, base: dict) -> dict:
    """``base`` with a few random places replaced, deleted or added to, mostly
    deep inside (a broken top level is refused before anything interesting)."""
    import copy

    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        node = doc
        while True:
            keys = (
                [k for k in node if node is not doc or k != "format"]
                if isinstance(node, dict)
                else list(range(len(node)))
            )
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.integers(0, 5)) > 0:
                node = child
                continue
            action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
            if action == "replace":
                node[key] = draw(toml_values)
            elif action == "delete":
                del node[key]
            elif isinstance(node, dict):
                node[draw(st.text(max_size=6))] = draw(toml_values)
            else:
                node.append(draw(toml_values))
            break
    return doc


SHIPPED = {
    name: tomllib.loads((REPO / "profiles" / f"{name}.toml").read_text())
    for name in ("conveyor", "ocpp16-charger", "psu")
}
MINIMAL = {
    "format": "wsctl-profile/1",
    "profile": {"id": "p"},
    "framing": {"preset": "jsonrpc2"},
    "commands": {"ping": {}},
}
profiles = st.sampled_from([MINIMAL, *SHIPPED.values()]).flatmap(mutated)


def _loads_or_refuses(parse, text):
    try:
        return parse(text)
    except InvalidInput as exc:
        # what the operator sees: the CLI's rendering of the error is one line
        shown = io.StringIO()
        assert report(exc, shown, as_json=False) == ExitCode.INVALID
        assert len(shown.getvalue().splitlines()) == 1 + (exc.hint is not None), shown.getvalue()
        return None


@FUZZ
@given(profiles)
@example({**MINIMAL, "framing": {"preset": "jsonrpc2", "errors": "oops"}})
@example({**MINIMAL, "framing": {"preset": "jsonrpc2", "errors": {"parse": "oops"}}})
@example({**MINIMAL, "\n\x1b[2J": 1})
def test_profile_parser_returns_or_refuses_in_one_line(doc):
    _loads_or_refuses(lambda text: parse_profile(text, source="fuzz.toml"), toml_text(doc))


@pytest.mark.parametrize(
    "doc, message",
    [
        (
            {**MINIMAL, "framing": {"preset": "jsonrpc2", "errors": "oops"}},
            "fuzz.toml: framing.errors: expected a table",
        ),
        (
            {**MINIMAL, "profile": {"id": "p", "timeout": math.nan}},
            "fuzz.toml: profile.timeout: expected a finite number, got nan",
        ),
        (
            {**MINIMAL, "commands": {"ping": {"timeout": math.inf}}},
            "fuzz.toml: commands.ping.timeout: expected a finite number, got inf",
        ),
        (
            {**MINIMAL, "commands": {"ping": {"timeout": 10**400}}},
            "fuzz.toml: commands.ping.timeout: expected a finite number, got 100000000000000000000...",
        ),
        (
            {**MINIMAL, "commands": {"ping": {"params": {"x": {"type": "integer", "minimum": -(10**400)}}}}},
            "fuzz.toml: commands.ping.params.x.minimum: expected a finite number, got -10000000000000000000...",
        ),
        (
            {**MINIMAL, "commands": {"ping": {"params": {"x": {"type": "number", "maximum": math.nan}}}}},
            "fuzz.toml: commands.ping.params.x.maximum: expected a finite number, got nan",
        ),
        (
            {**MINIMAL, "sim": {"faults": {"reply_delay": math.nan}}},
            "fuzz.toml: sim.faults.reply_delay: expected a finite number, got nan",
        ),
        (
            {
                **SHIPPED["conveyor"],
                "sim": {**SHIPPED["conveyor"]["sim"], "telemetry": {"t": {"event": "telemetry", "every": math.nan}}},
            },
            "fuzz.toml: sim.telemetry.t.every: expected a finite number, got nan",
        ),
    ],
)
def test_profile_crash_classes_are_one_line(doc, message):
    with pytest.raises(InvalidInput) as info:
        parse_profile(toml_text(doc), source="fuzz.toml")
    assert info.value.message.startswith(message)


def test_a_control_character_in_a_field_name_is_shown_escaped_on_one_line():
    shown = io.StringIO()
    with pytest.raises(InvalidInput) as info:
        parse_profile(toml_text({**MINIMAL, "\n\x1b[2J": 1}), source="fuzz.toml")
    report(info.value, shown, as_json=False)
    assert (
        shown.getvalue()
        == "wsctl: error: fuzz.toml: \\n\\x1b[2J: unknown field (known: central, commands, events, format, framing, profile, sim, transport)\n"
    )


@FUZZ
@given(st.text(max_size=200))
@example("a = 1" + "0" * 5000)
def test_profile_parser_refuses_any_text_in_one_line(text):
    _loads_or_refuses(lambda t: parse_profile(t, source="fuzz.toml"), text)


INVENTORY = {
    "defaults": {"certs": "pki", "operator": "alice"},
    "devices": {
        "plc-17": {"url": "wss://10.0.0.17:8443/", "profile": "conveyor"},
        "plc-18": {"url": "wss://plc-18:8443/"},
    },
    "groups": {"line-1": ["plc-17", "plc-18"]},
}


@FUZZ
@given(mutated(INVENTORY))
@example({"devices": 5})
@example({"defaults": 5})
@example({"groups": 5})
@example({"groups": {"line-1": []}})
def test_inventory_parser_returns_or_refuses_in_one_line(doc):
    inventory = _loads_or_refuses(lambda text: parse_inventory(text, source="inv.toml"), toml_text(doc))
    if inventory is not None:
        for group, members in inventory.groups.items():
            assert members, f"group {group} resolves to no device"
            assert inventory.resolve(group)


@pytest.mark.parametrize(
    "text, message",
    [
        ("devices = 5", "inv.toml: devices: expected a table of devices"),
        ("defaults = 5", "inv.toml: defaults: expected a table"),
        ("groups = 5", "inv.toml: groups: expected a table of groups"),
        ('[devices.a]\nurl = "wss://a/"\n[groups]\ng = []', "inv.toml: groups.g: an empty group"),
        ("[defaults]\npin = 1" + "0" * 5000, "inv.toml: not valid TOML: Exceeds the limit (4300 digits)"),
    ],
)
def test_inventory_crash_classes_are_one_line(text, message):
    with pytest.raises(InvalidInput) as info:
        parse_inventory(text, source="inv.toml")
    assert info.value.message.startswith(message)


known_lines = st.one_of(
    st.sampled_from(
        [
            "# comment",
            "",
            "plc:443 sha256:" + "ab" * 32,
            "plc:443 sha256:" + "cd" * 32 + " trailing words",
            "[fd00::1]:8443 " + "ef" * 32,
        ]
    ),
    st.text(max_size=40),
)


@FUZZ
@given(st.lists(known_lines, max_size=6).map("\n".join).map(str.encode) | st.binary(max_size=60))
@example(b"plc:443 sha256:" + b"ab" * 32 + b" \xff\xfe")
def test_known_devices_parser_returns_or_refuses_in_one_line(data):
    known = _loads_or_refuses(lambda d: kd.parse(d, source="known_devices"), data)
    if known is not None:
        assert kd.parse(kd.serialize(known)).entries == known.entries
