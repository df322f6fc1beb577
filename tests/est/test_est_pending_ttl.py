"""Enrollments waiting for a person expire (`wsctl certs est --pending-ttl`, default
7 days): after it the device's next try is refused (403) and audited, the operator
can no longer approve it, `certs pending` no longer lists it as waiting; each
expiry has one `est-expire` audit line.  An enroll.db of the first version is
upgraded in place, its requests never expiring."""

from __future__ import annotations

import json
import sqlite3

from cli_runner import run_in_process
from est_helpers import PW, audit_lines, store_snapshot
from test_est_cli import _basic_enroller, _csr_body, one_error

from wsctl.pki.enrollment_db import EnrollmentBook
from wsctl.pki.est_auth import Credentials

CREDS = Credentials("10.0.0.7:4000", basic=("cam-7", "cam-7-password-123"))


def wsctl(plant, *args: str):
    return run_in_process(*args, environ={"WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path)})


def expire_pending(plant) -> None:
    """Move every pending request's expiry into the past (instead of waiting out a TTL)."""
    with sqlite3.connect(plant.book.path) as db:
        db.execute("UPDATE pending SET expires = expires - 86400 * 30")


def enroll(enroller, body):
    return enroller.enroll("cams", "simpleenroll", CREDS, b"application/pkcs10", body)


def test_an_expired_enrollment_is_refused_at_the_next_try_and_audited_once(plant):
    enroller = _basic_enroller(plant, "cams:auth=basic")
    body = _csr_body("cam-7")
    assert enroll(enroller, body).status == 202
    [row] = plant.book.pending()
    assert row.expires is not None and 7 * 86400 - 60 < row.expires - row.created <= 7 * 86400
    expire_pending(plant)
    before = store_snapshot(plant)
    refused = enroll(enroller, body)
    assert refused.status == 403 and b"expired before an operator approved it" in refused.body
    again = enroll(enroller, body)  # still refused: a new key and CSR ask anew
    assert again.status == 403
    assert store_snapshot(plant) == before
    lines = audit_lines(plant)
    expired = [line for line in lines if line["action"] == "est-expire"]
    assert [(e["subject"], e["result"], e["request"]) for e in expired] == [("device:cam-7", "expired", row.id)]
    assert [(line["result"], line["status"]) for line in lines if line["action"] == "est-simpleenroll"] == [
        ("pending", 202),
        ("error", 403),
        ("error", 403),
    ]
    fresh = enroll(enroller, _csr_body("cam-7"))  # a new key: a new request
    assert fresh.status == 202 and [r.status for r in plant.book.pending()] == ["pending"]


def test_an_expired_enrollment_cannot_be_approved_or_rejected_and_is_not_listed_as_waiting(plant):
    enroller = _basic_enroller(plant, "cams:auth=basic")
    assert enroll(enroller, _csr_body("cam-7")).status == 202
    [row] = plant.book.pending()
    expire_pending(plant)
    assert wsctl(plant, "--json", "certs", "pending").stdout == ""
    listed = [json.loads(line) for line in wsctl(plant, "--json", "certs", "pending", "--all").stdout.splitlines()]
    assert [(r["id"], r["status"]) for r in listed] == [(row.id, "expired")]
    assert "expired before it was approved" in one_error(wsctl(plant, "certs", "approve", row.id), 1)
    assert "expired before it was approved" in one_error(wsctl(plant, "certs", "approve", row.id, "--reject"), 1)
    assert plant.store.load_index().current("cam-7") is None
    assert len([line for line in audit_lines(plant) if line["action"] == "est-expire"]) == 1


def test_a_request_within_its_time_is_approved_as_before_and_the_listing_says_until_when(plant):
    enroller = _basic_enroller(plant, "cams:auth=basic")
    body = _csr_body("cam-7")
    assert enroll(enroller, body).status == 202
    [row] = plant.book.pending()
    assert "until 20" in wsctl(plant, "certs", "pending").stdout
    assert wsctl(plant, "certs", "approve", row.id, "--dns", "cam-7.plant.local").returncode == 0
    assert enroll(enroller, body).status == 200


def test_est_refuses_a_pending_ttl_that_is_not_a_duration(plant):
    out = wsctl(plant, "certs", "est", "--device", "est", "--pending-ttl", "soon")
    assert "--pending-ttl: 'soon' is not a duration" in one_error(out, 8)


def test_a_first_version_enroll_db_is_upgraded_and_its_requests_never_expire(plant):
    path = plant.book.path
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE codes (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, dns TEXT NOT NULL,"
            " ips TEXT NOT NULL, role TEXT, days INTEGER, secret_hash TEXT NOT NULL, created REAL NOT NULL,"
            " expires REAL NOT NULL, used_at REAL, used_by TEXT);"
            "CREATE TABLE pending (id TEXT PRIMARY KEY, label TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"
            " auth TEXT NOT NULL, client TEXT NOT NULL, csr BLOB NOT NULL, csr_sha256 TEXT NOT NULL,"
            " dns TEXT NOT NULL, role TEXT, days INTEGER, status TEXT NOT NULL, serial TEXT, created REAL NOT NULL,"
            " decided REAL);"
            "INSERT INTO pending VALUES ('0ld1d000', 'cams', 'device', 'cam-1', 'basic', 'x', x'00', 'h', '[]',"
            " NULL, NULL, 'pending', NULL, 1.0, NULL);"
            "PRAGMA user_version=1;"
        )
    book = EnrollmentBook(plant.store.path)
    assert book.expire_due() == []
    [old] = book.pending()
    assert (old.id, old.expires, old.status) == ("0ld1d000", None, "pending")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
