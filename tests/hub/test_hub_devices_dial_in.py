"""Devices dial into a real hub (TLS on port 0, a real SQLite registry, a real
PKI); operators command them by name through `/devices/ID` with wsctl's own
client API — the same one every verb uses."""

from __future__ import annotations

import json

import pytest
import trio
from hub_helpers import client_tls, hub_url, running_hub

from wsctl.core.errors import ConnectError, ConnectionClosed, HandshakeRejected, NotAuthorized
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device
from wsctl.net.simulate import Simulator

CHARGER = "ocpp16-charger"


async def dial_charger(nursery, hub, pki, name, *, path=None, profile=CHARGER, cert_name=None, scale=1.0):
    """wsctl's simulated charger dialing the hub with its device certificate."""
    sim = Simulator(load_profile(profile), seed=1, interval_scale=scale)
    await nursery.start(sim.run)
    leaf = pki.chargers[cert_name or name]
    url = hub_url(hub, path or f"/ocpp/{name}")
    nursery.start_soon(lambda: sim.dial(url, role="engineer", redial=None, **client_tls(pki, leaf)))
    return sim


async def wait_online(hub, name, timeout=10):
    with trio.fail_after(timeout):
        while name not in hub.links:
            await trio.sleep(0.01)
    return hub.links[name]


