"""The simulator's format for devices that act on their central system
(issue 11): `[sim.responses]`, `checks`, `lists`, state paths, periods read
from the state, `when` — each mistake is one line naming the file and field."""

from __future__ import annotations

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.loader import parse_profile

BASE = """\
format = "wsctl-profile/1"
[profile]
id = "t"
[framing]
preset = "ocpp-j"
[commands.get]
name = "Get"
[commands.get.params.key]
type = "array"
required = false
[commands.set]
name = "Set"
[commands.set.params.key]
type = "string"
[events.boot]
name = "BootNotification"
kind = "request"
reply = {}
[events.beat]
name = "Heartbeat"
kind = "request"
reply = {}
[sim.state]
registered = false
config = { A = { value = "1", readonly = false } }
"""


def error_of(extra: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_profile(BASE + extra, source="dev.toml")
    message = str(exc.value)
    assert "\n" not in message and exc.value.exit_code == 8
    return message


def test_a_complete_sim_section_loads():
    profile = parse_profile(
        BASE
        + """
[[sim.responses.boot]]
when = { "/status" = "Accepted" }
set = { registered = true, "config.A.value" = "{{payload.interval|string}}" }
then = ["emit:beat"]
[sim.commands.set]
set = { "config.{{params.key}}.value" = "x" }
[[sim.commands.set.checks]]
require = { "config.{{params.key}}.readonly" = false }
reply = { status = "Rejected" }
[sim.commands.get.lists.items]
state = "config"
names = "key"
item = { key = "{{key}}", value = "{{item.value}}" }
unknown = "unknownKey"
[sim.telemetry.beat]
every = "{{state.config.A.value}}"
when = { registered = true }
"""
    )
    sim = profile.sim
    assert sim.responses["boot"][0].when == (("/status", "Accepted"),)
    assert sim.telemetry[0].every_from == "{{state.config.A.value}}" and sim.telemetry[0].every == 0
    assert sim.commands["get"].lists[0].unknown == "unknownKey"


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            "[sim.responses.nope]\n",
            "dev.toml: sim.responses.nope: no device request 'nope' in [events] (requests: boot, beat)",
        ),
        (
            '[sim.responses.boot]\nwhen = { status = "Accepted" }\n',
            "dev.toml: sim.responses.boot.when.status: not a JSON pointer",
        ),
        ("[sim.responses.boot]\nset = { missing = 1 }\n", "dev.toml: sim.responses.boot.set.missing: not in sim.state"),
        ('[sim.responses.boot]\nset = { registered = "{{params.x}}" }\n', "there is no parameter 'x'"),
        (
            '[[sim.responses.boot]]\nthen = ["emit:nope"]\n',
            "dev.toml: sim.responses.boot[0].then: bad step 'emit:nope'",
        ),
        (
            '[sim.commands.set]\nset = { "config..value" = 1 }\n',
            "dev.toml: sim.commands.set.set.config..value: not a state path",
        ),
        ('[sim.commands.set]\nset = { "config.{{params.nokey}}" = 1 }\n', "there is no parameter 'nokey'"),
        ("[sim.commands.set]\nchecks = 3\n", "dev.toml: sim.commands.set.checks: expected a list of tables"),
        ('[[sim.commands.set.checks]]\nmessage = "x"\n', "dev.toml: sim.commands.set.checks[0].require: missing"),
        ('[sim.commands.get.lists.items]\nstate = "config"\n', "dev.toml: sim.commands.get.lists.items.item: missing"),
        (
            '[sim.commands.get.lists.items]\nstate = "nowhere"\nitem = {}\n',
            "dev.toml: sim.commands.get.lists.items.state: not in sim.state",
        ),
        (
            '[sim.commands.get.lists.items]\nstate = "config"\nnames = "k"\nitem = {}\n',
            "dev.toml: sim.commands.get.lists.items.names: no parameter 'k'",
        ),
        ('[sim.commands.get.lists.items]\nstate = "config"\nitem = "{{bogus}}"\n', "template names {{bogus}}"),
        (
            '[sim.telemetry.beat]\nevery = "10"\n',
            "dev.toml: sim.telemetry.beat.every: seconds, or a template read from the state",
        ),
        ('[sim.telemetry.beat]\nevery = "{{state.none}}"\n', "sim.state has no 'none'"),
        ("[sim.telemetry.beat]\nwhen = { none = 1 }\n", "dev.toml: sim.telemetry.beat.when.none: not in sim.state"),
        ("[sim]\non_connect_set = { none = 1 }\n", "dev.toml: sim.on_connect_set.none: not in sim.state"),
        ('[sim.commands.set]\nthen = ["emit:{{params.nope}}"]\n', "there is no parameter 'nope'"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(extra, expected):
    assert expected in error_of(extra)
