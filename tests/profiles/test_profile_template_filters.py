"""`{{x|string}}`: a number in the state written as text (OCPP 1.6 carries meter
values as strings); unknown filters and filters in request templates (which the
simulator reads requests back by) are load errors naming file and field."""

from __future__ import annotations

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING
from wsctl.core.profile.loader import parse_profile
from wsctl.core.profile.template import TemplateError, compile_template, placeholders, render, render_text

CONTEXT = {"state": {"energy_wh": 30, "power": 11000.5, "on": True, "tags": ["a"]}}


def test_string_filter_turns_values_into_text():
    template = {
        "value": "{{state.energy_wh|string}}",
        "raw": "{{state.energy_wh}}",
        "p": "{{ state.power | string }}",
        "on": "{{state.on|string}}",
        "tags": "{{state.tags|string}}",
        "gone": "{{params.x|string}}",
    }
    want = {"value": "30", "raw": 30, "p": "11000.5", "on": "true", "tags": '["a"]'}
    assert render(template, CONTEXT, strict=False) == want
    assert compile_template(template)(CONTEXT) == want  # the prepared form agrees
    assert render_text("E={{state.energy_wh|string}} Wh", CONTEXT) == "E=30 Wh"
    assert render("{{state.nope|string}}", CONTEXT, strict=False) is MISSING
    assert list(placeholders(template)) == [
        "state.energy_wh",
        "state.energy_wh",
        "state.power",
        "state.on",
        "state.tags",
        "params.x",
    ]
    with pytest.raises(TemplateError, match="unknown template filter 'upper'"):
        render("{{state.energy_wh|upper}}", CONTEXT)


SIM = """format = "wsctl-profile/1"
[profile]
id = "t"
[framing]
preset = "jsonrpc2"
[commands.read]
[events.meter]
[sim.state]
energy = 0
[sim.commands.read]
reply = { energy = "{{state.energy|string}}" }
[sim.telemetry.meter]
payload = { value = "{{state.energy|string}}" }
"""


def error_of(text: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_profile(text, source="x.toml")
    return str(exc.value)


def test_filters_load_in_sim_templates():
    profile = parse_profile(SIM, source="x.toml")
    assert profile.sim.commands["read"].reply == {"energy": "{{state.energy|string}}"}


def test_unknown_filter_is_refused_naming_file_and_field():
    assert error_of(SIM.replace('energy|string}}" }\n[sim.telemetry', 'energy|str}}" }\n[sim.telemetry')) == (
        "x.toml: sim.commands.read.reply: template names {{state.energy|str}}: unknown filter (known: string)"
    )
    assert error_of(SIM.replace('value = "{{state.energy|string}}"', 'value = "{{state.energy|upper}}"')).startswith(
        "x.toml: sim.telemetry.meter.payload: template names {{state.energy|upper}}: unknown filter"
    )


def test_filter_in_a_request_template_is_refused():
    text = SIM.replace(
        "[commands.read]\n",
        '[commands.read]\nrequest = { id = "{{id}}", method = "{{name}}", n = "{{params.n|string}}" }\n'
        '[commands.read.params.n]\ntype = "integer"\n',
    )
    assert error_of(text).startswith(
        "x.toml: commands.read.request: template uses the filter |string: filters are for [sim]"
    )


def test_require_message_templates_are_checked_too():
    text = SIM.replace(
        "[sim.commands.read]\n",
        '[sim.commands.read]\nrequire = { energy = 0 }\nrequire_message = "at {{state.energy|hex}}"\n',
    )
    assert "sim.commands.read.require_message: template names {{state.energy|hex}}: unknown filter" in error_of(text)
