"""wsctl's own simulated chargers (OCPP 1.6 and 2.0.1) as the station side of
certificate management, through a real hub on loopback: the renewal trigger →
a new key and CSR → the hub signs → CertificateSigned → the station checks the
chain, reconnects with the new certificate → the hub revokes the old one (CRL)
and the registry shows the new fingerprint.  A chain from another CA is
refused and reported; a new certificate the hub does not take at the
reconnection sends the station back to its old one; roots are installed,
listed and deleted by certificateHashData.  Every message of a renewal fits
the official OCPP schemas."""

from __future__ import annotations

import json

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hub_helpers import PW, build_hub_pki, client_tls, hub_url, running_hub
from test_hub_ocpp_schemas import check_frames

from wsctl.core.errors import DeviceError
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device
from wsctl.net.hub.cert_manager import CertificateSigner
from wsctl.net.simulate import Simulator
from wsctl.pki.identity import fingerprint
from wsctl.pki.station import sign_station_csr
from wsctl.pki.store import Store

#: (hub profile, charger profile, schema set, how an operator starts the renewal).
#: Starting a renewal is for security-admin and supervisor (the hub enforces it
#: for 2.0.1's TriggerMessage too, whose roles are observer+ for status reads)
VERSIONS = {
    "1.6": ("ocpp16", "ocpp16-charger", "v16", ("renew_certificate", {})),
    "2.0.1": (
        "ocpp201",
        "ocpp201-charger",
        "v201",
        ("trigger_message", {"requested_message": "SignChargingStationCertificate"}),
    ),
}
ROOT_TYPE = {"1.6": "CentralSystemRootCertificate", "2.0.1": "CSMSRootCertificate"}


@pytest.fixture
def own_pki(tmp_path):
    # a renewal replaces CP-1's certificate in the store: not the shared one
    return build_hub_pki(tmp_path / "pki")


@pytest.fixture
def other_ca(tmp_path):
    store = Store(tmp_path / "other")
    store.init(name="Other CA", key_type="p256", password=PW)
    return store


async def dial_station(nursery, hub, pki, version, name="CP-1"):
    sim = Simulator(load_profile(VERSIONS[version][1]), seed=1)
    await nursery.start(sim.run)
    url = hub_url(hub, f"/ocpp/{name}")
    nursery.start_soon(lambda: sim.dial(url, role="supervisor", redial=None, **client_tls(pki, pki.chargers[name])))
    await booted(hub, name)
    return sim


async def booted(hub, name, *, other_than=None, timeout=15):
    with trio.fail_after(timeout):
        while name not in hub.links or hub.links[name] is other_than:
            await trio.sleep(0.01)
        await hub.links[name].booted.wait()
    return hub.links[name]


async def audited(registry, action, device="CP-1", timeout=15):
    with trio.fail_after(timeout):
        while not (found := [a for a in registry.audit_log(device=device) if a["action"] == action]):
            await trio.sleep(0.02)
    return found[0]


def operator(hub, pki, version, who=None):
    return open_device(hub_url(hub, "/devices/CP-1"), profile=VERSIONS[version][0], **client_tls(pki, who or pki.sam))


