"""Commands for a device that is offline wait in the registry (``--queue``)
and are delivered once it is back and booted; the answer reaches the operator
if it is still connected, the audit log either way; expired ones are not sent."""

from __future__ import annotations

import trio
from hub_helpers import client_tls, hub_url, running_hub
from test_hub_devices_dial_in import dial_charger, wait_online

from wsctl.net.api import open_device

CSMS = "ocpp16"


def queued(pki, leaf, ttl):
    return dict(client_tls(pki, leaf), headers=(("Wsctl-Queue", str(ttl)),))


async def test_queued_call_is_delivered_when_the_device_comes_back(hub_pki, registry):
    registry.add_device("CP-1", profile=CSMS)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with open_device(
                hub_url(hub, "/devices/CP-1"), profile=CSMS, **queued(hub_pki, hub_pki.alice, 60)
            ) as dev:
                result: dict = {}

                async def call():
                    result["reply"] = await dev.call("reset", timeout=60, type="Soft")

                nursery.start_soon(call)
                with trio.fail_after(10):
                    while not registry.due("CP-1", at=hub.wall()):
                        await trio.sleep(0.01)
                assert registry.device("CP-1").queued == 1
                await dial_charger(nursery, hub, hub_pki, "CP-1")
                with trio.fail_after(20):
                    while "reply" not in result:
                        await trio.sleep(0.01)
            assert result["reply"] == {"status": "Accepted"}
            assert registry.due("CP-1", at=hub.wall()) == []
            outcomes = [a["outcome"] for a in registry.audit_log(device="CP-1", actor="alice")]
            assert "queued" in outcomes and "delivered" in outcomes, outcomes
            nursery.cancel_scope.cancel()


async def test_expired_queued_call_is_never_sent(hub_pki, registry):
    registry.add_device("CP-1", profile=CSMS)
    now = [1_000_000.0]
    registry.queue(
        "CP-1",
        at=now[0],
        expires_at=now[0] + 5,
        operator="alice",
        role="engineer",
        command="reset",
        params={"type": "Hard"},
    )
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            # the charger comes back long after the command expired
            await dial_charger(nursery, hub, hub_pki, "CP-1")
            link = await wait_online(hub, "CP-1")
            with trio.fail_after(10):
                await link.booted.wait()
            await trio.sleep(0.2)
            assert not any(
                a["action"] == "reset" for a in registry.audit_log(device="CP-1") if a["outcome"] == "delivered"
            )
            nursery.cancel_scope.cancel()