async def test_operator_resets_a_charger_by_name(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-1")
            await wait_online(hub, "CP-1")
            async with open_device(
                hub_url(hub, "/devices/CP-1"), profile=CHARGER, **client_tls(hub_pki, hub_pki.alice)
            ) as dev:
                reply = await dev.call("reset", type="Soft")
            assert reply == {"status": "Accepted"}
            record = registry.device("CP-1")
            assert record.online and record.security_profile == 3
            assert record.cert_fingerprint and record.cert_fingerprint.startswith("sha256:")
            audit = registry.audit_log(device="CP-1")
            assert any(a["action"] == "reset" and a["actor"] == "alice" and a["outcome"] == "ok" for a in audit), audit
            nursery.cancel_scope.cancel()


async def test_observer_may_not_reset_and_is_audited(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-1")
            await wait_online(hub, "CP-1")
            async with open_device(
                hub_url(hub, "/devices/CP-1"), profile=CHARGER, **client_tls(hub_pki, hub_pki.bob)
            ) as dev:
                with pytest.raises(NotAuthorized, match="observer may not run reset"):
                    await dev.call("reset", type="Soft")
                # what an observer may run still works on the same connection
                assert (await dev.call("trigger_message", requested_message="StatusNotification"))[
                    "status"
                ] == "Accepted"
            audit = registry.audit_log(device="CP-1", actor="bob")
            assert any(a["action"] == "reset" and a["outcome"] == "refused" for a in audit), audit
            nursery.cancel_scope.cancel()


async def test_certificate_naming_another_station_is_refused_with_403(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)
    registry.add_device("CP-2", profile=CHARGER)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            sim = Simulator(load_profile(CHARGER), seed=1)
            await nursery.start(sim.run)
            with pytest.raises(HandshakeRejected, match="403.*certificate names CP-2, not CP-1") as info:
                await sim.dial(
                    hub_url(hub, "/ocpp/CP-1"),
                    role="engineer",
                    redial=None,
                    **client_tls(hub_pki, hub_pki.chargers["CP-2"]),
                )
            assert info.value.status == 403
            assert "CP-1" not in hub.links
            refused = [a for a in registry.audit_log() if a["outcome"] == "refused"]
            assert refused and "certificate names CP-2" in refused[-1]["detail"]
            nursery.cancel_scope.cancel()


async def test_unknown_device_refused_unless_approval_mode(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)  # the hub knows where chargers dial
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            sim = Simulator(load_profile(CHARGER), seed=1)
            await nursery.start(sim.run)
            with pytest.raises(HandshakeRejected, match="unknown device CP-3"):
                await sim.dial(
                    hub_url(hub, "/ocpp/CP-3"),
                    role="engineer",
                    redial=None,
                    **client_tls(hub_pki, hub_pki.chargers["CP-3"]),
                )
            nursery.cancel_scope.cancel()
    assert registry.device("CP-3") is None


async def test_approval_mode_keeps_an_unknown_device_pending(hub_pki, registry):
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, approval=True, default_profile=CHARGER) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-3")
            await wait_online(hub, "CP-3")
            assert registry.device("CP-3").status == "pending"
            async with open_device(
                hub_url(hub, "/devices/CP-3"), profile=CHARGER, **client_tls(hub_pki, hub_pki.alice)
            ) as dev:
                with pytest.raises(Exception, match="waits for approval"):
                    await dev.call("reset", type="Soft")
                registry.set_status("CP-3", "approved")
                assert (await dev.call("reset", type="Soft"))["status"] == "Accepted"
            nursery.cancel_scope.cancel()


async def test_offline_device_is_exit_3_with_since_when(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            with pytest.raises(ConnectError, match="CP-1 offline"):
                async with open_device(
                    hub_url(hub, "/devices/CP-1"), profile=CHARGER, **client_tls(hub_pki, hub_pki.alice)
                ):
                    pass
            nursery.cancel_scope.cancel()


async def test_same_id_again_replaces_the_old_connection(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            charger = client_tls(hub_pki, hub_pki.chargers["CP-1"])
            async with open_device(hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **charger) as first:
                link = await wait_online(hub, "CP-1")
                async with open_device(hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **charger):
                    with trio.fail_after(10):
                        while hub.links.get("CP-1") in (None, link):
                            await trio.sleep(0.01)
                    with pytest.raises(ConnectionClosed) as closed:
                        with trio.fail_after(10):
                            await first.receive()
                    assert closed.value.code == 4000 and "replaced by a new connection" in str(closed.value)
            assert any(a["outcome"] == "replaced" for a in registry.audit_log(device="CP-1"))
            nursery.cancel_scope.cancel()


async def test_operator_watch_sees_the_devices_own_messages(hub_pki, registry):
    registry.add_device("CP-1", profile=CHARGER)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            charger = client_tls(hub_pki, hub_pki.chargers["CP-1"])
            async with open_device(hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **charger) as raw:
                await wait_online(hub, "CP-1")
                observer = client_tls(hub_pki, hub_pki.bob)
                async with open_device(hub_url(hub, "/devices/CP-1"), subprotocols=["ocpp1.6"], **observer) as watcher:
                    with trio.fail_after(10):
                        while not hub.watchers_of("CP-1"):  # registered once its upgrade is handled
                            await trio.sleep(0.01)
                    status = [
                        2,
                        "s1",
                        "StatusNotification",
                        {"connectorId": 1, "status": "Available", "errorCode": "NoError"},
                    ]
                    await raw.send(json.dumps(status))
                    with trio.fail_after(10):
                        answer = json.loads(await raw.receive())
                        copied = json.loads(await watcher.receive())
                    assert answer[0] == 3 and answer[1] == "s1"
                    assert copied == status
            nursery.cancel_scope.cancel()


async def test_hub_numbers_transactions_and_checks_id_tags(hub_pki, registry):
    registry.add_device("CP-1", profile="ocpp16")
    registry.add_id_tag("TAG-1")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            await dial_charger(nursery, hub, hub_pki, "CP-1", scale=0.02)
            link = await wait_online(hub, "CP-1")
            with trio.fail_after(10):
                await link.booted.wait()
            assert link.boot_status == "Accepted"
            assert (registry.device("CP-1").vendor, registry.device("CP-1").model) == ("ACME", "Wallbox-22")
            operator = client_tls(hub_pki, hub_pki.olga)
            async with open_device(hub_url(hub, "/devices/CP-1"), profile="ocpp16", **operator) as dev:
                assert (await dev.call("remote_start", id_tag="TAG-1", connector_id=1))["status"] == "Accepted"
                with trio.fail_after(10):
                    while not registry.open_transactions("CP-1"):
                        await trio.sleep(0.01)
                (tx,) = registry.open_transactions("CP-1")
                # the charger's meter values carry the id the hub assigned
                with trio.fail_after(20):
                    async for item in dev.events():
                        if getattr(item, "name", None) == "MeterValues":
                            assert item.payload["transactionId"] == tx["transaction_id"]
                            break
                stopped = await dev.call("remote_stop", transaction_id=tx["transaction_id"])
                assert stopped["status"] == "Accepted"
                with trio.fail_after(10):
                    while registry.open_transactions("CP-1"):
                        await trio.sleep(0.01)
            kinds = [a["action"] for a in registry.audit_log(device="CP-1")]
            assert "transaction" in kinds, kinds
            nursery.cancel_scope.cancel()


async def test_a_registered_profile_that_does_not_load_locks_no_other_device_out(hub_pki, registry, caplog):
    # a typo with `hub devices add`, or a record another hub of the federation shared
    registry.add_device("X-1", profile="no-such-profile")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            registry.add_device("CP-1", profile=CHARGER)  # while the hub runs: its path is found on refresh
            await dial_charger(nursery, hub, hub_pki, "CP-1")
            await wait_online(hub, "CP-1")
            nursery.cancel_scope.cancel()
    warned = [r.getMessage() for r in caplog.records if "not loaded" in r.getMessage()]
    assert len(warned) == 1 and "no-such-profile" in warned[0]


async def test_a_device_whose_profile_does_not_load_is_refused_with_403_not_500(hub_pki, registry, caplog):
    registry.add_device("CP-2", profile="no-such-profile")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, device_paths=["/ocpp/{id}"]) as hub:
            for _ in range(2):
                with pytest.raises(HandshakeRejected, match="403") as refused:
                    async with open_device(hub_url(hub, "/ocpp/CP-2"), **client_tls(hub_pki, hub_pki.chargers["CP-2"])):
                        pass
                assert "not available on this hub" in str(refused.value)
            nursery.cancel_scope.cancel()
    assert sum("not loaded" in r.getMessage() for r in caplog.records) == 1
    assert any(
        a["outcome"] == "refused" and "not available" in (a["detail"] or "") for a in registry.audit_log(device="CP-2")
    )
