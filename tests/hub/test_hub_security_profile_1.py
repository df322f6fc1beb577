"""Security profile 1 (plain ws + Basic) only on its own, explicitly asked-for
listener, and only for devices registered for it."""

from __future__ import annotations

import base64
import json

import pytest
import trio
from hub_helpers import hub_url, running_hub

from wsctl.core.errors import HandshakeRejected
from wsctl.net.api import open_device


def basic(user: str, password: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()),)


async def test_profile_1_device_on_the_plain_listener_only(hub_pki, registry):
    secret1 = registry.add_device("CP-1", profile="ocpp16", security_profile=1)
    secret2 = registry.add_device("CP-2", profile="ocpp16", security_profile=2)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, plain={"host": "127.0.0.1", "port": 0}) as hub:
            plain = hub_url(hub, "/ocpp/CP-1", scheme="ws")
            async with open_device(
                plain, allow_plaintext=True, subprotocols=["ocpp1.6"], headers=basic("CP-1", secret1)
            ):
                with trio.fail_after(10):
                    while "CP-1" not in hub.links:
                        await trio.sleep(0.01)
                assert hub.links["CP-1"].security_profile == 1
            # a profile 2 device may not fall back to plain ws
            with pytest.raises(HandshakeRejected, match="registered for security profile 2, not 1"):
                async with open_device(
                    hub_url(hub, "/ocpp/CP-2", scheme="ws"), allow_plaintext=True, headers=basic("CP-2", secret2)
                ):
                    pass
            # a profile 1 device may move up to TLS with the same password (never down)
            async with open_device(
                hub_url(hub, "/ocpp/CP-1"), ca=hub_pki.root, subprotocols=["ocpp1.6"], headers=basic("CP-1", secret1)
            ):
                with trio.fail_after(10):
                    while "CP-1" not in hub.links or hub.links["CP-1"].security_profile != 2:
                        await trio.sleep(0.01)
            nursery.cancel_scope.cancel()


def test_plain_listener_needs_the_loud_flag(hub_pki, tmp_path):
    from cli_runner import run_in_process

    done = run_in_process(
        "hub", "--listen", "127.0.0.1:0", "--plain-listen", "127.0.0.1:0", "--certs", str(hub_pki.store.path),
        "--device", "hub", "--registry", str(tmp_path / "hub.db"),
    )  # fmt: skip
    assert done.returncode == 2 and "--allow-security-profile-1" in done.stderr


async def test_a_pending_password_login_is_approved_with_the_password_it_presented(hub_pki, registry):
    """Approval mode, TLS + Basic (profile 2), an id nobody registered: the
    hub keeps the hash of the password it was given, so approving the device
    approves that password; another password for the same id gets 401, before
    and after the approval."""
    first, other = "f" * 24, "o" * 24
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, approval=True, default_profile="ocpp16") as hub:
            url = hub_url(hub, "/ocpp/CP-77")
            async with open_device(url, ca=hub_pki.root, subprotocols=["ocpp1.6"], headers=basic("CP-77", first)):
                with trio.fail_after(10):
                    while "CP-77" not in hub.links:
                        await trio.sleep(0.01)
                record = registry.device("CP-77")
                assert record.status == "pending" and record.has_secret
            with pytest.raises(HandshakeRejected, match="wrong password"):
                async with open_device(url, ca=hub_pki.root, headers=basic("CP-77", other)):
                    pass
            registry.set_status("CP-77", "approved")
            with pytest.raises(HandshakeRejected, match="wrong password"):
                async with open_device(url, ca=hub_pki.root, headers=basic("CP-77", other)):
                    pass
            assert registry.check_secret("CP-77", first)
            async with open_device(url, ca=hub_pki.root, subprotocols=["ocpp1.6"], headers=basic("CP-77", first)):
                with trio.fail_after(10):
                    while "CP-77" not in hub.links:
                        await trio.sleep(0.01)
                assert hub.not_approved("CP-77") is None
            # a password OCPP would not allow is refused, not kept
            with pytest.raises(HandshakeRejected, match="too short"):
                async with open_device(hub_url(hub, "/ocpp/CP-78"), ca=hub_pki.root, headers=basic("CP-78", "short")):
                    pass
            assert registry.device("CP-78") is None
            nursery.cancel_scope.cancel()


async def test_a_certificate_command_queued_for_a_profile_1_device_is_not_delivered_over_plain_ws(hub_pki, registry):
    """InstallCertificate queued while the charger is away: when it comes back
    over plain ws the hub refuses to send it (anyone on the path could swap the
    root), as it refuses the same call to a device online over plain ws."""
    from hub_helpers import client_tls

    from wsctl.core.errors import DeviceError, Timeout

    secret = registry.add_device("CP-1", profile="ocpp16", security_profile=1)
    root_pem = hub_pki.store.root_cert_path.read_text()
    queued = dict(client_tls(hub_pki, hub_pki.sam), headers=(("Wsctl-Queue", "60"),))
    result: dict[str, BaseException] = {}
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, plain={"host": "127.0.0.1", "port": 0}) as hub:
            async with open_device(hub_url(hub, "/devices/CP-1"), profile="ocpp16", **queued) as operator:

                async def install() -> None:
                    try:
                        await operator.call(
                            "install_certificate",
                            timeout=30,
                            certificate_type="CentralSystemRootCertificate",
                            certificate=root_pem,
                        )
                    except DeviceError as exc:
                        result["error"] = exc

                nursery.start_soon(install)
                with trio.fail_after(10):
                    while not registry.due("CP-1", at=hub.wall()):
                        await trio.sleep(0.01)
                plain = hub_url(hub, "/ocpp/CP-1", scheme="ws")
                async with open_device(
                    plain, allow_plaintext=True, subprotocols=["ocpp1.6"], headers=basic("CP-1", secret)
                ) as charger:
                    boot = {"chargePointVendor": "acme", "chargePointModel": "x1"}
                    await charger.send(json.dumps([2, "b1", "BootNotification", boot]))
                    assert json.loads(await charger.receive(timeout=10))[0] == 3  # queued calls follow a boot
                    with trio.fail_after(20):
                        while "error" not in result:
                            await trio.sleep(0.01)
                    with pytest.raises(Timeout):
                        await charger.receive(timeout=0.5)  # nothing was sent to it
            assert "refused over security profile 1 (plain ws)" in str(result["error"])
            assert not registry.due("CP-1", at=hub.wall())
            entries = [e for e in registry.audit_log(device="CP-1") if e["action"] == "install_certificate"]
            assert any(e["outcome"] == "refused" and "not delivered" in e["detail"] for e in entries), entries
            nursery.cancel_scope.cancel()
