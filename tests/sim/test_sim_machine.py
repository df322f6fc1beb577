"""The simulator state machine without sockets: authorization, require, effects,
reply templates, then-steps, telemetry updates and faults with a seeded rng."""

from __future__ import annotations

import json
import random

import pytest
from sim_profiles import JSONRPC, OCPP, TEXT, load

from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Request
from wsctl.core.profile.model import Faults
from wsctl.core.sim import Audit, Close, Drop, Emit, Reply, Sim, with_overrides

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def make(text=JSONRPC, seed=1, **kw):
    profile = load(text)
    return Sim(profile, rng=random.Random(seed), now=T0, **kw), DeviceCodec(profile)


def call(sim, codec, method, params=None, rid=1, role="engineer", now=T0):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    req = codec.parse(json.dumps(msg))
    assert isinstance(req, Request), req
    codec.finish(rid)
    return sim.handle(req, role, now)


def reply_of(actions):
    return json.loads(next(a for a in actions if isinstance(a, Reply)).wire)


def audit_of(actions):
    assert isinstance(actions[0], Audit)
    return actions[0]


def test_effects_and_reply_templates_across_commands():
    sim, codec = make()
    started = call(sim, codec, "belt.start")
    assert reply_of(started)["result"] == {"state": "running", "speed": 1000, "at": "2023-11-14T22:13:20Z"}
    changed = call(sim, codec, "belt.set_speed", {"speed": 1200}, rid=2)
    assert reply_of(changed)["result"] == {"speed": 1200, "ramp": 1.5, "id": 2, "name": "belt.set_speed"}
    assert sim.state["setpoint"] == 1200 and sim.state["speed"] == 1200
    assert audit_of(changed) == Audit("set_speed", {"speed": 1200, "ramp": 1.5}, "ok", None, 2)
    assert reply_of(call(sim, codec, "belt.status", rid=3))["result"] == {"state": "running", "speed": 1200, "count": 0}


def test_require_refuses_with_the_device_error_and_no_effect():
    sim, codec = make()
    refused = call(sim, codec, "belt.set_speed", {"speed": 5})
    assert reply_of(refused)["error"] == {"code": -32000, "message": "Device error: not running"}
    assert audit_of(refused).result == "error" and sim.state["speed"] == 0
    call(sim, codec, "belt.start", rid=2)
    again = call(sim, codec, "belt.start", rid=3)  # require is a list of allowed states
    assert reply_of(again)["error"]["message"] == "Device error: belt is running: cannot start"


def test_authorization_comes_first_and_is_audited_as_denied():
    sim, codec = make()
    denied = call(sim, codec, "belt.start", role="observer")
    assert reply_of(denied)["error"]["code"] == -32001
    audit = audit_of(denied)
    assert audit.result == "denied" and "observer" in audit.detail and sim.state["state"] == "stopped"
    assert reply_of(call(sim, codec, "belt.status", role="observer", rid=2))["result"]["state"] == "stopped"
    # no certificate role at all: nothing is allowed, not even "*" commands
    assert audit_of(call(sim, codec, "belt.status", role=None, rid=3)).result == "denied"


def test_command_without_a_sim_section_gets_an_empty_result():
    sim, codec = make()
    assert reply_of(call(sim, codec, "belt.ping"))["result"] == {}


def test_then_steps_emit_and_close():
    sim, codec = make()
    stopped = call(sim, codec, "belt.stop")
    kinds = [type(a) for a in stopped]
    assert kinds == [Audit, Reply, Emit]
    emit = stopped[2]
    # the emitted payload is the telemetry entry's template for that event
    assert json.loads(emit.wire) == {
        "jsonrpc": "2.0",
        "method": "belt.telemetry",
        "params": {"speed": 0, "temp": 35.0, "count": 0, "load": 40.0},
    }
    quit_ = call(sim, codec, "belt.quit", rid=2)
    assert isinstance(quit_[-1], Close) and reply_of(quit_)["result"] == {"bye": True}


