"""Certificate renewals through the hub survive a hub restart (the registry keeps
them): a station that got its chain from one hub run and comes back with it to
the next still has its old certificate revoked; a revocation a crash cut short
is done at start; a CSR accepted but not signed before the restart is recorded
as failed.  Revocations of stations that come back together share one CRL, and
none is recorded done before its CRL is written.  `wsctl hub certs status`
shows where each renewal is."""

from __future__ import annotations

import contextlib
import json
import types

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hub_helpers import PW, build_hub_pki, client_tls, hub_url, running_hub
from test_hub_station_renewal import audited, booted, operator

from wsctl.net.api import open_device
from wsctl.net.hub.cert_manager import CertificateSigner
from wsctl.pki.station import sign_station_csr
from wsctl.pki.station_side import new_key_and_csr
from wsctl.registry import Registry

BOOT = {"chargePointVendor": "Hand", "chargePointModel": "Frames"}


def crl_serials(pki) -> set[int]:
    return {r.serial_number for r in x509.load_pem_x509_crl(pki.crl.read_bytes())}


async def take_chain_without_answering(dev, replies: list | None = None):
    """A station written frame by frame: it accepts the trigger, sends its CSR, and
    takes the CertificateSigned chain without answering it (it reboots to switch).
    The hub's answers go to ``replies``."""
    key = None
    while True:
        frame = json.loads(await dev.receive())
        if frame[0] != 2:
            if replies is not None:
                replies.append(frame)
            continue
        _, call_id, action, payload = frame
        if action == "ExtendedTriggerMessage":
            await dev.send(json.dumps([3, call_id, {"status": "Accepted"}]))
            key, csr = new_key_and_csr("CP-1")
            await dev.send(json.dumps([2, "csr-1", "SignCertificate", {"csr": csr}]))
        elif action == "CertificateSigned":
            return key, payload["certificateChain"]


async def answer_calls(dev, answers: dict, until: str):
    """Answer the hub's calls by hand with ``answers[action]`` until ``until`` arrives; its payload."""
    while True:
        frame = json.loads(await dev.receive())
        if frame[0] != 2:
            continue
        _, call_id, action, payload = frame
        if action == until:
            return call_id, payload
        await dev.send(json.dumps([3, call_id, answers.get(action, {"status": "Accepted"})]))


@contextlib.asynccontextmanager
async def hand_station(hub, pki, **tls):
    """CP-1 written frame by frame, connected to the hub and booted."""
    tls = {**client_tls(pki, pki.chargers["CP-1"]), **tls}
    async with open_device(hub_url(hub, "/ocpp/CP-1"), subprotocols=["ocpp1.6"], **tls) as dev:
        await dev.send(json.dumps([2, "boot-1", "BootNotification", BOOT]))
        await booted(hub, "CP-1")
        yield dev


def write_identity(tmp_path, key, chain) -> dict:
    chain_file, key_file = tmp_path / "new-chain.pem", tmp_path / "new-key.pem"
    chain_file.write_text(chain)
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return {"cert": chain_file, "key": key_file}


async def test_a_station_back_with_its_new_certificate_after_a_hub_restart_has_the_old_one_revoked(tmp_path):
    pki = build_hub_pki(tmp_path / "pki")
    path = tmp_path / "hub.db"
    registry = Registry.open(path)
    registry.add_device("CP-1", profile="ocpp16")
    old = pki.store.load_index().current("CP-1")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            async with hand_station(hub, pki) as dev:
                async with operator(hub, pki, "1.6") as admin, trio.open_nursery() as calls:
                    calls.start_soon(lambda: admin.call("renew_certificate"))
                    with trio.fail_after(15):
                        key, chain = await take_chain_without_answering(dev)
        # the hub is gone before the station came back
        registry.close()
        (waiting,) = Registry.open(path).renewals(open_only=True)
        assert (waiting.state, waiting.requested_by, waiting.old_serial) == ("signed", "sam", f"{old.serial:x}")
        assert old.serial not in crl_serials(pki)

        registry = Registry.open(path)
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            async with hand_station(hub, pki, **write_identity(tmp_path, key, chain)):
                renewed = await audited(registry, "certificate-renewed")
        nursery.cancel_scope.cancel()
    assert renewed["outcome"] == "ok" and f"serial {old.serial:x} revoked" in renewed["detail"], renewed
    assert old.serial in crl_serials(pki)
    (done,) = registry.renewals()
    assert (done.state, done.new_fingerprint) == ("renewed", registry.device("CP-1").cert_fingerprint)
    assert done.old_revoked is not None
    registry.close()


