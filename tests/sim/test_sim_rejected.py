"""OCPP business failures: a command whose `require` fails answers with its
`require_reply` (a CALLRESULT {"status":"Rejected"}), not a CALLERROR, changes
nothing and is audited as "rejected"; through the shipped charger profile a
client's `success` check turns it into a DeviceError."""

from __future__ import annotations

import functools
import json
import random

import pytest
import trio
from sim_profiles import OCPP, load

from wsctl.core.errors import DeviceError, InvalidInput
from wsctl.core.profile.device_side import DeviceCodec, Request
from wsctl.core.sim import Audit, Emit, Reply, Sim
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device, serve
from wsctl.net.simulate import Simulator

T0 = 1_700_000_000.0

REJECTING = OCPP.replace(
    'require_message = "connector is {{state.connector}}"\n',
    'require_message = "connector is {{state.connector}}"\nrequire_reply = { status = "Rejected", tag = "{{params.id_tag}}" }\n',
)


def handle(sim, codec, rid, action, payload):
    req = codec.parse(json.dumps([2, rid, action, payload]))
    assert isinstance(req, Request), req
    codec.finish(rid)
    return sim.handle(req, "engineer", T0)


def test_failed_require_answers_with_require_reply_and_changes_nothing():
    profile = load(REJECTING)
    sim, codec = Sim(profile, rng=random.Random(1), now=T0), DeviceCodec(profile)
    started = handle(sim, codec, "c1", "RemoteStartTransaction", {"idTag": "A"})
    assert json.loads(next(a for a in started if isinstance(a, Reply)).wire) == [3, "c1", {"status": "Accepted"}]
    assert sim.state == {"connector": "Charging", "tag": "A"}
    again = handle(sim, codec, "c2", "RemoteStartTransaction", {"idTag": "B"})
    assert again[0] == Audit("remote_start", {"id_tag": "B"}, "rejected", "connector is Charging", "c2")
    # a CALLRESULT, not a CALLERROR; no `set`, no `then` (no StatusNotification)
    assert [type(a) for a in again] == [Audit, Reply]
    assert json.loads(again[1].wire) == [3, "c2", {"status": "Rejected", "tag": "B"}]
    assert sim.state == {"connector": "Charging", "tag": "A"}
    assert not any(isinstance(a, Emit) for a in again)


def test_without_require_reply_a_failed_require_is_still_the_device_error():
    profile = load(OCPP)
    sim, codec = Sim(profile, rng=random.Random(1), now=T0), DeviceCodec(profile)
    handle(sim, codec, "c1", "RemoteStartTransaction", {"idTag": "A"})
    again = handle(sim, codec, "c2", "RemoteStartTransaction", {"idTag": "B"})
    assert again[0].result == "error" and json.loads(again[1].wire)[:3] == [4, "c2", "GenericError"]


def test_require_reply_templates_are_checked_and_need_require():
    bad = REJECTING.replace("{{params.id_tag}}", "{{params.tag}}")
    with pytest.raises(
        InvalidInput, match=r"sim.commands.remote_start.require_reply: template names \{\{params.tag\}\}"
    ):
        load(bad)
    with pytest.raises(
        InvalidInput, match=r"sim.commands.remote_start.require_reply: template names \{\{state.nope\}\}"
    ):
        load(REJECTING.replace("{{params.id_tag}}", "{{state.nope}}"))
    orphan = OCPP.replace("[sim.commands.reset]\n", '[sim.commands.reset]\nrequire_reply = { status = "Rejected" }\n')
    with pytest.raises(InvalidInput, match=r"sim.commands.reset.require_reply: has no effect without `require`"):
        load(orphan)


def test_shipped_charger_rejects_remote_start_and_stop_with_a_result():
    profile = load_profile("ocpp16-charger")
    for key in ("remote_start", "remote_stop"):
        assert profile.sim.commands[key].require_reply == {"status": "Rejected"}
        assert profile.commands[key].success == (("/status", "Accepted"),)


async def test_remote_stop_with_nothing_charging_raises_device_error_end_to_end(sim_pki, nursery, tmp_path):
    records: list[dict] = []
    sim = Simulator(load_profile("ocpp16-charger"), seed=1, report=records.append)
    await nursery.start(sim.run)
    server = await nursery.start(
        functools.partial(
            serve,
            sim.handler,
            cert_chain=sim_pki.device.chain,
            key=sim_pki.device.key,
            ca=sim_pki.root,
            subprotocols=sim.profile.subprotocols,
        )
    )
    async with open_device(server.url, profile="ocpp16-charger", **sim_pki.kw(sim_pki.alice)) as dev:
        with trio.fail_after(10):
            with pytest.raises(DeviceError) as info:
                await dev.call("remote_stop", transaction_id=1001)
            assert 'status is "Rejected"' in str(info.value) and "remote_stop" in str(info.value)
            assert await dev.call("remote_start", id_tag="04A2B3C4") == {"status": "Accepted"}
            with pytest.raises(DeviceError, match='status is "Rejected"'):
                await dev.call("remote_start", id_tag="04A2B3C4")
            assert await dev.call("remote_stop", transaction_id=1001) == {"status": "Accepted"}
    commands = [(r["command"], r["result"]) for r in records if r["event"] == "command"]
    assert commands == [
        ("remote_stop", "rejected"),
        ("remote_start", "ok"),
        ("remote_start", "rejected"),
        ("remote_stop", "ok"),
    ]
