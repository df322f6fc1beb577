"""Which files a restarted station dials with after a renewal wrote
chain.SERIAL.pem / key.SERIAL.pem beside its old ones
(wsctl.net.station_certs.renewed_beside, used by `serve --dial`)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wsctl.net.station_certs import renewed_beside

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def write_pair(directory, chain_name, key_name, not_before):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CP-1")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    (directory / chain_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key_name:
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (directory / key_name).write_bytes(pem)
    return directory / chain_name, directory / (key_name or "none")


def test_the_newest_renewed_pair_wins_over_older_files(tmp_path):
    chain, key = write_pair(tmp_path, "chain.pem", "key.pem", T0)
    assert renewed_beside(chain, key) is None
    write_pair(tmp_path, "chain.aa.pem", "key.aa.pem", T0 + dt.timedelta(days=1))
    newest = write_pair(tmp_path, "chain.bb.pem", "key.bb.pem", T0 + dt.timedelta(days=2))
    write_pair(tmp_path, "chain.cc.pem", None, T0 + dt.timedelta(days=3))  # no key beside it: not usable
    assert renewed_beside(chain, key) == newest


def test_a_store_the_hub_renewed_in_has_lost_the_old_key(tmp_path):
    # the hub's signing replaced chain.pem with the new certificate and removed key.pem
    renewed = write_pair(tmp_path, "chain.bb.pem", "key.bb.pem", T0)
    (tmp_path / "chain.pem").write_bytes(renewed[0].read_bytes())
    assert renewed_beside(tmp_path / "chain.pem", tmp_path / "key.pem") == renewed


def test_files_older_than_the_current_one_are_left_alone(tmp_path):
    write_pair(tmp_path, "chain.aa.pem", "key.aa.pem", T0)
    chain, key = write_pair(tmp_path, "chain.pem", "key.pem", T0 + dt.timedelta(days=1))
    assert renewed_beside(chain, key) is None
