"""What the profile layer refuses or bounds since the review of the profile
layer (findings 2, 4, 8, 10, 11, 12a, 12d): regexes that cannot run in bounded
time, input a regex sees, TOML values JSON cannot carry, ids JSON needs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from profile_helpers import MINIMAL, run_cli

import wsctl
from wsctl.core.errors import InvalidInput
from wsctl.core.profile.codec import ClientCodec
from wsctl.core.profile.events import Telemetry
from wsctl.core.profile.loader import parse_profile
from wsctl.core.profile.regex_guard import LINE_LIMIT, VALUE_LIMIT, backtracking_problem
from wsctl.files.profiles import load_profile

PSU = (Path(wsctl.__file__).parent / "profiles" / "psu.toml").read_text()
#: the psu with the event regex it shipped with (quadratic on a line holding a line break)
OLD_REGEX = PSU.replace(r"'(?s)^#EVT (?P<name>\S+) ?(?P<payload>.*)\Z'", r"'^#EVT (?P<name>\S+) ?(?P<payload>.*)$'")


def _line(codec: ClientCodec, line: str):
    start = time.perf_counter()
    events = codec.feed(line, now=0.0)
    return events, time.perf_counter() - start


def test_the_shipped_text_regexes_read_a_line_with_a_break_in_one_pass():
    codec = ClientCodec(load_profile("psu"))
    (event,), seconds = _line(codec, "#EVT " + "a" * 100_000 + "\nb")  # the old regex: about a minute
    assert isinstance(event, Telemetry) and event.payload.endswith("\nb")
    assert seconds < 0.5


def test_a_profiles_own_regex_sees_a_bounded_head_of_the_line_and_the_payload_runs_on():
    assert OLD_REGEX != PSU
    codec = ClientCodec(parse_profile(OLD_REGEX, source="old.toml"))
    (event,), seconds = _line(codec, "#EVT " + "a" * 60_000 + "\nb")  # unbounded: 15 s
    assert isinstance(event, Telemetry)
    assert seconds < 0.5
    (meas,), _ = _line(codec, "#EVT MEAS " + "V=1 " * 5000)
    assert isinstance(meas, Telemetry) and meas.name == "MEAS" and meas.payload == "V=1 " * 5000


def test_a_failed_success_check_quotes_the_reply_cut_short_and_a_long_reply_is_not_matched():
    profile = load_profile("psu")
    codec = ClientCodec(profile)
    codec.call(profile.commands["identify"], {}, now=0.0)
    (reply,), _ = _line(codec, "x" * 1000)
    assert "characters)" in reply.failed_check and len(reply.failed_check) < 400
    codec.call(profile.commands["identify"], {}, now=0.0)
    (reply,), _ = _line(codec, "a,b,c," + "d" * LINE_LIMIT)
    assert (
        reply.failed_check
        == f"reply of {LINE_LIMIT + 6} characters is longer than the {LINE_LIMIT} a success regex is checked on"
    )


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("event_regex", r"^#EVT (?P<name>(a+)+)$", "framing.event_regex"),
        ("error_regex", r"^ERR (?P<code>(\d|\d\d)+)$", "framing.error_regex"),
    ],
)
def test_a_text_regex_that_backtracks_exponentially_is_refused(tmp_path, field, value, where):
    text = PSU.replace(PSU.split(f"{field} = ")[1].split("\n")[0], f"'{value}'")
    path = tmp_path / "evil.toml"
    path.write_text(text)
    code, _, err = run_cli(["profile", "validate", str(path)])
    assert code == 8 and f"{where}: " in err and "catastrophic backtracking" in err


def test_a_value_longer_than_a_pattern_is_checked_on_is_refused():
    ocpp = load_profile("ocpp16")
    param = next(p for c in ocpp.commands.values() for p in c.params if p.pattern == "^.{1,20}$")
    with pytest.raises(InvalidInput, match=f"more than the {VALUE_LIMIT}"):
        param.check("a" * (VALUE_LIMIT + 1))


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[a-c(|)+*?]{1,12}", fullmatch=True))
def test_every_pattern_the_guard_accepts_matches_hostile_input_quickly(pattern):
    import re

    try:
        compiled = re.compile(pattern)
    except re.error:
        return
    if backtracking_problem(pattern) is not None:
        return
    start = time.perf_counter()
    for hostile in ("a" * 28 + "!", "ab" * 14 + "!", "abc" * 9 + "!"):
        compiled.fullmatch(hostile)
    assert time.perf_counter() - start < 0.5, pattern


def _with(extra: str, *, framing: str = 'preset = "jsonrpc2"') -> str:
    return MINIMAL.format(id="t", title="t").replace('preset = "jsonrpc2"', framing) + extra


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (
            '[commands.ping.request]\nmethod = "{{name}}"\nsince = 2024-01-01T00:00:00Z\n',
            "commands.ping.request.since: TOML date/time 2024-01-01T00:00:00+00:00: not JSON",
        ),
        (
            '[commands.ping.params.m]\ntype = "string"\nenum = ["a", 2024-01-01]\n',
            "commands.ping.params.m.enum[1]: TOML date/time 2024-01-01",
        ),
        ('[commands.ping.params.m]\ntype = "string"\nenum = [1, 2]\n', "commands.ping.params.m.enum[0]: 1 is not of"),
        ("[sim.state]\nboot = 07:30:00\n", "sim.state.boot: TOML date/time 07:30:00"),
        ('[commands.other]\nname = "ping"\n', "duplicate command name"),
        (
            '[commands."Motor.Start"]\nname = "x"\n[commands.start]\nname = "Motor.Start"\n',
            "wire name of commands.start",
        ),
    ],
)
def test_values_json_cannot_carry_and_names_that_mean_two_commands_are_load_errors(extra, fragment):
    with pytest.raises(InvalidInput) as refused:
        parse_profile(_with(extra), source="t.toml")
    assert refused.value.exit_code == 8 and fragment in str(refused.value)


def test_a_json_profile_without_ids_is_refused():
    """No reply was ever matched: every call timed out."""
    with pytest.raises(InvalidInput, match="framing.id: a JSON profile needs ids"):
        parse_profile(_with("", framing='preset = "jsonrpc2"\nid = "none"'), source="t.toml")


def test_a_deeply_nested_array_on_the_command_line_is_invalid_input_not_an_internal_error():
    ocpp = load_profile("ocpp16")
    param = ocpp.commands["get_configuration"].param("key")
    with pytest.raises(InvalidInput, match="is not a valid array"):
        param.parse("[" * 100_000)
