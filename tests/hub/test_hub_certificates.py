"""Certificate renewal over OCPP through the hub, with the `ocpp` library's
charge point as the station: renew_certificate (ExtendedTriggerMessage) →
its SignCertificate with a CSR made by cryptography → the hub checks and signs
it → CertificateSigned with a chain that `openssl verify` accepts → the
station reconnects with the new certificate → the old one is revoked and in
the CRL.  And what is refused: a CSR for another station, security profile 1."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hub_helpers import PW, build_hub_pki, client_tls, hub_url, running_hub

from wsctl.net.api import open_device
from wsctl.net.hub.cert_manager import CertificateSigner


def new_csr(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


class Station(threading.Thread):
    """An ocpp.v16 ChargePoint that answers a renewal trigger with a CSR for
    ``csr_name`` and keeps the chain it is sent."""

    def __init__(self, url: str, ctx: ssl.SSLContext, csr_name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.ctx, self.csr_name = url, ctx, csr_name
        self.key, self.csr = new_csr(csr_name)
        self.chain: str | None = None
        self.sign_answer: object = None
        self.ready, self.got_chain, self.answered = threading.Event(), threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        import websockets
        from ocpp.routing import after, on
        from ocpp.v16 import ChargePoint, call, call_result

        station = self

        class CP(ChargePoint):
            @on("ExtendedTriggerMessage")
            async def on_trigger(self, requested_message, **_):
                return call_result.ExtendedTriggerMessage(status="Accepted")

            @after("ExtendedTriggerMessage")
            async def send_csr(self, requested_message, **_):
                station.sign_answer = await self.call(call.SignCertificate(csr=station.csr))
                station.answered.set()

            @on("CertificateSigned")
            async def on_signed(self, certificate_chain, **_):
                station.chain = certificate_chain
                station.got_chain.set()
                return call_result.CertificateSigned(status="Accepted")

        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        async with websockets.connect(self.url, subprotocols=["ocpp1.6"], ssl=self.ctx, open_timeout=10) as ws:
            cp = CP("station", ws)
            task = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_vendor="Mobility", charge_point_model="PyOCPP"))
            self.ready.set()
            await self._stopping.wait()
            task.cancel()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(10)


def mtls(pki, chain, key) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(str(chain), str(key))
    return ctx


async def wait(event: threading.Event, what: str) -> None:
    assert await trio.to_thread.run_sync(event.wait, 15), f"no {what}"


async def signed(registry) -> None:
    """Until the hub has the station's answer to CertificateSigned: a station
    stopped before its answer left would look like one that refused."""
    with trio.fail_after(15):
        while not any(
            a["action"] == "certificate-signed" and a["outcome"] == "accepted"
            for a in registry.audit_log(device="CP-1")
        ):
            await trio.sleep(0.02)


@pytest.fixture
def own_pki(tmp_path):
    # renewal replaces CP-1's certificate in the store: not the shared one
    return build_hub_pki(tmp_path / "pki")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_renewal_through_the_hub_with_the_ocpp_library_station(own_pki, registry, tmp_path):
    pki = own_pki
    registry.add_device("CP-1", profile="ocpp16")
    old = pki.store.load_index().current("CP-1")
    signer = CertificateSigner(pki.store, PW)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=signer) as hub:
            station = Station(
                hub_url(hub, "/ocpp/CP-1"), mtls(pki, pki.chargers["CP-1"].chain, pki.chargers["CP-1"].key), "CP-1"
            )
            station.start()
            await wait(station.ready, "boot")
            assert station.error is None, station.error
            security = client_tls(pki, pki.sam)
            async with open_device(hub_url(hub, "/devices/CP-1"), profile="ocpp16", **security) as dev:
                assert (await dev.call("renew_certificate"))["status"] == "Accepted"
            await wait(station.answered, "SignCertificate answer")
            assert station.sign_answer.status == "Accepted"
            await wait(station.got_chain, "CertificateSigned")
            await signed(registry)
            await trio.to_thread.run_sync(station.stop)
            # the chain verifies with openssl against the plant root
            chain_file = tmp_path / "chain.pem"
            chain_file.write_text(station.chain)
            leaf_file = tmp_path / "leaf.pem"
            first = station.chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
            leaf_file.write_text(first)
            verified = subprocess.run(
                ["openssl", "verify", "-CAfile", str(pki.root), "-untrusted", str(chain_file), "-purpose", "sslclient", str(leaf_file)],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert verified.returncode == 0, verified.stdout + verified.stderr
            new = x509.load_pem_x509_certificate(first.encode())
            assert new.public_key().public_numbers() == station.key.public_key().public_numbers()
            # the station comes back with its new key and certificate
            key_file = tmp_path / "new-key.pem"
            key_file.write_bytes(
                station.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            back = Station(hub_url(hub, "/ocpp/CP-1"), mtls(pki, chain_file, key_file), "CP-1")
            back.start()
            await wait(back.ready, "boot with the new certificate")
            with trio.fail_after(15):
                while not any(a["action"] == "certificate-renewed" for a in registry.audit_log(device="CP-1")):
                    await trio.sleep(0.05)
            await trio.to_thread.run_sync(back.stop)
            nursery.cancel_scope.cancel()
    renewed = [a for a in registry.audit_log(device="CP-1") if a["action"] == "certificate-renewed"][0]
    assert renewed["outcome"] == "ok" and "revoked" in renewed["detail"]
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(old.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(new.serial_number) is None


async def test_a_csr_for_another_station_is_rejected(own_pki, registry):
    pki = own_pki
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            station = Station(
                hub_url(hub, "/ocpp/CP-1"), mtls(pki, pki.chargers["CP-1"].chain, pki.chargers["CP-1"].key), "CP-2"
            )
            station.start()
            await wait(station.ready, "boot")
            async with open_device(hub_url(hub, "/devices/CP-1"), profile="ocpp16", **client_tls(pki, pki.sam)) as dev:
                await dev.call("renew_certificate")
            await wait(station.answered, "SignCertificate answer")
            assert station.sign_answer.status == "Rejected"
            assert not station.got_chain.wait(0.5)
            await trio.to_thread.run_sync(station.stop)
            nursery.cancel_scope.cancel()
    refused = [a for a in registry.audit_log(device="CP-1") if a["action"] == "sign-certificate"]
    assert (
        refused and refused[0]["outcome"] == "rejected" and "names CP-2, not the station CP-1" in refused[0]["detail"]
    )
    assert pki.store.load_index().current("CP-1").status == "valid"  # nothing was signed


async def test_observers_may_not_start_a_renewal(own_pki, registry):
    pki = own_pki
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            charger = client_tls(pki, pki.chargers["CP-1"])
            async with open_device(hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **charger):
                with trio.fail_after(10):
                    while "CP-1" not in hub.links:
                        await trio.sleep(0.01)
                from wsctl.core.errors import NotAuthorized

                for who in (pki.bob, pki.olga, pki.alice):  # observer, operator, engineer
                    async with open_device(
                        hub_url(hub, "/devices/CP-1"), profile="ocpp16", **client_tls(pki, who)
                    ) as dev:
                        with pytest.raises(NotAuthorized, match="may not run renew_certificate"):
                            await dev.call("renew_certificate")
            nursery.cancel_scope.cancel()


async def test_hub_certs_renew_from_the_cli(own_pki, tmp_path):
    """`wsctl hub certs renew ID --wait`: triggered through the hub with the
    operator's certificate, followed in the registry until the station is back
    with its new certificate."""
    import json

    from cli_runner import run_subprocess

    from wsctl.registry import Registry

    pki = own_pki
    registry = Registry.open(tmp_path / "hub.db")
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            url = hub_url(hub, "/ocpp/CP-1")
            station = Station(url, mtls(pki, pki.chargers["CP-1"].chain, pki.chargers["CP-1"].key), "CP-1")
            station.start()
            await wait(station.ready, "boot")
            result: dict = {}

            def renew():
                result["run"] = run_subprocess(
                    "--json", "hub", "certs", "renew", "CP-1", "--url", f"wss://localhost:{hub.server.port}",
                    "--certs", str(pki.store.path), "--operator", "sam", "--registry", str(tmp_path / "hub.db"),
                    "--wait", "30", timeout=60,
                )  # fmt: skip

            nursery.start_soon(trio.to_thread.run_sync, renew)
            await wait(station.got_chain, "CertificateSigned")
            await signed(registry)
            await trio.to_thread.run_sync(station.stop)
            chain_file, key_file = tmp_path / "chain.pem", tmp_path / "key.pem"
            chain_file.write_text(station.chain)
            key_file.write_bytes(
                station.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            back = Station(url, mtls(pki, chain_file, key_file), "CP-1")
            back.start()
            await wait(back.ready, "boot with the new certificate")
            with trio.fail_after(60):
                while "run" not in result:
                    await trio.sleep(0.05)
            await trio.to_thread.run_sync(back.stop)
            nursery.cancel_scope.cancel()
    registry.close()
    run = result["run"]
    assert run.returncode == 0, (run.stdout, run.stderr)
    (line,) = [json.loads(x) for x in run.stdout.splitlines() if x.strip()]
    assert line["device"] == "CP-1" and line["ok"] and line["renewal"] == "ok" and "revoked" in line["detail"]


async def test_only_security_roles_may_trigger_a_csr_even_through_201s_trigger_message(own_pki, registry):
    pki = own_pki
    registry.add_device("CP-3", profile="ocpp201")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            charger = client_tls(pki, pki.chargers["CP-3"])
            async with open_device(hub_url(hub, "/ocpp/CP-3"), subprotocols=["ocpp2.0.1"], **charger):
                with trio.fail_after(10):
                    while "CP-3" not in hub.links:
                        await trio.sleep(0.01)
                from wsctl.core.errors import NotAuthorized

                for who in (pki.bob, pki.alice):  # observer, engineer: may trigger status, not a renewal
                    async with open_device(
                        hub_url(hub, "/devices/CP-3"), profile="ocpp201", **client_tls(pki, who)
                    ) as dev:
                        with pytest.raises(NotAuthorized, match="may not start a certificate renewal"):
                            await dev.call("trigger_message", requested_message="SignChargingStationCertificate")
            nursery.cancel_scope.cancel()


async def test_a_station_asking_again_and_again_gets_one_certificate(own_pki, registry):
    """Each signed CSR is a valid certificate until the station comes back with
    a newer one: a station that asks over and over must not collect them."""
    import json

    pki = own_pki
    registry.add_device("CP-1", profile="ocpp16")
    signer = CertificateSigner(pki.store, PW)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=signer) as hub:
            async with open_device(
                hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **client_tls(pki, pki.chargers["CP-1"])
            ) as station:
                statuses = []
                for n in range(5):
                    await station.send(json.dumps([2, f"s{n}", "SignCertificate", {"csr": new_csr("CP-1")[1]}]))
                    with trio.fail_after(15):
                        while True:
                            frame = json.loads(await station.receive())
                            if frame[0] == 2:  # the hub's CertificateSigned: not installed
                                await station.send(json.dumps([3, frame[1], {"status": "Rejected"}]))
                            elif frame[1] == f"s{n}":
                                statuses.append(frame[2]["status"])
                                break
            nursery.cancel_scope.cancel()
    assert statuses == ["Accepted"] + ["Rejected"] * 4
    refused = [a for a in registry.audit_log(device="CP-1") if a["action"] == "sign-certificate"]
    assert sum("s ago: one per 300 s" in (a["detail"] or "") for a in refused) == 4
    entries = [e for e in pki.store.load_index().entries if e.name == "CP-1"]
    assert len(entries) == 2  # the first certificate and one renewal, not five
