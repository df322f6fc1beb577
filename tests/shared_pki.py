"""The test PKI most folders share (the `pki` fixture of tests/conftest.py), made by
wsctl.pki.store.Store: one CA with devices plc-17, plc-17-new (the same names,
re-provisioned) and plc; operators alice (engineer), bob (observer), mallory
(revoked), carol (operator, key encrypted with b"secret"); an expired device
certificate; and a second CA nobody trusts.

The expired device certificate is built here with `cryptography`, signed by the
store's issuing key: the store (rightly) refuses ``days <= 0`` and has no
back-dating option, and an expired certificate is the only way to test that the
client reports expiry as such.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from wsctl.pki.store import Store

#: the passphrase of the CA's issuing key
PW = b"pw"


@dataclasses.dataclass
class PKI:
    store: Store
    root: Path
    crl: Path
    device: object  # LeafPaths: .cert .chain .key
    alice: object  # operator, role engineer
    bob: object  # operator, role observer
    mallory: object  # operator, revoked
    carol: object  # operator whose key is encrypted with b"secret"
    device2: object  # a second certificate for the same names (re-provisioned device)
    expired_chain: Path
    expired_key: Path
    other_root: Path  # a CA nobody trusts
    other_device: object  # device cert from the untrusted CA
    other_operator: object


def _expired_device(store: Store, out: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from wsctl.pki import keys

    issuing = x509.load_pem_x509_certificate(store.issuing_cert_path.read_bytes())
    issuing_key = keys.load_private_key(store.issuing_key_path.read_bytes(), PW, source=store.issuing_key_path)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-plc")]))
        .issuer_name(issuing.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(issuing_key, hashes.SHA256())
    )
    chain = out / "expired-chain.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + issuing.public_bytes(serialization.Encoding.PEM))
    key_path = out / "expired-key.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, key_path


def build_pki(base: Path) -> PKI:
    store = Store(base / "store")
    store.init(name="Test CA", key_type="p256", password=PW)
    store.issue_device("plc-17", dns=["localhost"], ips=["127.0.0.1"], days=365, password=PW, key_password=None)
    store.issue_operator("alice", role="engineer", days=30, password=PW, key_password=None)
    store.issue_operator("bob", role="observer", days=30, password=PW, key_password=None)
    store.issue_operator("mallory", role="engineer", days=30, password=PW, key_password=None)
    store.issue_operator("carol", role="operator", days=30, password=PW, key_password=b"secret")
    store.issue_device("plc-17-new", dns=["localhost"], ips=["127.0.0.1"], days=365, password=PW, key_password=None)
    # the simulator tests' device (tests/sim/conftest.py)
    store.issue_device("plc", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    store.revoke("mallory", reason="keyCompromise", password=PW)
    expired_chain, expired_key = _expired_device(store, base)
    other = Store(base / "other")
    other.init(name="Rogue CA", key_type="p256", password=PW)
    other.issue_device("fake", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    other.issue_operator("eve", role="engineer", days=30, password=PW, key_password=None)
    return PKI(
        store=store,
        root=store.root_cert_path,
        crl=store.crl_pem_path,
        device=store.leaf_paths("device", "plc-17"),
        alice=store.leaf_paths("operator", "alice"),
        bob=store.leaf_paths("operator", "bob"),
        mallory=store.leaf_paths("operator", "mallory"),
        carol=store.leaf_paths("operator", "carol"),
        device2=store.leaf_paths("device", "plc-17-new"),
        expired_chain=expired_chain,
        expired_key=expired_key,
        other_root=other.root_cert_path,
        other_device=other.leaf_paths("device", "fake"),
        other_operator=other.leaf_paths("operator", "eve"),
    )
