"""The Store: layout, issuing, renewal, revocation, refusals that leave the store unchanged."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pki_helpers import CA_PASS, audit_lines, snapshot

from wsctl.core.errors import InvalidInput, PasswordError, StoreError
from wsctl.pki.store import Store


def load(path):
    return x509.load_pem_x509_certificates(path.read_bytes())


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


def test_init_writes_documented_layout_private_and_encrypted(store):
    root = store.path
    for rel in (
        "ca/root.crt",
        "ca/root.key",
        "ca/issuing.crt",
        "ca/issuing.key",
        "ca/crl.pem",
        "ca/crl.der",
        "index.json",
        "audit.log",
    ):
        assert (root / rel).is_file(), rel
        assert stat.S_IMODE((root / rel).stat().st_mode) == 0o600, rel
    for d in (root, root / "ca", root / "devices", root / "operators"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert b"ENCRYPTED PRIVATE KEY" in store.root_key_path.read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in store.issuing_key_path.read_bytes()
    crl = x509.load_der_x509_crl(store.crl_der_path.read_bytes())
    assert len(crl) == 0 and crl.is_signature_valid(store.issuing_cert().public_key())


def test_ca_certificates_profile(store):
    root, issuing = store.root_cert(), store.issuing_cert()
    bc = ext(issuing, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert ext(root, x509.BasicConstraints).critical
    for cert in (root, issuing):
        ku = ext(cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and ku.value.digital_signature
        ext(cert, x509.SubjectKeyIdentifier)
        ext(cert, x509.AuthorityKeyIdentifier)
    lifetime = lambda c: (c.not_valid_after_utc - c.not_valid_before_utc).days  # noqa: E731
    assert lifetime(root) == 3650 and lifetime(issuing) == 1825
    assert issuing.issuer == root.subject
    # backdated by five minutes for devices with a slow clock
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=4) < now - issuing.not_valid_before_utc < dt.timedelta(minutes=7)


def test_init_refuses_existing_ca_and_force_archives_it(store):
    before = snapshot(store.path)
    with pytest.raises(StoreError, match="already exists"):
        store.init(password=CA_PASS)
    assert snapshot(store.path) == before
    old_root = store.root_cert_path.read_bytes()
    with pytest.raises(PasswordError, match="needs the passphrase of the current one"):
        store.init(password=CA_PASS, force=True)
    with pytest.raises(PasswordError, match="wrong passphrase .* the current CA is not replaced"):
        store.init(password=CA_PASS, force=True, current_password=b"not-the-ca-pass")
    assert snapshot(store.path) == before
    archive = store.init(password=CA_PASS, force=True, current_password=CA_PASS)
    assert store.root_cert_path.read_bytes() != old_root
    archived = list((store.path / "archive").glob("*/ca/root.crt"))
    assert len(archived) == 1 and archived[0].read_bytes() == old_root
    assert archive == archived[0].parent.parent
    assert (archive / "index.json").read_bytes() == before["index.json"][0]
    assert [(a["action"], a["result"]) for a in audit_lines(store)][-3:] == [
        ("init", "error"),
        ("init", "error"),
        ("init", "ok"),
    ]


def test_issue_device_profile(store):
    entry = store.issue_device(
        "plc-1", dns=["PLC-1.plant.local"], ips=["10.0.0.1", "fd00::1"], password=CA_PASS, key_password=b"leaf-pass"
    )
    leaf, issuing = load(entry.paths.chain)
    assert load(entry.paths.cert)[0] == leaf and issuing == store.issuing_cert()
    san = ext(leaf, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["plc-1.plant.local"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("fd00::1"),
    ]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:wsctl:device:plc-1"]
    # a device may listen and dial (issue 11): both TLS ends
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    bc, ku = ext(leaf, x509.BasicConstraints), ext(leaf, x509.KeyUsage)
    assert bc.critical and not bc.value.ca and ku.critical and ku.value.digital_signature
    assert not ku.value.key_cert_sign
    assert [e.oid for e in leaf.extensions if e.critical] == [x509.OID_BASIC_CONSTRAINTS, x509.OID_KEY_USAGE]
    assert 0 < leaf.serial_number < 2**159 and leaf.serial_number.bit_length() > 120
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 365
    assert b"ENCRYPTED PRIVATE KEY" in entry.paths.key.read_bytes()
    assert stat.S_IMODE(entry.paths.key.stat().st_mode) == 0o600
    assert entry.paths == store.leaf_paths("device", "plc-1")
    assert [e.name for e in store.entries()] == ["plc-1"]


def test_issue_operator_role_and_identity(store):
    entry = store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    leaf = load(entry.paths.cert)[0]
    assert [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == ["engineer"]
    san = ext(leaf, x509.SubjectAlternativeName).value
    assert list(san) == [x509.UniformResourceIdentifier("urn:wsctl:operator:alice")]
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 30
    assert b"BEGIN PRIVATE KEY" in entry.paths.key.read_bytes()  # key_password=None: plain
    assert entry.role == "engineer" and entry.kind == "operator" and entry.status == "valid"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda s: s.issue_device("plc", ips=["10.0.0.300"], password=CA_PASS, key_password=None),
            InvalidInput,
            "invalid IP",
        ),
        (
            lambda s: s.issue_device("plc", dns=["bad_host!"], password=CA_PASS, key_password=None),
            InvalidInput,
            "invalid DNS",
        ),
        (
            lambda s: s.issue_device("plc", dns=["-x.local"], password=CA_PASS, key_password=None),
            InvalidInput,
            "invalid DNS",
        ),
        (lambda s: s.issue_device("plc", password=CA_PASS, key_password=None), InvalidInput, "at least one"),
        (
            lambda s: s.issue_device("../evil", ips=["10.0.0.1"], password=CA_PASS, key_password=None),
            InvalidInput,
            "invalid name",
        ),
        (
            lambda s: s.issue_operator("bob", role="root", password=CA_PASS, key_password=None),
            InvalidInput,
            "unknown role",
        ),
        (
            lambda s: s.issue_operator("bob", role="engineer", password=b"wrong", key_password=None),
            PasswordError,
            "wrong passphrase",
        ),
        (
            lambda s: s.issue_device("plc", ips=["10.0.0.1"], days=4000, password=CA_PASS, key_password=None),
            InvalidInput,
            "outlives",
        ),
        (lambda s: s.revoke("nobody", password=CA_PASS), StoreError, "no certificate named"),
        (lambda s: s.revoke("alice", reason="because", password=CA_PASS), InvalidInput, "reason"),
        (
            lambda s: s.issue_operator("alice", role="observer", password=CA_PASS, key_password=None),
            StoreError,
            "already exists",
        ),
        (lambda s: s.write_crl(password=b"nope"), PasswordError, "wrong passphrase"),
    ],
)
def test_bad_input_is_refused_and_store_unchanged(store, call, error, message):
    store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    before = snapshot(store.path)
    with pytest.raises(error, match=message):
        call(store)
    assert snapshot(store.path) == before


def test_custom_role_only_when_allowed(store):
    entry = store.issue_operator("bob", role="line-lead", allow_custom_role=True, password=CA_PASS, key_password=None)
    assert entry.role == "line-lead"
    with pytest.raises(InvalidInput):
        store.issue_operator("eve", role="Bad Role", allow_custom_role=True, password=CA_PASS, key_password=None)


def test_missing_store(tmp_path):
    s = Store(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="no PKI store"):
        s.issue_device("x", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    with pytest.raises(StoreError, match="no PKI store"):
        s.entries()
    assert not (tmp_path / "nowhere").exists()


def test_revoke_updates_crl_and_refuses_twice(store):
    alice = store.issue_operator("alice", role="operator", password=CA_PASS, key_password=None)
    store.issue_operator("bob", role="operator", password=CA_PASS, key_password=None)
    entry = store.revoke("alice", reason="key-compromise", password=CA_PASS)
    assert entry.status == "revoked" and entry.reason == "key-compromise"
    for crl in (
        x509.load_der_x509_crl(store.crl_der_path.read_bytes()),
        x509.load_pem_x509_crl(store.crl_pem_path.read_bytes()),
    ):
        revoked = crl.get_revoked_certificate_by_serial_number(alice.serial)
        assert revoked is not None and len(crl) == 1
        assert (
            revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
        )
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    before = snapshot(store.path)
    with pytest.raises(StoreError, match="already revoked"):
        store.revoke(format(alice.serial, "x"), password=CA_PASS)
    assert snapshot(store.path) == before
    # a revoked name may be issued again (a replacement), and the old serial stays on the CRL
    again = store.issue_operator("alice", role="operator", password=CA_PASS, key_password=None)
    store.write_crl(days=7, password=CA_PASS)
    crl = store.load_crl()
    assert crl.get_revoked_certificate_by_serial_number(alice.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(again.serial) is None
    assert (crl.next_update_utc - crl.last_update_utc) < dt.timedelta(days=7, minutes=6)


def test_revoke_by_serial_with_colons(store):
    entry = store.issue_device("plc", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    hexed = format(entry.serial, "x")
    with_colons = ":".join(hexed[i : i + 2] for i in range(0, len(hexed), 2))
    assert store.revoke(with_colons.upper(), password=CA_PASS).serial == entry.serial


def test_renew_keeps_key_and_names_rekey_replaces_key(store):
    first = store.issue_device(
        "plc", dns=["plc.local"], ips=["10.0.0.1"], days=100, password=CA_PASS, key_password=CA_PASS
    )
    key_before = first.paths.key.read_bytes()
    cert_before = load(first.paths.cert)[0]
    second = store.renew("plc", password=CA_PASS)
    cert = load(second.paths.cert)[0]
    assert second.serial != first.serial and cert.public_key() == cert_before.public_key()
    assert first.paths.key.read_bytes() == key_before
    assert ext(cert, x509.SubjectAlternativeName).value == ext(cert_before, x509.SubjectAlternativeName).value
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 100
    statuses = {e.serial: e.status for e in store.entries()}
    assert statuses == {first.serial: "superseded", second.serial: "valid"}
    third = store.renew("plc", days=10, rekey=True, password=CA_PASS, key_password=None)
    assert load(third.paths.cert)[0].public_key() != cert.public_key()
    assert b"BEGIN PRIVATE KEY" in third.paths.key.read_bytes()
    with pytest.raises(StoreError, match="already renewed"):
        store.renew(format(first.serial, "x"), password=CA_PASS)
    store.revoke("plc", password=CA_PASS)
    with pytest.raises(StoreError, match="revoked"):
        store.renew("plc", password=CA_PASS)
    assert [a["action"] for a in audit_lines(store)].count("renew") == 4  # 2 ok + 2 refused


def test_wrong_passphrase_is_a_password_error_even_when_the_padding_happens_to_fit(tmp_path):
    # AES-CBC with a wrong key passes the padding check about once in 256 tries;
    # the garbage then fails to parse: that must still read as a wrong passphrase
    from cryptography.hazmat.primitives.asymmetric import ec

    from wsctl.pki.keys import load_private_key, serialize_private_key

    pem = serialize_private_key(ec.generate_private_key(ec.SECP256R1()), b"right")
    # (padding fits) -> the messages seen; about 1 try in 256 fits, so 5000 tries
    # miss it with a probability of ~3e-9
    kinds: dict[bool, str] = {}
    for attempt in range(5000):
        with pytest.raises(PasswordError) as info:
            load_private_key(pem, f"wrong-{attempt}".encode(), source="k.pem")
        kinds.setdefault("damaged" in str(info.value), str(info.value))
        if len(kinds) == 2:
            break
    assert kinds == {
        False: "wrong passphrase for k.pem",
        True: "wrong passphrase for k.pem (or the key file is damaged)",
    }


def test_issuing_a_name_anew_supersedes_its_expired_certificate_but_not_a_valid_one(store, monkeypatch):
    from wsctl.pki import builder

    past = builder.now() - dt.timedelta(days=3)
    with monkeypatch.context() as m:
        m.setattr(builder, "now", lambda: past)
        old = store.issue_device("plc-9", dns=["plc-9.plant"], days=1, password=CA_PASS, key_password=None)
    assert store.find("plc-9").effective_status() == "expired"
    new = store.issue_device("plc-9", dns=["plc-9.plant"], days=30, password=CA_PASS, key_password=None)
    index = store.load_index()
    assert (
        index.by_serial(old.serial).status == "superseded" and index.by_serial(old.serial).superseded_by == new.serial
    )
    assert store.find("plc-9").serial == new.serial
    with pytest.raises(StoreError, match="plc-9' already exists"):
        store.issue_device("plc-9", dns=["plc-9.plant"], days=30, password=CA_PASS, key_password=None)
