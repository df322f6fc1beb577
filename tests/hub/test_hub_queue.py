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


async def test_commands_queued_for_one_offline_device_are_bounded(hub_pki, registry):
    from wsctl.core.errors import ConnectionClosed, DeviceError

    registry.add_device("CP-1", profile=CSMS)
    refusals: list[str] = []
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            hub.max_queued = 3

            async def operator():  # one call in flight per connection: five operators
                async with open_device(
                    hub_url(hub, "/devices/CP-1"), profile=CSMS, **queued(hub_pki, hub_pki.alice, 600)
                ) as dev:
                    try:
                        await dev.call("reset", timeout=600, type="Soft")
                    except DeviceError as exc:
                        refusals.append(exc.message)
                    except ConnectionClosed:
                        pass  # still queued when the test ends

            async with trio.open_nursery() as operators:
                for _ in range(5):
                    operators.start_soon(operator)
                with trio.fail_after(10):
                    while len(refusals) < 2:
                        await trio.sleep(0.01)
                assert registry.device("CP-1").queued == 3
                assert all("3 queued commands wait for it already" in r for r in refusals), refusals
                operators.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