class Watcher:
    """An operator connection that keeps the device's own calls (the CSR, the security events)."""

    def __init__(self):
        self.calls: list = []

    async def run(self, dev, task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        async for item in dev.events():
            if getattr(item, "name", None):
                self.calls.append(item)

    async def wait(self, name, timeout=15):
        with trio.fail_after(timeout):
            while not (found := [c for c in self.calls if c.name == name]):
                await trio.sleep(0.02)
        return found[-1]


def recorded_frames(record_dir) -> list:
    frames = []
    for recording in sorted(record_dir.iterdir()):
        events = [json.loads(line) for line in recording.read_text().splitlines()[1:]]
        frames += [json.loads(e["data"]) for e in events if e.get("kind") == "text"]
    return frames


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_the_simulated_charger_renews_through_the_hub(own_pki, registry, tmp_path, version):
    pki = own_pki
    hub_profile, _, schemas, (trigger, params) = VERSIONS[version]
    registry.add_device("CP-1", profile=hub_profile)
    old = pki.store.load_index().current("CP-1")
    record_dir = tmp_path / "rec"
    record_dir.mkdir()
    async with trio.open_nursery() as nursery:
        signer = CertificateSigner(pki.store, PW)
        async with running_hub(nursery, pki, registry, signer=signer, record_dir=str(record_dir)) as hub:
            await dial_station(nursery, hub, pki, version)
            first = hub.links["CP-1"]
            async with operator(hub, pki, version, pki.sam) as dev:
                assert (await dev.call(trigger, **params))["status"] == "Accepted"
            renewed = await audited(registry, "certificate-renewed")
            back = await booted(hub, "CP-1", other_than=first)
            await back.close(1000, "done")
            with trio.fail_after(10):
                await back.gone.wait()
            nursery.cancel_scope.cancel()
    assert renewed["outcome"] == "ok" and "revoked" in renewed["detail"], renewed
    index = pki.store.load_index()
    new = index.current("CP-1")
    assert new.serial != old.serial and new.status == "valid"
    assert [e.status for e in index.entries if e.name == "CP-1"] == ["revoked", "valid"]
    assert registry.device("CP-1").cert_fingerprint == new.fingerprint
    (renewal,) = registry.renewals()
    assert (renewal.state, renewal.requested_by) == ("renewed", "sam")
    assert (renewal.old_serial, renewal.new_serial) == (f"{old.serial:x}", f"{new.serial:x}")
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(old.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(new.serial) is None
    frames = recorded_frames(record_dir)
    actions = {f[2] for f in frames if f[0] == 2}
    assert {"SignCertificate", "CertificateSigned", "BootNotification"} <= actions, actions
    assert check_frames(frames, schemas) == len(frames)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_chain_from_another_ca_is_refused_and_reported(own_pki, other_ca, registry, version):
    pki = own_pki
    hub_profile, _, _, (trigger, params) = VERSIONS[version]
    registry.add_device("CP-1", profile=hub_profile)
    async with trio.open_nursery() as nursery:
        # no signer: the CSR is left to the security admin, who signs it with the wrong CA
        async with running_hub(nursery, pki, registry) as hub:
            await dial_station(nursery, hub, pki, version)
            watcher = Watcher()
            async with operator(hub, pki, version) as watching, operator(hub, pki, version) as dev:
                await nursery.start(watcher.run, watching)
                async with operator(hub, pki, version, pki.sam) as triggering:
                    await triggering.call(trigger, **params)
                csr = (await watcher.wait("SignCertificate")).payload["csr"]
                chain = sign_station_csr(other_ca, csr, station_id="CP-1", password=PW).paths.chain.read_text()
                with pytest.raises(DeviceError, match="Rejected"):
                    await dev.call("certificate_signed", certificate_chain=chain)
                event = (await watcher.wait("SecurityEventNotification")).payload
            nursery.cancel_scope.cancel()
    invalid = {"1.6": "InvalidChargePointCertificate", "2.0.1": "InvalidChargingStationCertificate"}[version]
    assert event["type"] == invalid and "does not verify" in event["techInfo"]
    reported = [a for a in registry.audit_log(device="CP-1") if a["action"] == "security_event"]
    assert reported and reported[0]["outcome"] == invalid
    signed = [a for a in registry.audit_log(device="CP-1", actor="sam") if a["action"] == "certificate_signed"]
    assert signed, registry.audit_log(device="CP-1")
    # the station still dials with its one certificate
    assert registry.device("CP-1").cert_fingerprint == pki.store.load_index().current("CP-1").fingerprint


async def test_a_new_certificate_the_hub_refuses_sends_the_station_back_to_the_old_one(own_pki, other_ca, registry):
    """The station trusts the other CA (installed), so it accepts a chain from it;
    the hub does not, so the reconnection with it fails at TLS: the station goes
    back to its old certificate and says so (InvalidChargePointCertificate)."""
    pki = own_pki
    registry.add_device("CP-1", profile="ocpp16")
    old_fingerprint = pki.store.load_index().current("CP-1").fingerprint
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry) as hub:
            await dial_station(nursery, hub, pki, "1.6")
            first = hub.links["CP-1"]
            watcher = Watcher()
            async with operator(hub, pki, "1.6") as watching, operator(hub, pki, "1.6") as dev:
                await nursery.start(watcher.run, watching)
                root = other_ca.root_cert_path.read_text()
                installed = await dev.call(
                    "install_certificate", certificate_type="CentralSystemRootCertificate", certificate=root
                )
                assert installed["status"] == "Accepted"
                await dev.call("renew_certificate")
                csr = (await watcher.wait("SignCertificate")).payload["csr"]
                chain = sign_station_csr(other_ca, csr, station_id="CP-1", password=PW).paths.chain.read_text()
                assert (await dev.call("certificate_signed", certificate_chain=chain))["status"] == "Accepted"
            back = await booted(hub, "CP-1", other_than=first)
            reported = await audited(registry, "security_event")
            nursery.cancel_scope.cancel()
    assert back.conn.identity.fingerprint == old_fingerprint
    assert reported["outcome"] == "InvalidChargePointCertificate"
    assert "failed at reconnection" in reported["params"]["tech_info"], reported


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_roots_are_installed_listed_and_deleted_by_hash_data(own_pki, other_ca, registry, version):
    from cli_runner import run_subprocess

    pki = own_pki
    kind = ROOT_TYPE[version]
    registry.add_device("CP-1", profile=VERSIONS[version][0])
    hashed = run_subprocess("certs", "hash-data", str(other_ca.root_cert_path), timeout=30)
    assert hashed.returncode == 0, hashed.stderr
    other = json.loads(hashed.stdout)
    plant = json.loads(run_subprocess("certs", "hash-data", str(pki.root), timeout=30).stdout)
    listing = {"1.6": {"certificate_type": kind}, "2.0.1": {"certificate_type": [kind]}}[version]

    def hashes(reply):
        if version == "1.6":
            return reply.get("certificateHashData", [])
        assert all(c["certificateType"] == kind for c in reply.get("certificateHashDataChain", []))
        return [c["certificateHashData"] for c in reply.get("certificateHashDataChain", [])]

    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry) as hub:
            await dial_station(nursery, hub, pki, version)
            # the security admin changes the roots; an observer reads them
            async with operator(hub, pki, version) as dev, operator(hub, pki, version, pki.bob) as reader:
                root = other_ca.root_cert_path.read_text()
                assert (await dev.call("install_certificate", certificate_type=kind, certificate=root))[
                    "status"
                ] == "Accepted"
                assert hashes(await reader.call("get_installed_certificate_ids", **listing)) == [plant, other]
                assert (await dev.call("delete_certificate", certificate_hash_data=other))["status"] == "Accepted"
                assert hashes(await reader.call("get_installed_certificate_ids", **listing)) == [plant]
                with pytest.raises(DeviceError, match="NotFound"):
                    await dev.call("delete_certificate", certificate_hash_data=other)
                with pytest.raises(DeviceError, match="Failed"):  # its last root: it could trust no hub after it
                    await dev.call("delete_certificate", certificate_hash_data=plant)
                leaf = pki.chargers["CP-1"].cert.read_text()
                with pytest.raises(DeviceError, match="Rejected"):  # a device certificate is no root
                    await dev.call("install_certificate", certificate_type=kind, certificate=leaf)
            nursery.cancel_scope.cancel()


