"""`certs list` and `certs verify` show when the CRL runs out, and warn a day ahead or after."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from wsctl.pki import builder
from wsctl.pki.crlinfo import crl_next_update


@pytest.fixture
def issued(pki):
    assert pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1").code == 0
    return pki


def _expired_crl(pki, monkeypatch):
    real_now = builder.now()
    monkeypatch.setattr(builder, "now", lambda: real_now - dt.timedelta(days=31))
    assert pki.certs("crl", "--days", "30").code == 0
    monkeypatch.undo()


def test_fresh_crl_is_shown_without_a_warning(issued):
    r = issued.certs("list")
    assert r.code == 0 and "warning" not in r.err
    assert r.out.splitlines()[-1].startswith("CRL: next update ") and "(in 29 days)" in r.out
    js = issued("--json", "certs", "--dir", issued.store_dir, "list").json_lines()[0]
    assert js["crl_status"] == "ok"
    crl_file = issued.store_dir / "ca" / "crl.pem"
    assert js["crl_next_update"] == crl_next_update(crl_file).strftime("%Y-%m-%dT%H:%M:%SZ")
    v = issued("--json", "certs", "--dir", issued.store_dir, "verify", "plc-1")
    assert v.code == 0 and v.json_lines()[0]["crl_status"] == "ok" and "warning" not in v.err


def test_crl_expiring_within_a_day_warns(issued):
    assert issued.certs("crl", "--days", "1").code == 0
    r = issued.certs("list")
    assert r.code == 0 and "warning: the CRL expires within a day" in r.err
    assert "CRL: next update" in r.out and "hours)" in r.out
    js = issued("--json", "certs", "--dir", issued.store_dir, "list")
    assert js.json_lines()[0]["crl_status"] == "expiring"
    warned = [json.loads(line) for line in js.err.splitlines()]  # under --json every stderr line is JSON
    assert any(w["level"] == "warning" and w["message"].startswith("the CRL expires") for w in warned)
    v = issued.certs("verify", "plc-1")
    assert v.code == 0 and "warning: the CRL expires within a day" in v.err and "CRL: next update" in v.out


def test_expired_crl_warns_in_list_and_fails_verify_once(issued, monkeypatch):
    _expired_crl(issued, monkeypatch)
    r = issued("--json", "certs", "--dir", issued.store_dir, "list")
    obj = r.json_lines()[0]
    next_update = dt.datetime.fromisoformat(obj["crl_next_update"].replace("Z", "+00:00"))
    assert obj["crl_status"] == "expired" and next_update < dt.datetime.now(dt.UTC)
    warned = [json.loads(line) for line in r.err.splitlines()]
    assert any(w["level"] == "warning" and "the CRL expired" in w["message"] for w in warned)
    assert "'wsctl certs crl'" in r.err
    human = issued.certs("list")
    assert "CRL: expired " in human.out and "ago)" in human.out
    v = issued.certs("verify", "plc-1")
    assert v.code == 4 and "CRL expired" in v.one_error_line()
    assert "warning" not in v.err  # the refusal says it; no second message


def test_crl_next_update_reads_pem_der_and_refuses_garbage(issued, tmp_path):
    from wsctl.core.errors import InvalidInput

    pem = crl_next_update(issued.store_dir / "ca" / "crl.pem")
    assert pem == crl_next_update(issued.store_dir / "ca" / "crl.der") and pem.tzinfo is not None
    junk = tmp_path / "junk.crl"
    junk.write_bytes(b"not a crl")
    with pytest.raises(InvalidInput, match="not a readable CRL"):
        crl_next_update(junk)
    with pytest.raises(InvalidInput, match="cannot read the CRL"):
        crl_next_update(tmp_path / "missing.crl")
