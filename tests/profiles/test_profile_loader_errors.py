"""Broken profiles: each mistake gets one line naming the file and the field."""

from __future__ import annotations

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.loader import parse_profile

HEAD = 'format = "wsctl-profile/1"\n[profile]\nid = "t"\n'
RPC = HEAD + '[framing]\npreset = "jsonrpc2"\n'


def error_of(text: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_profile(text, source="dev.toml")
    assert exc.value.exit_code == 8
    message = str(exc.value)
    assert "\n" not in message  # one line, for a terminal and for logs
    return message


def test_toml_syntax_error_names_file_and_line():
    message = error_of(HEAD + "[commands.a\nname = 1\n")
    assert message.startswith("dev.toml: not valid TOML:") and "line 4" in message


def test_unknown_field_lists_the_known_ones():
    message = error_of(RPC + "[commands.a]\ntimeuot = 5\n")
    assert message.startswith("dev.toml: commands.a.timeuot: unknown field (known: ")
    assert "timeout" in message
    assert error_of(RPC + "[commands.a]\n[extra]\n").startswith("dev.toml: extra: unknown field")


def test_no_preset_and_no_result_rule():
    text = (
        HEAD
        + """[framing]
request = { op = "{{name}}", id = "{{id}}" }
[[framing.inbound]]
kind = "event"
match = { "/event" = { exists = true } }
name = "/event"
[commands.a]
"""
    )
    assert error_of(text) == "dev.toml: framing.inbound: no rule of kind 'result': replies could never be recognised"


def test_no_preset_and_no_request_template():
    assert error_of(HEAD + "[commands.a]\n").startswith("dev.toml: framing.request: missing")


def test_result_rule_without_id_pointer():
    text = (
        HEAD
        + '[framing]\nrequest = { id = "{{id}}" }\n[[framing.inbound]]\nkind = "result"\nmatch = { "/ok" = true }\n[commands.a]\n'
    )
    assert error_of(text) == "dev.toml: framing.inbound[0].id: a result rule needs the pointer to the id"


def test_unknown_preset():
    assert error_of(HEAD + '[framing]\npreset = "modbus"\n[commands.a]\n').startswith(
        "dev.toml: framing.preset: unknown preset 'modbus' (known: jsonrpc2, ocpp-j, text-lockstep)"
    )


def test_template_naming_an_undefined_parameter():
    text = (
        HEAD
        + '[framing]\npreset = "text-lockstep"\n[commands.volt]\nrequest = "VOLT {{params.volts}}"\n[commands.volt.params.value]\ntype = "number"\n'
    )
    assert (
        error_of(text)
        == "dev.toml: commands.volt.request: template names {{params.volts}}, but there is no parameter 'volts'"
    )


def test_duplicate_command_names():
    text = RPC + '[commands.go]\nname = "start"\n[commands.start]\n'
    assert error_of(text) == "dev.toml: commands.start.name: duplicate command name 'start' (also commands.go)"


def test_wrong_param_type_and_out_of_range_default():
    assert error_of(RPC + '[commands.a.params.speed]\ntype = "int"\n').startswith(
        "dev.toml: commands.a.params.speed.type: expected one of string, integer"
    )
    message = error_of(
        RPC + '[commands.a.params.speed]\ntype = "integer"\nunit = "mm/s"\nmaximum = 3000\ndefault = 4000\n'
    )
    assert message == "dev.toml: commands.a.params.speed.default: speed: 4000 mm/s is above the maximum 3000 mm/s"
    assert error_of(RPC + '[commands.a.params.speed]\ntype = "integer"\ndefault = "fast"\n').endswith(
        'default: speed: expected integer, got "fast"'
    )
    assert (
        error_of(RPC + '[commands.a.params.speed]\ntype = "integer"\nmaximum = "3000"\n')
        == "dev.toml: commands.a.params.speed.maximum: expected a number"
    )


def test_unknown_and_missing_format_version():
    message = error_of('format = "wsctl-profile/2"\n[profile]\nid = "t"\n')
    assert message == "dev.toml: format: expected 'wsctl-profile/1', got 'wsctl-profile/2'"
    assert error_of('[profile]\nid = "t"\n').startswith("dev.toml: format: missing")


def test_bad_role_and_sim_field_not_in_state():
    assert error_of(RPC + '[commands.a]\nroles = ["operater+"]\n').startswith("dev.toml: commands.a.roles: ")
    text = RPC + "[commands.a]\n[sim.state]\nspeed = 0\n[sim.commands.a]\nset = { sped = 1 }\n"
    assert error_of(text).startswith("dev.toml: sim.commands.a.set.sped: not in sim.state")


@pytest.mark.parametrize("name", ["conveyor", "ocpp16-charger", "psu"])
def test_each_shipped_file_breaks_loudly_when_a_field_is_misspelt(name):
    # the shipped files are the templates people copy: a typo in a copy must fail
    from profile_helpers import REPO

    text = (REPO / "profiles" / f"{name}.toml").read_text().replace("\ndangerous = true", "\ndangerus = true", 1)
    assert "dangerus" in text
    assert "dangerus: unknown field" in error_of(text)


def test_a_timeout_past_a_day_is_refused_every_wait_is_bounded():
    assert "commands.a.timeout: must be between 0.001 and 86400" in error_of(RPC + "[commands.a]\ntimeout = 1e300\n")
    message = error_of(HEAD.replace('id = "t"\n', 'id = "t"\ntimeout = 100000\n') + '[framing]\npreset = "jsonrpc2"\n')
    assert "profile.timeout: must be between 0.001 and 86400" in message
