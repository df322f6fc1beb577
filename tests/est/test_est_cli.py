"""The EST verbs of `wsctl certs`: enroll-code, pending, approve, est-user, and the
refusals of `est` before it listens (one line, the right exit code)."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_in_process
from est_helpers import PW

from wsctl.pki.enrollment_db import EnrollmentBook
from wsctl.pki.est_auth import Authenticator, Credentials, load_basic_users
from wsctl.pki.est_enroll import Enroller
from wsctl.pki.est_labels import parse_label
from wsctl.registry.secret_hash import verify_secret


def wsctl(plant, *args: str, **extra: str):
    environ = {"WSCTL_PASSWORD": PW.decode(), "WSCTL_CERTS": str(plant.store.path), **extra}
    return run_in_process(*args, environ=environ)


def one_error(result, code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("wsctl: hint:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("wsctl: error: "), result.stderr
    return lines[0]


def test_enroll_code_is_shown_once_and_stored_hashed(plant):
    result = wsctl(plant, "--json", "certs", "enroll-code", "plc-18", "--dns", "PLC-18.plant.local", "--ttl", "15m")
    assert result.returncode == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["dns"] == ["plc-18.plant.local"] and obj["kind"] == "device" and len(obj["code"]) >= 32
    [code] = EnrollmentBook(plant.store.path).codes()
    import datetime as dt

    left = code.expires - dt.datetime.now(dt.UTC).timestamp()
    assert 800 < left <= 900 and code.dns == ("plc-18.plant.local",)  # --ttl 15m
    raw = plant.book.path.read_bytes()
    assert obj["code"].encode() not in raw and obj["code"] not in plant.store.audit_path.read_text()
    assert plant.book.check_code("plc-18", obj["code"])[1] == "ok"
    assert oct(plant.book.path.stat().st_mode & 0o777) == "0o600"


def test_a_new_code_voids_the_unused_one(plant):
    first, _ = plant.book.issue_code("plc-18", kind="device", ttl=60, dns=["a.local"])
    second, _ = plant.book.issue_code("plc-18", kind="device", ttl=60, dns=["a.local"])
    assert plant.book.check_code("plc-18", first)[0] is None
    assert plant.book.check_code("plc-18", second)[1] == "ok"


@pytest.mark.parametrize(
    "args, text",
    [
        (("plc-18",), "needs at least one --dns or --ip"),
        (("plc-18", "--ip", "10.0.0.1", "--ttl", "0h"), "not a duration"),
        (("plc-18", "--ip", "10.0.0.1", "--ttl", "soon"), "not a duration"),
        (("bad name", "--ip", "10.0.0.1"), "invalid name"),
        (("carol", "--operator"), "role"),
        (("carol", "--operator", "--role", "engineer", "--dns", "x.local"), "carries no --dns"),
    ],
)
def test_enroll_code_refuses_bad_input_with_exit_8(plant, args, text):
    assert text in one_error(wsctl(plant, "certs", "enroll-code", *args), 8)
    assert EnrollmentBook(plant.store.path).codes() == []


def _basic_enroller(plant, spec: str):
    from wsctl.registry.secret_hash import hash_secret

    users = {"cam-7": hash_secret("cam-7-password-123")}
    labels = [parse_label(spec)]
    return Enroller(plant.store, plant.book, labels, PW, Authenticator(plant.book, [], users), retry_after=5)


def _csr_body(name: str) -> bytes:
    import base64

    from cryptography.hazmat.primitives.serialization import Encoding

    from wsctl.pki.csr import create_csr

    return base64.b64encode(create_csr(name, dns=["asked-for.example"])[1].public_bytes(Encoding.DER))


def test_pending_and_approve_with_names_then_the_device_gets_them(plant):
    enroller = _basic_enroller(plant, "cams:auth=basic")
    creds = Credentials("10.0.0.7:4000", basic=("cam-7", "cam-7-password-123"))
    body = _csr_body("cam-7")
    waiting = enroller.enroll("cams", "simpleenroll", creds, b"application/pkcs10", body)
    assert waiting.status == 202 and ("Retry-After", "5") in waiting.headers
    listed = wsctl(plant, "certs", "pending")
    assert "cam-7" in listed.stdout and "DNS:asked-for.example: ignored" in listed.stdout
    [row] = plant.book.pending()
    approved = wsctl(plant, "--json", "certs", "approve", row.id, "--dns", "cam-7.plant.local", "--ip", "10.0.0.77")
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["dns"] == ["cam-7.plant.local"]
    done = enroller.enroll("cams", "simpleenroll", creds, b"application/pkcs10", body)
    assert done.status == 200
    entry = plant.store.find("cam-7")
    assert entry.dns == ["cam-7.plant.local"] and entry.ips == ["10.0.0.77"]
    again = wsctl(plant, "certs", "approve", row.id)
    assert "already approved" in one_error(again, 1)
    assert wsctl(plant, "--json", "certs", "pending").stdout == ""


def test_a_rejected_enrollment_is_403_at_the_next_try(plant):
    enroller = _basic_enroller(plant, "cams:auth=basic")
    creds = Credentials("10.0.0.7:4000", basic=("cam-7", "cam-7-password-123"))
    body = _csr_body("cam-7")
    assert enroller.enroll("cams", "simpleenroll", creds, b"application/pkcs10", body).status == 202
    [row] = plant.book.pending()
    assert wsctl(plant, "certs", "approve", row.id, "--reject").returncode == 0
    refused = enroller.enroll("cams", "simpleenroll", creds, b"application/pkcs10", body)
    assert refused.status == 403 and b"rejected" in refused.body
    assert plant.store.load_index().current("cam-7") is None


def test_approve_of_an_unknown_id_is_exit_8(plant):
    assert "no pending enrollment" in one_error(wsctl(plant, "certs", "approve", "feedbeef"), 8)


def test_est_user_line_verifies_the_password_shown_once(plant, tmp_path):
    result = wsctl(plant, "certs", "est-user", "cam-7")
    assert result.returncode == 0, result.stderr
    password = result.stderr.split("password for cam-7: ", 1)[1].split()[0]
    users_file = tmp_path / "users.txt"
    users_file.write_text(result.stdout)
    users = load_basic_users(users_file)
    assert verify_secret(password, users["cam-7"]) and password not in result.stdout


@pytest.mark.parametrize(
    "args, code, text",
    [
        (("--label", "Bad!"), 8, "invalid EST label"),
        (("--label", "dev:auth=magic"), 8, "unknown auth"),
        (("--label", "dev:auth=bootstrap"), 2, "--bootstrap-ca"),
        (("--label", "ops:kind=operator,auth=basic"), 2, "--basic-users"),
        (("--label", "a", "--label", "a"), 8, "given twice"),
        ((), 2, "needs a TLS certificate"),
        (("--device", "nope"), 8, "no device 'nope'"),
        (("--device", "est", "--listen", "localhost"), 2, "HOST:PORT"),
    ],
)
def test_est_refuses_bad_options_before_listening(plant, args, code, text):
    assert text in one_error(wsctl(plant, "certs", "est", *args), code)


def test_est_refuses_a_wrong_passphrase(plant):
    result = wsctl(plant, "certs", "est", "--device", "est", WSCTL_PASSWORD="wrong")
    one_error(result, 1)


def test_an_unexpected_failure_is_a_500_with_an_audit_line(plant, monkeypatch):
    secret, _ = plant.book.issue_code("plc-18", kind="device", ttl=60, dns=["plc-18.local"])
    enroller = Enroller(plant.store, plant.book, [parse_label("device")], PW, Authenticator(plant.book, [], {}))

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plant.store, "sign_csr", disk_full)
    creds = Credentials("10.0.0.18:5000", basic=("plc-18", secret))
    answer = enroller.enroll(None, "simpleenroll", creds, b"application/pkcs10", _csr_body("plc-18"))
    assert answer.status == 500 and b"No space" not in answer.body
    last = json.loads(plant.store.audit_path.read_text().splitlines()[-1])
    assert (last["action"], last["status"]) == ("est-simpleenroll", 500) and "No space left" in last["error"]
    assert plant.book.check_code("plc-18", secret)[1] == "ok"  # given back