async def test_at_start_a_revocation_a_crash_cut_short_is_done_and_an_unsigned_csr_is_failed(tmp_path):
    pki = build_hub_pki(tmp_path / "pki")
    registry = Registry.open(tmp_path / "hub.db")
    for name in ("CP-1", "CP-2"):
        registry.add_device(name, profile="ocpp16")
    old = pki.store.load_index().current("CP-1")
    # the previous run signed CP-1's CSR and saw CP-1 with it, then died before revoking
    _, csr = new_key_and_csr("CP-1")
    new = sign_station_csr(pki.store, csr, station_id="CP-1", password=PW)
    seen = registry.start_renewal("CP-1", at=1.0, state="signed", requested_by="sam", old_serial=old.serial)
    registry.advance_renewal(seen, at=2.0, state="seen", new_serial=new.serial, new_fingerprint=new.fingerprint)
    # ... and had accepted CP-2's CSR without signing it
    unsigned = registry.start_renewal("CP-2", at=1.0, state="csr-received")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)):
            renewed = await audited(registry, "certificate-renewed")
            failed = await audited(registry, "certificate-signed", device="CP-2")
        nursery.cancel_scope.cancel()
    assert renewed["outcome"] == "ok" and f"serial {old.serial:x} revoked" in renewed["detail"], renewed
    assert old.serial in crl_serials(pki) and new.serial not in crl_serials(pki)
    states = {r.id: (r.state, r.detail) for r in registry.renewals()}
    assert states[seen][0] == "renewed"
    assert states[unsigned] == ("failed", "the hub restarted before it signed the CSR; renew again")
    assert failed["outcome"] == "failed"
    registry.close()


async def test_stations_coming_back_together_share_one_crl_and_none_is_done_before_it(tmp_path):
    """Five stations seen with their new certificates at once: their old ones are in
    the CRL when each renewal is recorded done, and fewer CRLs were written than
    stations."""
    pki = build_hub_pki(tmp_path / "pki")
    registry = Registry.open(tmp_path / "hub.db")
    names = ["CP-1", "CP-2", "CP-3", "shelly-1", "hub"]
    olds, renewals = {}, []
    for name in names:
        olds[name] = pki.store.load_index().current(name).serial
        new = sign_station_csr(pki.store, new_key_and_csr(name)[1], station_id=name, password=PW)
        rid = registry.start_renewal(name, at=1.0, state="signed", old_serial=olds[name])
        registry.advance_renewal(rid, at=2.0, state="seen", new_serial=new.serial, new_fingerprint=new.fingerprint)
        renewals.append(registry.open_renewal(name))
    crl_before = pki.store.load_index().crl_number
    signer = CertificateSigner(pki.store, PW)
    in_crl_when_done: dict[str, bool] = {}
    real_audit = registry.audit

    def audit(**entry):
        if entry["action"] == "certificate-renewed":
            in_crl_when_done[entry["device"]] = olds[entry["device"]] in crl_serials(pki)
        return real_audit(**entry)

    async with trio.open_nursery() as nursery:
        hub = types.SimpleNamespace(registry=types.SimpleNamespace(audit=audit), nursery=nursery, wall=lambda: 3.0)
        hub.registry.advance_renewal = registry.advance_renewal
        with trio.fail_after(30):
            async with trio.open_nursery() as finishing:
                for renewal in renewals:
                    finishing.start_soon(signer._finish, hub, renewal)
    assert in_crl_when_done == dict.fromkeys(names, True)
    assert set(olds.values()) <= crl_serials(pki)
    assert pki.store.load_index().crl_number - crl_before < len(names)
    assert {r.state for r in registry.renewals()} == {"renewed"}
    registry.close()


def test_hub_certs_status_lists_the_latest_renewal_of_each_charger_or_all_of_them(tmp_path):
    from cli_runner import run_in_process

    def wsctl(*args):
        return run_in_process(*args, cwd=tmp_path, environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})

    assert wsctl("hub", "certs", "status", "--registry", "none.db").returncode == 8  # not created by a listing
    with Registry.open(tmp_path / "hub.db") as registry:
        first = registry.start_renewal("CP-1", at=1.0, state="signed", requested_by="sam", old_serial=0xAB)
        second = registry.start_renewal("CP-1", at=2.0, state="csr-received", old_serial=0xAB)
        registry.advance_renewal(second, at=3.0, state="signed", new_serial=0xCD, new_fingerprint="fp")
        registry.advance_renewal(second, at=4.0, state="failed", detail="InvalidChargePointCertificate: serial cd")
        other = registry.start_renewal("CP-2", at=5.0, state="requested", requested_by="sam")
    table = wsctl("hub", "certs", "status")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["ID", "DEVICE", "STATE", "UPDATED"]
    assert [row.split()[:3] for row in rows] == [[str(second), "CP-1", "failed"], [str(other), "CP-2", "requested"]]
    assert "station" in rows[0] and "InvalidChargePointCertificate: serial cd" in rows[0]
    listed = [
        json.loads(line) for line in wsctl("--json", "hub", "certs", "status", "CP-1", "--all").stdout.splitlines()
    ]
    assert [(r["id"], r["state"]) for r in listed] == [(first, "failed"), (second, "failed")]
    assert listed[0]["detail"] == f"replaced by renewal {second}" and listed[1]["new_serial"] == "cd"
    assert listed[1]["updated"] == "1970-01-01T00:00:04Z"
    opened = [json.loads(line) for line in wsctl("--json", "hub", "certs", "status", "--open").stdout.splitlines()]
    assert [r["device"] for r in opened] == ["CP-2"]