def test_telemetry_periods_and_updates_are_deterministic_with_a_seed():
    sim, _ = make(seed=7)
    assert sim.tick(T0 + 0.5) == []
    assert sim.next_due() == T0 + 1.0
    first = sim.tick(T0 + 1.0)
    assert [e.payload.get("count") for e in first] == [1]
    seen = [sim.tick(T0 + t) for t in (2.0, 3.0, 4.0, 5.0)]
    # at 5 s both entries are due, each on its own period
    assert [len(s) for s in seen] == [1, 1, 1, 2] and seen[-1][1].payload == {"slow": True}
    assert sim.state["count"] == 5
    temps = [sim.state["temp"]]
    loads = []
    for t in range(6, 60):
        emits = sim.tick(T0 + t)
        assert len(emits) == (2 if t % 5 == 0 else 1)
        emit = emits[0]
        temps.append(emit.payload["temp"])
        loads.append(emit.payload["load"])
    # random walk clamped to [34.6, 35.4]; fluctuation within 10 % of the initial 40
    assert all(34.6 <= v <= 35.4 for v in temps) and len(set(temps)) > 5
    assert all(36.0 <= v <= 44.0 for v in loads) and len(set(loads)) > 5
    again, _ = make(seed=7)
    for t in range(1, 60):
        again.tick(T0 + t)
    assert again.state == sim.state


def test_a_long_pause_does_not_burst_stale_telemetry():
    sim, _ = make()
    assert len(sim.tick(T0 + 100.0)) == 2
    assert sim.tick(T0 + 100.5) == [] and sim.next_due() == T0 + 101.0


def test_interval_scale_speeds_telemetry_up():
    sim, _ = make(interval_scale=0.1)
    assert sim.tick(T0 + 0.1) and sim.next_due() == pytest.approx(T0 + 0.2)


def test_faults_with_a_seeded_rng():
    faults = with_overrides(Faults(), reply_delay=0.25, drop=0.3, error=0.2)
    sim, codec = make(seed=3, faults=faults)
    outcomes = []
    for rid in range(1, 201):
        actions = call(sim, codec, "belt.status", rid=rid)
        second = actions[1]
        if isinstance(second, Drop):
            outcomes.append("drop")
            assert second.delay == 0.25 and second.request_id == rid
        elif "error" in json.loads(second.wire):
            outcomes.append("error")
            assert json.loads(second.wire)["error"]["code"] == -32000 and actions[0].result == "error"
        else:
            outcomes.append("ok")
            assert second.delay == 0.25
    # ~20 % errors, then ~30 % of the rest dropped
    assert 25 <= outcomes.count("error") <= 55 and 35 <= outcomes.count("drop") <= 70
    sim2, codec2 = make(seed=3, faults=faults)
    replay = []
    for rid in range(1, 201):
        second = call(sim2, codec2, "belt.status", rid=rid)[1]
        replay.append("drop" if isinstance(second, Drop) else ("error" if "error" in json.loads(second.wire) else "ok"))
    assert replay == outcomes


def test_dropped_reply_still_takes_effect():
    sim, codec = make(faults=Faults(drop_reply_probability=1.0))
    actions = call(sim, codec, "belt.start")
    assert isinstance(actions[1], Drop) and sim.state["state"] == "running" and "dropped" in actions[0].detail


def test_fault_overrides_are_checked():
    with pytest.raises(ValueError):
        with_overrides(Faults(), drop=1.5)
    assert with_overrides(Faults(reply_delay=1.0), error=0.5) == Faults(reply_delay=1.0, error_reply_probability=0.5)


def test_reject_audits_and_answers_bad_requests():
    sim, codec = make()
    bad = codec.parse('{"jsonrpc":"2.0","id":4,"method":"belt.set_speed","params":{"speed":-1}}')
    assert isinstance(bad, BadRequest)
    audit, reply = sim.reject(bad)
    assert audit.result == "invalid" and audit.command == "set_speed" and "minimum" in audit.detail
    assert json.loads(reply.wire)["error"]["code"] == -32602 and reply.request_id is None


