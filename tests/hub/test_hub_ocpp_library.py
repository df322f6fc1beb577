"""The mobilityhouse `ocpp` library's charge point (on python-websockets, an
implementation nobody here wrote) dials into the hub — with its device
certificate (security profile 3) and with HTTP Basic (profile 2) — and an
operator's call through the hub reaches its ``@on`` handler."""

from __future__ import annotations

import asyncio
import base64
import ssl

import pytest
import trio
from asyncio_peer import AsyncioPeer
from hub_helpers import client_tls, hub_url, running_hub

from wsctl.net.api import open_device

PROFILE = "ocpp16"


class LibraryStation201(AsyncioPeer):
    """An ocpp.v201 ChargePoint (OCPP 2.0.1), booting and answering Reset."""

    def __init__(self, url: str, cs_id: str, *, ssl_ctx: ssl.SSLContext) -> None:
        super().__init__()
        self.url, self.cs_id, self.ssl_ctx = url, cs_id, ssl_ctx
        self.boot: object = None
        self.resets: list[str] = []

    async def session(self) -> None:
        import websockets
        from ocpp.routing import on
        from ocpp.v201 import ChargePoint, call, call_result, datatypes

        station = self

        class CS(ChargePoint):
            @on("Reset")
            async def on_reset(self, type, **_):  # noqa: A002 - OCPP's field name
                station.resets.append(type)
                return call_result.Reset(status="Accepted")

        async with websockets.connect(self.url, subprotocols=["ocpp2.0.1"], ssl=self.ssl_ctx, open_timeout=10) as ws:
            cs = CS(self.cs_id, ws)
            task = asyncio.create_task(cs.start())
            station_info = datatypes.ChargingStationType(model="PyOCPP-201", vendor_name="Mobility")
            self.boot = await cs.call(call.BootNotification(charging_station=station_info, reason="PowerUp"))
            self.ready.set()
            await self.until_stopped()
            task.cancel()


class LibraryCharger(AsyncioPeer):
    """An ocpp.v16.ChargePoint in its own asyncio loop (thread): boots, then
    serves the central system's calls until told to stop."""

    def __init__(self, url: str, cp_id: str, *, ssl_ctx: ssl.SSLContext, headers: dict | None = None) -> None:
        super().__init__()
        self.url, self.cp_id, self.ssl_ctx, self.headers = url, cp_id, ssl_ctx, headers or {}
        self.boot: object = None
        self.resets: list[str] = []

    async def session(self) -> None:
        import websockets
        from ocpp.routing import on
        from ocpp.v16 import ChargePoint, call, call_result
        from ocpp.v16.enums import ResetStatus

        charger = self

        class CP(ChargePoint):
            @on("Reset")
            async def on_reset(self, type, **_):  # noqa: A002 - OCPP's field name
                charger.resets.append(type)
                return call_result.Reset(status=ResetStatus.accepted)

        async with websockets.connect(
            self.url, subprotocols=["ocpp1.6"], ssl=self.ssl_ctx, additional_headers=self.headers, open_timeout=10
        ) as ws:
            cp = CP(self.cp_id, ws)
            task = asyncio.create_task(cp.start())
            answer = await cp.call(call.BootNotification(charge_point_vendor="Mobility", charge_point_model="PyOCPP"))
            self.boot = answer
            self.ready.set()
            await self.until_stopped()
            task.cancel()


def mtls_context(pki, leaf) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(str(leaf.chain), str(leaf.key))
    return ctx


async def _boot(charger: LibraryCharger | LibraryStation201) -> None:
    charger.start()
    ok = await trio.to_thread.run_sync(charger.ready.wait, 15)
    assert ok and charger.error is None, charger.error


