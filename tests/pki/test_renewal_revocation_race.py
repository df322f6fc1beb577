"""A renewal never un-revokes: a revocation that commits between a renewal's checks
(made without the store lock) and its own commit wins, for an EST re-enrollment and
for `Store.renew`, and the revoked serial stays on every later CRL.

The interleaving is forced in one process: the store's `_issue` (where the renewal
takes the lock) first runs the operator's `revoke`, as if it had won the lock."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pki_helpers import CA_PASS, audit_lines

from wsctl.core.errors import StoreError
from wsctl.pki.csr import create_csr
from wsctl.pki.enrollment_db import EnrollmentBook
from wsctl.pki.est_auth import Authenticator, Credentials
from wsctl.pki.est_enroll import Enroller
from wsctl.pki.est_labels import Label


def revoke_first(store, monkeypatch, name: str) -> None:
    """Make the next renewal of STORE find NAME revoked once it holds the lock."""
    real_issue = store._issue

    def issue_after_a_revoke(*args, **kwargs):
        monkeypatch.setattr(store, "_issue", real_issue)
        store.revoke(name, reason="keyCompromise", password=CA_PASS)
        return real_issue(*args, **kwargs)

    monkeypatch.setattr(store, "_issue", issue_after_a_revoke)


def on_next_crl(store, serial: int) -> bool:
    store.write_crl(password=CA_PASS)  # any later CRL: the next revoke, a scheduled 'certs crl'
    crl = store.load_crl()
    assert crl is not None
    return crl.get_revoked_certificate_by_serial_number(serial) is not None


def assert_still_revoked(store, serial: int, name: str) -> None:
    index = store.load_index()
    assert index.by_serial(serial).status == "revoked"
    assert [e.serial for e in index.entries if e.name == name] == [serial], "a renewal was committed"
    assert on_next_crl(store, serial)


def test_an_est_reenrollment_racing_a_revocation_is_refused_and_the_serial_stays_on_the_crl(store, monkeypatch):
    old = store.issue_device("plc", dns=["plc.plant"], password=CA_PASS, key_password=None)
    current = store.leaf_cert(old).public_bytes(Encoding.DER)
    book = EnrollmentBook(store.path)
    enroller = Enroller(store, book, [Label("device")], CA_PASS, Authenticator(book, [], {}))
    _, csr = create_csr("plc")
    revoke_first(store, monkeypatch, "plc")

    answer = enroller.enroll(
        "device",
        "simplereenroll",
        Credentials("192.0.2.7:40000", client_cert=current),
        b"application/pkcs10",
        base64.b64encode(csr.public_bytes(Encoding.DER)),
    )

    assert answer.status == 403, answer.body
    assert b"revoked (key-compromise)" in answer.body
    assert_still_revoked(store, old.serial, "plc")
    renew_line, est_line = [line for line in audit_lines(store) if line["action"] in ("renew", "est-simplereenroll")]
    assert (renew_line["result"], est_line["result"], est_line["status"]) == ("error", "error", 403)
    assert est_line["subject"] == "device:plc"


def test_store_renew_racing_a_revocation_is_refused(store, monkeypatch):
    old = store.issue_device("plc", dns=["plc.plant"], password=CA_PASS, key_password=None)
    revoke_first(store, monkeypatch, "plc")
    with pytest.raises(StoreError, match="is revoked"):
        store.renew("plc", password=CA_PASS)
    assert_still_revoked(store, old.serial, "plc")


def test_store_renew_of_a_revoked_certificate_is_refused(store):
    old = store.issue_device("plc", dns=["plc.plant"], password=CA_PASS, key_password=None)
    store.revoke("plc", reason="keyCompromise", password=CA_PASS)
    for name_or_serial in ("plc", format(old.serial, "x")):
        with pytest.raises(StoreError, match="revoked"):
            store.renew(name_or_serial, password=CA_PASS)
    assert_still_revoked(store, old.serial, "plc")


def test_committing_a_renewal_never_overwrites_a_revocation(store):
    """The last line of defence, below the locked check: `_commit_leaves` itself."""
    from wsctl.pki import builder
    from wsctl.pki.issuing import _Leaf, _live_by_name

    old = store.issue_device("plc", dns=["plc.plant"], password=CA_PASS, key_password=None)
    store.revoke("plc", password=CA_PASS)
    with store._operation("renew", "device:plc"):
        index = store.load_index()
        issuing, issuing_key = store._issuing(CA_PASS)
        spec = builder.LeafSpec(kind="device", name="plc", dns=("plc.plant",), days=30)
        leaf = _Leaf(spec, renewing=index.by_serial(old.serial))
        store._commit_leaves(index, _live_by_name(index), [leaf], issuing, issuing_key, None, "p256")
    assert store.load_index().by_serial(old.serial).status == "revoked"
    assert on_next_crl(store, old.serial)