async def test_renewal_from_the_cli_with_serve_dial_writes_the_new_certificate_beside_the_old(own_pki, tmp_path):
    """`wsctl serve --dial --certs DIR --device CP-1` renews when `wsctl hub certs
    renew CP-1 --wait` asks, and writes the new chain and key next to the old
    files, without overwriting any."""
    import subprocess
    import sys

    from cli_runner import run_subprocess

    from wsctl.registry import Registry

    pki = own_pki
    store_dir = pki.store.path
    registry = Registry.open(tmp_path / "hub.db")
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            command = [sys.executable, "-m", "wsctl", "--json", "serve", "--profile", "ocpp16-charger",
                       "--dial", hub_url(hub, "/ocpp/CP-1"), "--certs", str(store_dir), "--device", "CP-1",
                       "--redial", "0"]  # fmt: skip
            station = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                first = await booted(hub, "CP-1", timeout=30)
                renew = await trio.to_thread.run_sync(
                    lambda: run_subprocess(
                        "--json",
                        "hub",
                        "certs",
                        "renew",
                        "CP-1",
                        "--url",
                        f"wss://localhost:{hub.server.port}",
                        "--certs",
                        str(store_dir),
                        "--operator",
                        "sam",
                        "--registry",
                        str(tmp_path / "hub.db"),
                        "--wait",
                        "30",
                        timeout=60,
                    )  # fmt: skip
                )
                assert renew.returncode == 0, (renew.stdout, renew.stderr)
                back = await booted(hub, "CP-1", other_than=first)
            finally:
                station.terminate()
                out, err = await trio.to_thread.run_sync(lambda: station.communicate(timeout=20))
            # started again, the station dials with its renewed files (the old key is gone from the store)
            again = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                restarted = await booted(hub, "CP-1", other_than=back, timeout=30)
            finally:
                again.terminate()
                _, again_err = await trio.to_thread.run_sync(lambda: again.communicate(timeout=20))
            nursery.cancel_scope.cancel()
    registry.close()
    new = pki.store.load_index().current("CP-1")
    assert back.conn.identity.fingerprint == new.fingerprint
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (accepted,) = [r for r in records if r.get("event") == "certificate" and r["action"] == "accepted"]
    chain_file = store_dir / "devices" / "CP-1" / f"chain.{new.serial:x}.pem"
    key_file = store_dir / "devices" / "CP-1" / f"key.{new.serial:x}.pem"
    assert accepted["written"] == {"chain": str(chain_file), "key": str(key_file)}
    leaf = x509.load_pem_x509_certificate(chain_file.read_bytes())
    assert fingerprint(leaf.public_bytes(Encoding.DER)) == new.fingerprint
    assert key_file.stat().st_mode & 0o077 == 0
    assert any(r.get("event") == "certificate" and r["action"] == "in use" for r in records), records
    assert "Traceback" not in err
    assert restarted.conn.identity.fingerprint == new.fingerprint, again_err
    assert "dialing with the renewed certificate" in again_err


