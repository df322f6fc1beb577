"""Security profile 1 (plain ws + Basic) only on its own, explicitly asked-for
listener, and only for devices registered for it."""

from __future__ import annotations

import base64

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
            async with open_device(hub_url(hub, "/ocpp/CP-1"), ca=hub_pki.root, headers=basic("CP-1", secret1)):
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
