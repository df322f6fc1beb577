"""Devices that misbehave: malformed frames, floods of calls, a device that
never answers, a storm of reconnections after a hub restart — each gets what
the protocol says, and nobody else is affected; nothing is lost in the registry."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import pytest
import trio
from hub_helpers import client_tls, hub_url, running_hub
from test_hub_devices_dial_in import dial_charger, wait_online

from wsctl.core.errors import Timeout, WsctlError
from wsctl.net.api import open_device

CSMS = "ocpp16"
SHIPPED = Path(__file__).resolve().parents[2] / "wsctl" / "profiles" / "ocpp16.toml"


def charger_conn(hub, pki, name="CP-1"):
    return open_device(hub_url(hub, f"/ocpp/{name}"), subprotocols=["ocpp1.6"], **client_tls(pki, pki.chargers[name]))


async def answers(dev, frames):
    out = []
    for frame in frames:
        await dev.send(frame)
        with trio.fail_after(10):
            out.append(json.loads(await dev.receive()))
    return out


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not JSON", "FormationViolation"),
        ('{"not": "an array"}', "FormationViolation"),
        ('[2, "m1"]', "FormationViolation"),
        ('[2, "m2", "BootNotification", "not an object"]', "FormationViolation"),
        ('[2, "m3", "NoSuchAction", {}]', "NotImplemented"),
        ('[2, "m4", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "x"}]', "TypeConstraintViolation"),
    ],
)
async def test_malformed_device_calls_get_the_protocols_error(hub_pki, registry, frame, code):
    registry.add_device("CP-1", profile=CSMS)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger_conn(hub, hub_pki) as dev:
                (error,) = await answers(dev, [frame])
                assert error[0] == 4 and error[2] == code, error
                # the connection survives, and a good call is still answered
                (boot,) = await answers(
                    dev, ['[2, "ok", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]']
                )
                assert boot[0] == 3 and boot[1] == "ok" and boot[2]["status"] == "Accepted"
            nursery.cancel_scope.cancel()


async def test_a_flooding_device_does_not_slow_down_another(hub_pki, registry):
    registry.add_device("CP-1", profile=CSMS)
    registry.add_device("CP-2", profile=CSMS)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-2", profile="ocpp16-charger")
            await wait_online(hub, "CP-2")
            async with charger_conn(hub, hub_pki) as flood:
                answered = 0

                async def read_answers():
                    nonlocal answered
                    while answered < 2000:
                        await flood.receive()
                        answered += 1

                async def send_flood():
                    for i in range(2000):
                        await flood.send(json.dumps([2, f"h{i}", "Heartbeat", {}]))

                async with trio.open_nursery() as inner:
                    inner.start_soon(send_flood)
                    inner.start_soon(read_answers)
                    async with open_device(
                        hub_url(hub, "/devices/CP-2"), profile=CSMS, **client_tls(hub_pki, hub_pki.alice)
                    ) as op:
                        with trio.fail_after(20):
                            assert (await op.call("reset", type="Soft"))["status"] == "Accepted"
                    with trio.fail_after(60):
                        while answered < 2000:
                            await trio.sleep(0.01)
            assert registry.device("CP-1").last_seen is not None
            nursery.cancel_scope.cancel()


async def test_a_device_that_never_answers_times_out_and_its_late_reply_goes_to_the_log(
    hub_pki, registry, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="wsctl.net.hub")
    # the shipped profile with a 1 s Reset timeout, so the test does not wait 30 s
    quick = tmp_path / "ocpp16-quick.toml"
    quick.write_text(
        SHIPPED.read_text().replace('id = "ocpp16"', 'id = "ocpp16-quick"').replace("timeout = 30", "timeout = 1")
    )
    registry.add_device("CP-1", profile=str(quick))
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger_conn(hub, hub_pki) as dev:
                await wait_online(hub, "CP-1")
                async with open_device(
                    hub_url(hub, "/devices/CP-1"), profile=str(quick), **client_tls(hub_pki, hub_pki.alice)
                ) as op:
                    # the operator's own timeout (the profile's 1 s) ends its wait: exit 6
                    with pytest.raises(Timeout):
                        await op.call("reset", type="Soft")
                    with trio.fail_after(10):
                        first = json.loads(await dev.receive())
                    assert first[2] == "Reset"
                    # the next call waits for the slot until the hub gave up on the first
                    result = {}

                    async def second():
                        result["reply"] = await op.call("reset", timeout=20, type="Hard")

                    nursery.start_soon(second)
                    with trio.fail_after(10):
                        nxt = json.loads(await dev.receive())
                    assert nxt[2] == "Reset" and nxt[3] == {"type": "Hard"}
                    # the late answer to the first call reaches the log, not the second call
                    await dev.send(json.dumps([3, first[1], {"status": "Rejected"}]))
                    await dev.send(json.dumps([3, nxt[1], {"status": "Accepted"}]))
                    with trio.fail_after(10):
                        while "reply" not in result:
                            await trio.sleep(0.01)
                    assert result["reply"] == {"status": "Accepted"}
            assert any("CP-1" in r.getMessage() and first[1] in r.getMessage() for r in caplog.records)
            nursery.cancel_scope.cancel()


async def test_a_device_cannot_stop_another_devices_transaction(hub_pki, registry):
    for name in ("CP-1", "CP-2"):
        registry.add_device(name, profile=CSMS)
    registry.add_id_tag("TAG1")
    start = '[2, "s1", "StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 10, "timestamp": "2026-12-04T00:00:00Z"}]'
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger_conn(hub, hub_pki, "CP-1") as one, charger_conn(hub, hub_pki, "CP-2") as two:
                (started,) = await answers(one, [start])
                tid = started[2]["transactionId"]
                stop = json.dumps(
                    [
                        2,
                        "x1",
                        "StopTransaction",
                        {"transactionId": tid, "meterStop": 0, "timestamp": "2026-12-04T00:01:00Z"},
                    ]
                )
                (answer,) = await answers(two, [stop])
                assert answer[0] == 3  # answered as the protocol says, and nothing else
                assert [t["transaction_id"] for t in registry.open_transactions("CP-1")] == [tid]
                own = stop.replace('"meterStop": 0', '"meterStop": 90').replace("x1", "x2")
                await answers(one, [own])
                assert registry.open_transactions("CP-1") == []
            nursery.cancel_scope.cancel()


async def test_a_call_waiting_for_the_device_ends_within_its_own_timeout(hub_pki, registry, tmp_path):
    """The wait for the device's slot and the call share one deadline: the
    second call is answered by its timeout, not twice its timeout later."""
    quick = tmp_path / "ocpp16-quick.toml"
    quick.write_text(
        SHIPPED.read_text().replace('id = "ocpp16"', 'id = "ocpp16-quick"').replace("timeout = 30", "timeout = 1")
    )
    registry.add_device("CP-1", profile=str(quick))
    limit = 1 + 2.0  # the command's timeout and the hub's margin (calls.TIMEOUT_MARGIN)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger_conn(hub, hub_pki):  # a device that never answers
                await wait_online(hub, "CP-1")
                async with (
                    open_device(
                        hub_url(hub, "/devices/CP-1"), profile=str(quick), **client_tls(hub_pki, hub_pki.alice)
                    ) as first,
                    open_device(
                        hub_url(hub, "/devices/CP-1"), profile=str(quick), **client_tls(hub_pki, hub_pki.alice)
                    ) as second,
                ):

                    async def never_answered():
                        with contextlib.suppress(WsctlError):
                            await first.call("reset", timeout=20, type="Soft")

                    nursery.start_soon(never_answered)
                    await trio.sleep(0.5)
                    started = trio.current_time()
                    with pytest.raises(WsctlError, match="busy with other calls|did not answer"):
                        await second.call("reset", timeout=20, type="Hard")
                    assert trio.current_time() - started < limit + 0.5
            nursery.cancel_scope.cancel()