# -- OCPP: device calls ----------------------------------------------------------------------


def test_ocpp_on_connect_and_then_emit_are_device_calls():
    sim, codec = make(OCPP)
    boot, status = sim.on_connect(T0)
    assert boot.wire is None and boot.payload == {"chargePointVendor": "ACME"}  # from the field defaults
    assert status.payload == {"connectorId": 1, "status": "Available"}
    req = codec.parse('[2,"a","RemoteStartTransaction",{"idTag":"TAG9"}]')
    actions = sim.handle(req, "operator", T0)
    assert json.loads(actions[1].wire) == [3, "a", {"status": "Accepted"}]
    assert sim.state == {"connector": "Charging", "tag": "TAG9"}
    emit = actions[2]
    assert isinstance(emit, Emit) and emit.payload["status"] == "Charging"
    refused = sim.handle(codec.parse('[2,"b","RemoteStartTransaction",{"idTag":"X"}]'), "operator", T0)
    assert json.loads(refused[1].wire) == [4, "b", "GenericError", "Device error: connector is Charging", {}]
    denied = sim.handle(codec.parse('[2,"c","Reset",{}]'), "operator", T0)
    assert json.loads(denied[1].wire)[2] == "SecurityError"


# -- text ------------------------------------------------------------------------------


def test_text_sim_replies_and_events():
    sim, codec = make(TEXT)
    actions = sim.handle(codec.parse("VOLT 12.5"), "engineer", T0)
    assert actions[1].wire == "OK 12.5"
    assert sim.handle(codec.parse("READ?"), "observer", T0)[1].wire == "VOLT 12.5"
    assert sim.handle(codec.parse("VOLT 1"), "observer", T0)[1].wire.startswith("ERR 403 not authorized: role observer")
    (emit,) = sim.tick(T0 + 2)
    assert emit.wire == '#EVT MEAS {"volt":12.5}'


ON_DEMAND = """
format = "wsctl-profile/1"
[profile]
id = "meter"
[framing]
preset = "jsonrpc2"
[commands.plug]
[events.boot]
[events.meter]
[sim.state]
plugged = false
energy = 0
[sim.commands.plug]
set = { plugged = true }
[sim.telemetry.boot]
every = 0
payload = { hello = true }
[sim.telemetry.meter]
every = 1
update_when = { plugged = true }
payload = { energy = "{{state.energy}}" }
[sim.telemetry.meter.update]
energy = { increment = 10 }
"""


def test_every_zero_is_only_emitted_on_demand_and_update_when_gates_updates():
    from wsctl.core.profile.loader import parse_profile

    sim = Sim(parse_profile(ON_DEMAND, source="meter.toml"), rng=random.Random(1), now=T0)
    codec = DeviceCodec(sim.profile)
    emitted = [e.event.key for t in range(1, 4) for e in sim.tick(T0 + t)]
    assert emitted == ["meter"] * 3  # boot never on a timer
    assert sim.state["energy"] == 0  # not plugged: no counting
    call(sim, codec, "plug", now=T0 + 3.5)
    sim.tick(T0 + 4)
    sim.tick(T0 + 5)
    assert sim.state["energy"] == 20


def test_every_between_zero_and_ten_ms_is_refused():
    from wsctl.core.errors import InvalidInput
    from wsctl.core.profile.loader import parse_profile

    with pytest.raises(InvalidInput, match="sim.telemetry.meter.every"):
        parse_profile(ON_DEMAND.replace("every = 1", "every = 0.001"), source="meter.toml")
    with pytest.raises(InvalidInput, match="update_when.nope: not in sim.state"):
        parse_profile(
            ON_DEMAND.replace("update_when = { plugged = true }", "update_when = { nope = 1 }"), source="meter.toml"
        )
