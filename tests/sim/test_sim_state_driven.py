"""core/sim.py, sans I/O: periods read from the state start over when the state
changes them, `when` gates the timer, answers to the device's own calls set
state by the first matching case (issue 11)."""

from __future__ import annotations

import random

from wsctl.core.profile.device_side import DeviceCodec
from wsctl.core.profile.loader import parse_profile
from wsctl.core.sim import Emit, Sim

T0 = 1_700_000_000.0

PROFILE = """\
format = "wsctl-profile/1"
[profile]
id = "t"
[framing]
preset = "ocpp-j"
[commands.set]
name = "Set"
[commands.set.params.value]
type = "string"
[events.boot]
name = "BootNotification"
kind = "request"
reply = {}
[events.beat]
name = "Heartbeat"
kind = "request"
reply = {}
[sim]
on_connect_set = { up = false }
[sim.state]
up = false
period = "100"
retry = 0
[sim.commands.set]
set = { period = "{{params.value}}" }
[[sim.responses.boot]]
when = { "/status" = "Accepted" }
set = { up = true, period = "{{payload.interval|string}}" }
then = ["emit:beat"]
[[sim.responses.boot]]
set = { up = false, retry = "{{payload.interval}}" }
[sim.telemetry.boot]
every = "{{state.retry}}"
when = { up = false }
[sim.telemetry.beat]
every = "{{state.period}}"
when = { up = true }
"""


def _names(emits) -> list[str]:
    return [e.event.name for e in emits]


def test_periods_follow_the_state_and_when_gates_the_timer():
    profile = parse_profile(PROFILE)
    sim = Sim(profile, rng=random.Random(1), now=T0)
    assert sim.next_due() == T0 + 100  # boot: retry 0, off; beat: every 100 s (gated: not up)
    assert _names(sim.tick(T0 + 100)) == []  # not up yet: the heartbeat timer sends nothing
    boot = profile.events["boot"]
    assert sim.answered(boot, {"status": "Rejected", "interval": 5}, True, T0 + 101) == []
    assert sim.state["retry"] == 5 and sim.next_due() == T0 + 106  # the retry starts from the answer
    assert _names(sim.tick(T0 + 106)) == ["BootNotification"]
    actions = sim.answered(boot, {"status": "Accepted", "interval": 2}, True, T0 + 107)
    assert [type(a) for a in actions] == [Emit] and sim.state["up"] is True
    assert sim.next_due() == T0 + 109  # heartbeat: the answered interval, from the answer
    assert _names(sim.tick(T0 + 109)) == ["Heartbeat"]


def test_a_command_changing_the_period_restarts_it_and_a_bad_value_stops_it():
    profile = parse_profile(PROFILE)
    sim = Sim(profile, rng=random.Random(1), now=T0)
    sim.state["up"] = True
    codec = DeviceCodec(profile)
    request = codec.parse('[2,"1","Set",{"value":"7"}]')
    sim.handle(request, "engineer", T0 + 50)
    assert sim.next_due() == T0 + 57
    sim.handle(codec.parse('[2,"2","Set",{"value":"soon"}]'), "engineer", T0 + 60)
    assert sim.next_due() is None  # neither timer runs: "soon" is no period, retry is 0
    sim.on_connect(T0 + 61)
    assert sim.state["up"] is False