async def test_a_station_that_accepts_the_chain_then_reports_it_invalid_ends_the_renewal_failed(tmp_path):
    pki = build_hub_pki(tmp_path / "pki")
    registry = Registry.open(tmp_path / "hub.db")
    registry.add_device("CP-1", profile="ocpp16")
    old = pki.store.load_index().current("CP-1")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            async with hand_station(hub, pki) as dev:
                async with operator(hub, pki, "1.6") as admin, trio.open_nursery() as calls:
                    calls.start_soon(lambda: admin.call("renew_certificate"))
                    with trio.fail_after(15):
                        call_id, _ = await answer_calls(dev, {}, until="ExtendedTriggerMessage")
                        await dev.send(json.dumps([3, call_id, {"status": "Accepted"}]))
                        await dev.send(json.dumps([2, "csr-1", "SignCertificate", {"csr": new_key_and_csr("CP-1")[1]}]))
                        call_id, _ = await answer_calls(dev, {}, until="CertificateSigned")
                await dev.send(json.dumps([3, call_id, {"status": "Accepted"}]))
                with trio.fail_after(15):
                    while registry.open_renewal("CP-1").state != "accepted":
                        await trio.sleep(0.02)
                event = {"type": "InvalidChargePointCertificate", "timestamp": "2026-12-02T06:00:00Z", "techInfo": "x"}
                await dev.send(json.dumps([2, "sec-1", "SecurityEventNotification", event]))
                refused = await audited(registry, "certificate-renewed")
        nursery.cancel_scope.cancel()
    (renewal,) = registry.renewals()
    assert (renewal.state, renewal.requested_by) == ("failed", "sam")
    assert renewal.detail.startswith("InvalidChargePointCertificate: serial ")
    assert refused["outcome"] == "refused"
    assert old.serial not in crl_serials(pki)  # the station keeps working with its old certificate
    registry.close()


async def test_a_trigger_the_station_rejects_starts_no_renewal(tmp_path):
    from wsctl.core.errors import DeviceError

    pki = build_hub_pki(tmp_path / "pki")
    registry = Registry.open(tmp_path / "hub.db")
    registry.add_device("CP-1", profile="ocpp16")
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, pki, registry, signer=CertificateSigner(pki.store, PW)) as hub:
            async with hand_station(hub, pki) as dev:
                async with operator(hub, pki, "1.6") as admin, trio.open_nursery() as calls:

                    async def trigger():
                        with pytest.raises(DeviceError, match="Rejected"):
                            await admin.call("renew_certificate")

                    calls.start_soon(trigger)
                    with trio.fail_after(15):
                        call_id, _ = await answer_calls(dev, {}, until="ExtendedTriggerMessage")
                    await dev.send(json.dumps([3, call_id, {"status": "Rejected"}]))
        nursery.cancel_scope.cancel()
    assert registry.renewals() == []
    registry.close()


async def test_a_station_seen_while_signings_queue_up_is_revoked_without_waiting_for_them(tmp_path):
    """A storm queues hundreds of signings; the stations already back get their CRL
    meanwhile (with one queue for both, they waited behind every signing)."""
    pki = build_hub_pki(tmp_path / "pki")
    registry = Registry.open(tmp_path / "hub.db")
    old = pki.store.load_index().current("CP-1").serial
    new = sign_station_csr(pki.store, new_key_and_csr("CP-1")[1], station_id="CP-1", password=PW)
    rid = registry.start_renewal("CP-1", at=1.0, state="signed", old_serial=old)
    registry.advance_renewal(rid, at=2.0, state="seen", new_serial=new.serial, new_fingerprint=new.fingerprint)
    signer = CertificateSigner(pki.store, PW)
    async with trio.open_nursery() as nursery:
        hub = types.SimpleNamespace(registry=registry, nursery=nursery, wall=lambda: 3.0)
        async with signer._signing:  # a signing in progress, others queued behind it
            with trio.fail_after(30):
                await signer._finish(hub, registry.open_renewal("CP-1"))
    assert registry.renewals()[0].state == "renewed" and old in crl_serials(pki)
    registry.close()