def test_docs_certificates_over_ocpp_run_as_written(tmp_path):
    """docs/hub.md "Certificates over OCPP", pasted into bash as a new user would."""
    import re

    from test_hub_docs import run_section

    run = run_section(tmp_path, "Certificates over OCPP")
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "Traceback" not in run.stderr
    assert re.search(r"CP-17: ok: seen with serial [0-9a-f]+; serial [0-9a-f]+ revoked, CRL re-issued", run.stdout)
    assert re.search(r"\n\d+\s+CP-17\s+renewed\s", run.stdout), run.stdout[-2000:]
    listed = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{") and '"not_after"' in line]
    assert sorted(e["status"] for e in listed if e.get("name") == "CP-17") == ["revoked", "valid"], listed
    renewed = sorted(p.name for p in (tmp_path / "cp17").iterdir() if p.name.count(".") == 2)
    assert [n.split(".")[0] for n in renewed] == ["chain", "key"], renewed
    assert run.stdout.count('"status": "Accepted"') >= 3  # the listing, the install, the delete


async def test_a_station_that_switches_without_answering_still_has_its_old_certificate_revoked(
    own_pki, registry, tmp_path
):
    """A station written frame by frame that installs the chain and reconnects at
    once, never answering CertificateSigned (a reboot to switch): the hub, which
    sees it come back with the certificate it signed, revokes the old one."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    from test_hub_cert_renewal_state import take_chain_without_answering

    pki = own_pki
    registry.add_device("CP-1", profile="ocpp16")
    old = pki.store.load_index().current("CP-1")

    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            url = hub_url(hub, "/ocpp/CP-1")
            replies: list = []
            async with open_device(url, subprotocols=["ocpp1.6"], **client_tls(pki, pki.chargers["CP-1"])) as dev:
                boot = {"chargePointVendor": "Hand", "chargePointModel": "Frames"}
                await dev.send(json.dumps([2, "boot-1", "BootNotification", boot]))
                first = await booted(hub, "CP-1")
                async with operator(hub, pki, "1.6") as admin, trio.open_nursery() as calls:
                    calls.start_soon(lambda: admin.call("renew_certificate"))
                    with trio.fail_after(15):
                        key, chain = await take_chain_without_answering(dev, replies)
            assert [r[2]["status"] for r in replies if r[1] == "csr-1"] == ["Accepted"]
            chain_file, key_file = tmp_path / "chain.pem", tmp_path / "key.pem"
            chain_file.write_text(chain)
            key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
            tls = dict(ca=pki.root, cert=chain_file, key=key_file, connect_timeout=5)
            async with open_device(url, subprotocols=["ocpp1.6"], **tls) as dev:
                await dev.send(json.dumps([2, "boot-2", "BootNotification", boot]))
                await booted(hub, "CP-1", other_than=first)
                renewed = await audited(registry, "certificate-renewed")
            nursery.cancel_scope.cancel()
    assert renewed["outcome"] == "ok" and f"serial {old.serial:x} revoked" in renewed["detail"], renewed
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(old.serial) is not None
    # not "failed": `hub certs renew --wait` keeps waiting for the reconnection
    signed = [a for a in registry.audit_log(device="CP-1") if a["action"] == "certificate-signed"]
    assert [a["outcome"] for a in signed] == ["unanswered"], signed
