"""The simulated station's certificate state (wsctl.net.station_certs), without
a network: a new certificate is taken once its chain checks, dialed with at
once (only once: a central system that is down is not dialed in a loop), given
up for the old one when the connection with it is refused — reported then —
and kept when the central system merely cannot be reached."""

from __future__ import annotations

import time

import pytest

from wsctl.core.errors import ConnectError, HandshakeRejected, TLSError
from wsctl.files.profiles import load_profile
from wsctl.net.station_certs import StationCertificates
from wsctl.pki.station import sign_station_csr
from wsctl.pki.store import Store

PW = b"pw"


@pytest.fixture
def station(tmp_path):
    store = Store(tmp_path / "certs")
    store.init(name="Plant", password=PW)
    store.issue_device("CP-9", dns=["cp-9.plant"], password=PW, key_password=None)
    leaf = store.leaf_paths("device", "CP-9")
    spec = load_profile("ocpp16-charger").sim.certificates
    certs = StationCertificates(spec, station_id="CP-9", clock=time.time)
    certs.load(ca=[store.root_cert_path, store.issuing_cert_path], cert=leaf.chain, key=leaf.key, password=None)
    return store, certs


def renew(store, certs):
    csr = certs.new_csr()["csr"]
    chain = sign_station_csr(store, csr, station_id="CP-9", password=PW).paths.chain.read_text()
    return certs.command("signed", {"certificate_chain": chain})


def test_a_new_certificate_is_dialed_with_once_at_once(station):
    store, certs = station
    old = certs.current.serial
    answer = renew(store, certs)
    assert answer.payload == {"status": "Accepted"} and answer.reconnect
    assert certs.current.serial != old and certs.previous.serial == old
    assert certs.reconnect_now() and not certs.reconnect_now()
    # the central system is down: the new certificate is not to blame
    assert not certs.fell_back(ConnectError("connection refused"))
    assert not certs.fell_back(HandshakeRejected("busy", status=503))
    certs.opened()
    assert certs.previous is None and certs.current.serial != old
    assert not certs.fell_back(TLSError("alert"))  # nothing to go back to any more
    assert certs.take_events() == []


@pytest.mark.parametrize("refusal", [TLSError("alert unknown ca"), HandshakeRejected("403 Forbidden", status=403)])
def test_a_refused_new_certificate_sends_the_station_back_and_is_reported(station, refusal):
    store, certs = station
    old = certs.current.serial
    renew(store, certs)
    assert certs.fell_back(refusal)
    assert certs.current.serial == old and certs.previous is None
    (event,) = certs.take_events()
    assert event["type"] == "InvalidChargePointCertificate" and "failed at reconnection" in event["techInfo"]
    assert len(event["techInfo"]) <= 255 and certs.take_events() == []


def test_a_chain_nobody_asked_for_is_rejected_and_reported(station):
    store, certs = station
    renew(store, certs)  # the CSR's key is used up
    again = certs.command("signed", {"certificate_chain": store.leaf_paths("device", "CP-9").chain.read_text()})
    assert again.payload == {"status": "Rejected"} and again.result == "rejected" and not again.reconnect
    assert "no CSR is outstanding" in again.detail
    assert again.events[0]["type"] == "InvalidChargePointCertificate"