async def test_library_charger_mtls_boots_and_takes_a_reset(hub_pki, registry):
    registry.add_device("CP-1", profile=PROFILE)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            charger = LibraryCharger(
                hub_url(hub, "/ocpp/CP-1"), "CP-1", ssl_ctx=mtls_context(hub_pki, hub_pki.chargers["CP-1"])
            )
            await _boot(charger)
            try:
                assert charger.boot.status == "Accepted"
                record = registry.device("CP-1")
                assert (record.vendor, record.model) == ("Mobility", "PyOCPP")
                async with open_device(
                    hub_url(hub, "/devices/CP-1"), profile=PROFILE, **client_tls(hub_pki, hub_pki.alice)
                ) as dev:
                    assert await dev.call("reset", type="Hard") == {"status": "Accepted"}
                assert charger.resets == ["Hard"]
            finally:
                await trio.to_thread.run_sync(charger.stop)
            nursery.cancel_scope.cancel()


async def test_library_charger_basic_auth_security_profile_2(hub_pki, registry):
    secret = registry.add_device("CP-2", profile=PROFILE, security_profile=2)
    assert secret and len(secret) >= 16
    ctx = ssl.create_default_context(cafile=str(hub_pki.root))  # TLS, no client certificate
    token = base64.b64encode(f"CP-2:{secret}".encode()).decode()
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            charger = LibraryCharger(
                hub_url(hub, "/ocpp/CP-2"), "CP-2", ssl_ctx=ctx, headers={"Authorization": f"Basic {token}"}
            )
            await _boot(charger)
            try:
                assert registry.device("CP-2").security_profile == 2 and registry.device("CP-2").online
                async with open_device(
                    hub_url(hub, "/devices/CP-2"), profile=PROFILE, **client_tls(hub_pki, hub_pki.alice)
                ) as dev:
                    assert await dev.call("reset", type="Soft") == {"status": "Accepted"}
                assert charger.resets == ["Soft"]
            finally:
                await trio.to_thread.run_sync(charger.stop)
            # a wrong password is refused with 401 and a challenge, and never logged
            bad = LibraryCharger(
                hub_url(hub, "/ocpp/CP-2"),
                "CP-2",
                ssl_ctx=ctx,
                headers={"Authorization": "Basic " + base64.b64encode(b"CP-2:wrong-password-123456").decode()},
            )
            bad.start()
            await trio.to_thread.run_sync(bad.ready.wait, 15)
            assert bad.error is not None and "401" in str(bad.error)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("who", ["no credentials", "device registered for profile 3 with a password"])
async def test_devices_without_their_credentials_are_refused(hub_pki, registry, who):
    registry.add_device("CP-1", profile=PROFILE)  # profile 3
    ctx = ssl.create_default_context(cafile=str(hub_pki.root))
    headers = (
        {}
        if who == "no credentials"
        else {"Authorization": "Basic " + base64.b64encode(b"CP-1:some-long-password-1").decode()}
    )
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            charger = LibraryCharger(hub_url(hub, "/ocpp/CP-1"), "CP-1", ssl_ctx=ctx, headers=headers)
            charger.start()
            await trio.to_thread.run_sync(charger.ready.wait, 15)
            assert charger.error is not None
            assert ("401" if who == "no credentials" else "403") in str(charger.error)
            assert "CP-1" not in hub.links
            nursery.cancel_scope.cancel()


async def test_library_station_201_boots_and_takes_a_reset(hub_pki, registry):
    registry.add_device("CP-3", profile="ocpp201")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            station = LibraryStation201(
                hub_url(hub, "/ocpp/CP-3"), "CP-3", ssl_ctx=mtls_context(hub_pki, hub_pki.chargers["CP-3"])
            )
            await _boot(station)
            try:
                assert station.boot.status == "Accepted"
                record = registry.device("CP-3")
                assert (record.vendor, record.model) == ("Mobility", "PyOCPP-201")
                operator = client_tls(hub_pki, hub_pki.alice)
                async with open_device(hub_url(hub, "/devices/CP-3"), profile="ocpp201", **operator) as dev:
                    assert await dev.call("reset", type="Immediate") == {"status": "Accepted"}
                assert station.resets == ["Immediate"]
            finally:
                await trio.to_thread.run_sync(station.stop)
            nursery.cancel_scope.cancel()
