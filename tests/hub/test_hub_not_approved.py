"""A device the registry does not approve gets nothing from the hub but its
boot answer: no certificate of the plant CA (a pending device's SignCertificate
is refused like its other calls, and audited), no operator command; a device
blocked while connected is closed (1008), whether it talks or stays silent.
Real hub, real TLS, raw OCPP-J frames."""

from __future__ import annotations

import base64
import json

import pytest
import trio
from hub_helpers import PW, build_hub_pki, client_tls, hub_url, running_hub
from test_hub_certificates import new_csr

from wsctl.core.errors import ConnectionClosed, DeviceError
from wsctl.net.api import open_device
from wsctl.net.hub.cert_manager import CertificateSigner

BOOT = [2, "boot-1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]


@pytest.fixture
def own_pki(tmp_path):
    return build_hub_pki(tmp_path / "pki")


async def ask(dev, frame):
    await dev.send(json.dumps(frame))
    with trio.fail_after(10):
        return json.loads(await dev.receive())


def basic(user: str, password: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()),)


@pytest.mark.parametrize("device", ["EVIL-1", "CP-3"])
async def test_a_pending_device_gets_no_certificate(own_pki, registry, device):
    """CP-3 has a certificate in the plant store but is not in this registry: a
    signed CSR would copy its names and, at the reconnection, revoke it."""
    pki = own_pki
    before = pki.store.load_index().current("CP-3")
    signer = CertificateSigner(pki.store, PW)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=signer, default_profile="ocpp16", approval=True) as hub:
            url = hub_url(hub, f"/ocpp/{device}")
            headers = basic(device, "a-password-of-20chars")
            async with open_device(url, ca=pki.root, subprotocols=["ocpp1.6"], headers=headers) as dev:
                assert (await ask(dev, BOOT))[2]["status"] == "Pending"
                _, csr = new_csr(device)
                answer = await ask(dev, [2, "csr-1", "SignCertificate", {"csr": csr}])
                assert answer[:3] == [4, "csr-1", "SecurityError"], answer
                assert f"{device} is pending" in answer[3]
                with pytest.raises(trio.TooSlowError):  # no CertificateSigned follows
                    with trio.fail_after(1):
                        await dev.receive()
            nursery.cancel_scope.cancel()
    assert registry.device(device).status == "pending"
    refused = [a for a in registry.audit_log(device=device) if a["action"] == "sign-certificate"]
    assert [(a["outcome"], a["detail"]) for a in refused] == [("refused", f"{device} is pending, not approved")]
    assert pki.store.load_index().current(device) == (before if device == "CP-3" else None)
    assert registry.open_renewal(device) is None


async def test_a_device_blocked_while_connected_is_closed_at_its_next_message(hub_pki, registry):
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            url = hub_url(hub, "/ocpp/CP-1")
            async with open_device(
                url, subprotocols=["ocpp1.6"], **client_tls(hub_pki, hub_pki.chargers["CP-1"])
            ) as dev:
                assert (await ask(dev, BOOT))[2]["status"] == "Accepted"
                registry.set_status("CP-1", "blocked")
                answer = await ask(dev, [2, "h", "Heartbeat", {}])
                assert answer[:3] == [4, "h", "SecurityError"], answer
                with pytest.raises(ConnectionClosed) as closed, trio.fail_after(10):
                    await dev.receive()
                assert closed.value.code == 1008 and "CP-1 is blocked" in str(closed.value)
            with trio.fail_after(10):
                while "CP-1" in hub.links:
                    await trio.sleep(0.02)
            nursery.cancel_scope.cancel()
    closes = [a for a in registry.audit_log(device="CP-1") if a["action"] == "connect" and a["outcome"] == "closed"]
    assert [a["detail"] for a in closes] == ["CP-1 is blocked"]
    assert "blocked" in registry.device("CP-1").offline_reason


async def test_a_silent_device_blocked_while_connected_is_closed_and_not_commanded(hub_pki, registry):
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            url = hub_url(hub, "/ocpp/CP-1")
            async with open_device(
                url, subprotocols=["ocpp1.6"], **client_tls(hub_pki, hub_pki.chargers["CP-1"])
            ) as dev:
                assert (await ask(dev, BOOT))[2]["status"] == "Accepted"
                operator = hub_url(hub, "/devices/CP-1")
                async with open_device(operator, profile="ocpp16", **client_tls(hub_pki, hub_pki.alice)) as op:
                    registry.set_status("CP-1", "blocked")
                    with pytest.raises(DeviceError, match="CP-1 is blocked"):
                        await op.call("clear_cache", timeout=5)
                # the hub's sweep (every 5 s) closes it without a message from it
                with pytest.raises(ConnectionClosed) as closed, trio.fail_after(10):
                    await dev.receive()
                assert closed.value.code == 1008
            nursery.cancel_scope.cancel()
    audit = registry.audit_log(device="CP-1")
    assert any(a["action"] == "clear_cache" and a["outcome"] == "refused" for a in audit)
    assert any(a["action"] == "connect" and a["outcome"] == "closed" for a in audit)
