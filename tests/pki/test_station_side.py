"""What a simulated station checks before it takes a chain (wsctl.pki.station_side):
it verifies to a root it holds (never an issuing CA), is valid now, certifies
the key of its CSR and names the station; what InstallCertificate accepts;
which root a certificateHashData names."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from pki_helpers import CA_PASS

from wsctl.core.errors import InvalidInput
from wsctl.pki.ocpp_hash import self_signed_hash_data
from wsctl.pki.station import sign_station_csr
from wsctl.pki.station_side import check_signed_chain, load_root, names_root, new_key_and_csr, roots_of
from wsctl.pki.store import Store


def certs_of(path):
    return x509.load_pem_x509_certificates(path.read_bytes())


def now():
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def signed(store):
    key, csr = new_key_and_csr("CP-9")
    entry = sign_station_csr(store, csr, station_id="CP-9", password=CA_PASS)
    return key, entry.paths.chain.read_text()


def test_the_csr_is_p256_for_the_station_id():
    key, csr = new_key_and_csr("CP-9")
    request = x509.load_pem_x509_csr(csr.encode())
    assert request.is_signature_valid and request.public_key().curve.name == "secp256r1"
    assert request.subject.rfc4514_string() == "CN=CP-9"


def test_a_good_chain_is_taken(store, signed):
    key, chain = signed
    anchors = roots_of(certs_of(store.root_cert_path) + certs_of(store.issuing_cert_path))
    assert [c.subject for c in anchors] == [certs_of(store.root_cert_path)[0].subject]
    taken = check_signed_chain(chain, anchors=anchors, key=key, station_id="CP-9", now=now())
    assert taken[0].public_key().public_numbers() == key.public_key().public_numbers()


def test_what_the_station_refuses(store, signed, tmp_path):
    key, chain = signed
    root = certs_of(store.root_cert_path)
    other_key, _ = new_key_and_csr("CP-9")
    other = Store(tmp_path / "other")
    other.init(name="Other", password=CA_PASS)
    cases = [
        (dict(key=other_key), "not for the key of this station's CSR"),
        (dict(station_id="CP-8"), "names CP-9, not this station CP-8"),
        (dict(anchors=certs_of(other.root_cert_path)), "does not verify"),
        # an issuing CA is not a trust anchor for the station
        (
            dict(
                anchors=certs_of(store.issuing_cert_path),
                chain=chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n",
            ),
            "holds no root",
        ),
        (dict(now=now() + dt.timedelta(days=400)), "does not verify"),
        (dict(key=None), "no CSR is outstanding"),
        (dict(anchors=[]), "holds no root"),
        (dict(chain="garbage"), "not PEM certificates"),
        (dict(chain="x" * 10001), "OCPP allows 10000"),
    ]
    for change, words in cases:
        given = dict(chain=chain, anchors=root, key=key, station_id="CP-9", now=now()) | change
        with pytest.raises(InvalidInput, match=words):
            check_signed_chain(given.pop("chain"), **given)


def test_install_takes_one_self_signed_ca(store):
    assert load_root(store.root_cert_path.read_text()).subject == certs_of(store.root_cert_path)[0].subject
    with pytest.raises(InvalidInput, match="not a root"):
        load_root(store.issuing_cert_path.read_text())
    with pytest.raises(InvalidInput, match="carries one root"):
        load_root(store.root_cert_path.read_text() + store.issuing_cert_path.read_text())
    with pytest.raises(InvalidInput, match="not a PEM certificate"):
        load_root("nothing")


def test_hash_data_names_its_root_whatever_the_case_and_leading_zeros(store):
    (root,) = certs_of(store.root_cert_path)
    for algorithm in ("SHA256", "SHA384", "SHA512"):
        data = self_signed_hash_data(root, algorithm)
        assert names_root(root, data)
        shouted = {
            **data,
            "issuerNameHash": data["issuerNameHash"].upper(),
            "serialNumber": "00" + data["serialNumber"],
        }
        assert names_root(root, shouted)
    data = self_signed_hash_data(root)
    assert not names_root(root, {**data, "serialNumber": "1"})
    assert not names_root(root, {**data, "hashAlgorithm": "MD5"})
    assert not names_root(root, "not an object")


def test_a_vendor_csms_certificate_without_subject_alt_name_is_taken():
    """OCPP names the station by the subject's CN; a CSMS that writes no SAN is right."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    start = now() - dt.timedelta(hours=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Vendor CSMS Root")])
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)  # fmt: skip
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
        .serial_number(1).not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    key, _ = new_key_and_csr("CP-9")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "CSO"),
                                 x509.NameAttribute(x509.NameOID.COMMON_NAME, "CP-9")]))
        .issuer_name(root_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(root_key, hashes.SHA256())
    )  # fmt: skip
    chain = leaf.public_bytes(Encoding.PEM).decode()
    assert check_signed_chain(chain, anchors=[root], key=key, station_id="CP-9", now=now()) == [leaf]
    with pytest.raises(InvalidInput, match="names CP-9, not this station CP-8"):
        check_signed_chain(chain, anchors=[root], key=key, station_id="CP-8", now=now())
