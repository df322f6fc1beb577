"""`wsctl certs list` for people and cron (issue 9, item 18): days left, soonest
first, `--expiring` that is quiet unless there is work, and `paths` that never
point at another certificate's files."""

from __future__ import annotations

import json


def _json_list(pki, *args):
    return pki("--json", "certs", "--dir", pki.store_dir, "list", *args)


def test_table_shows_days_left_and_sorts_by_it(pki):
    pki.certs("issue", "device", "late", "--ip", "10.0.0.1", "--days", "400")
    pki.certs("issue", "device", "soon", "--ip", "10.0.0.2", "--days", "20")
    pki.certs("issue", "operator", "alice", "--role", "engineer")  # 30 days by default
    r = pki.certs("list")
    assert r.code == 0, r.err
    header, *rows, crl = r.out.splitlines()
    assert "DAYS LEFT" in header and crl.startswith("CRL: ")
    assert [row.split()[0] for row in rows] == ["soon", "alice", "late"]
    assert [int(row.split()[4]) for row in rows] == [19, 29, 399]
    assert [o["days_left"] for o in _json_list(pki).json_lines()] == [19, 29, 399]
    assert [o["lifetime_days"] for o in _json_list(pki).json_lines()] == [20, 30, 400]


def test_expiring_leaves_out_short_lived_operators_so_cron_stays_quiet(pki):
    """Operators live 30 days by default: `--expiring 30` used to list every one of
    them, always. A certificate whose whole lifetime fits in the window is left out."""
    pki.certs("issue", "operator", "alice", "--role", "engineer")
    pki.certs("issue", "operator", "ci-job", "--role", "observer", "--days", "1", "--no-password")
    pki.certs("issue", "device", "plc", "--ip", "10.0.0.1", "--days", "365")
    quiet = pki("-q", "certs", "--dir", pki.store_dir, "list", "--expiring", "30")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")  # cron mails nothing
    every = _json_list(pki, "--expiring", "30", "--include-short-lived").json_lines()
    assert [o["name"] for o in every] == ["ci-job", "alice"]
    # a certificate that outlives the window is reported once it is inside it
    pki.certs("issue", "device", "gw", "--ip", "10.0.0.3", "--days", "31")
    due = pki("-q", "certs", "--dir", pki.store_dir, "list", "--expiring", "30")
    assert due.code == 0 and [line.split()[0] for line in due.out.splitlines()[1:-1]] == ["gw"]


def test_json_paths_of_a_revoked_certificate_are_not_the_reissued_ones(pki):
    pki.certs("issue", "device", "plc", "--ip", "10.0.0.1", "--no-password")
    old = _json_list(pki).json_lines()[0]
    assert pki.certs("revoke", "plc").code == 0
    assert pki.certs("issue", "device", "plc", "--ip", "10.0.0.1", "--no-password").code == 0
    rows = {o["serial"]: o for o in _json_list(pki).json_lines()}
    revoked, current = rows[old["serial"]], next(o for s, o in rows.items() if s != old["serial"])
    assert revoked["status"] == "revoked" and revoked["paths"] == {"cert": None, "chain": None, "key": None}
    assert current["status"] == "valid" and current["paths"]["cert"] == old["paths"]["cert"]
    # and nothing hands out the newer certificate under the old serial
    for verb in (("show",), ("export", "--format", "pem"), ("fingerprint",)):
        r = pki.certs(verb[0], old["serial"], *verb[1:])
        assert r.code == 1 and "no longer holds the certificate of serial" in r.one_error_line(), (verb, r.err)
    r = pki("--json", "certs", "--dir", pki.store_dir, "show", old["serial"])
    err = json.loads(r.err.splitlines()[-1])
    assert (err["error"], err["cause"], err["exit_code"]) == ("error", "store", 1)


def test_a_revoked_certificate_not_reissued_keeps_its_paths(pki):
    pki.certs("issue", "device", "plc", "--ip", "10.0.0.1", "--no-password")
    assert pki.certs("revoke", "plc").code == 0
    (row,) = _json_list(pki).json_lines()
    assert row["status"] == "revoked" and row["paths"]["cert"].endswith("devices/plc/cert.pem")
    assert pki.certs("show", row["serial"]).code == 0
