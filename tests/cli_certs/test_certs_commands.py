"""Every `wsctl certs` verb through the real CLI (in-process), human and --json output."""

from __future__ import annotations

import re
import stat
import subprocess
import sys

from cli_helpers import STORE_PASS, run_wsctl, snapshot


def test_init_creates_store_and_reports(wsctl):
    r = wsctl("--json", "certs", "--dir", wsctl.store_dir, "init", "--name", "Line 4")
    assert r.code == 0, r.err
    [obj] = r.json_lines()
    assert obj["action"] == "init" and obj["key_type"] == "p256"
    assert obj["root"]["subject"] == "CN=Line 4 Root,O=Line 4"
    assert obj["root"]["fingerprint"].startswith("sha256:")
    assert (wsctl.store_dir / "ca" / "crl.der").is_file()
    assert stat.S_IMODE(wsctl.store_dir.stat().st_mode) == 0o700


def test_init_ed25519_warns_about_mbedtls(wsctl):
    r = wsctl.certs("init", "--key-type", "ed25519")
    assert r.code == 0 and "mbedTLS" in r.err


def test_init_warns_about_a_short_ca_passphrase(tmp_path):
    short = run_wsctl("certs", "--dir", tmp_path / "a", "init", environ={"WSCTL_PASSWORD": "short"})
    assert short.code == 0 and "passphrase has 5 characters" in short.err
    long_enough = run_wsctl("certs", "--dir", tmp_path / "b", "init", environ={"WSCTL_PASSWORD": STORE_PASS})
    assert long_enough.code == 0 and "characters" not in long_enough.err


def test_issue_list_show_fingerprint(pki):
    r = pki.certs("issue", "device", "plc-17", "--dns", "plc-17.plant.local", "--ip", "10.0.0.17")
    assert r.code == 0, r.err
    assert "issued device plc-17" in r.out and "sha256:" in r.out
    r = pki(
        "--json", "certs", "--dir", pki.store_dir, "issue", "operator", "alice", "--role", "engineer", "--no-password"
    )
    assert r.code == 0 and "unencrypted" in r.err
    alice = r.json_lines()[0]
    assert alice["role"] == "engineer" and alice["kind"] == "operator" and alice["key_encrypted"] is False

    r = pki.certs("list")
    assert r.code == 0
    assert re.search(r"^plc-17\s+device\s+-\s+valid", r.out, re.M)
    assert re.search(r"^alice\s+operator\s+engineer\s+valid", r.out, re.M)
    rows = pki("--json", "certs", "--dir", pki.store_dir, "list").json_lines()
    assert {row["name"] for row in rows} == {"plc-17", "alice"}
    assert all(isinstance(row["serial"], str) and row["days_left"] >= 29 for row in rows)

    r = pki.certs("show", "alice")
    assert r.code == 0 and "urn:wsctl:operator:alice" in r.out and "clientAuth" in r.out
    shown = pki("--json", "certs", "--dir", pki.store_dir, "show", "plc-17").json_lines()[0]
    assert shown["ips"] == ["10.0.0.17"] and shown["status"] == "valid" and shown["kind"] == "device"
    by_file = pki(
        "--json", "certs", "--dir", pki.store_dir, "show", str(pki.store_dir / "devices" / "plc-17" / "cert.pem")
    ).json_lines()[0]
    assert by_file["fingerprint"] == shown["fingerprint"] and "status" not in by_file

    r = pki.certs("fingerprint", "plc-17")
    assert r.code == 0 and r.out.strip() == shown["fingerprint"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", r.out.strip())
    # the same value openssl computes
    der = subprocess.run(
        ["openssl", "x509", "-in", str(pki.store_dir / "devices/plc-17/cert.pem"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    import hashlib

    assert r.out.strip() == "sha256:" + hashlib.sha256(der).hexdigest()


def test_list_expiring(pki):
    pki.certs("issue", "operator", "short", "--role", "observer", "--days", "5")
    pki.certs("issue", "device", "long", "--ip", "10.0.0.1", "--days", "300")
    names = lambda r: {row["name"] for row in r.json_lines()}  # noqa: E731
    listing = lambda *a: names(pki("--json", "certs", "--dir", pki.store_dir, "list", *a))  # noqa: E731
    assert listing("--expiring", "10", "--include-short-lived") == {"short"}
    assert listing("--expiring", "299") == {"long"}  # 299 days left of 300: ends within the window
    # both lifetimes fit in 400 days: short-lived by design for that window, so only on request
    assert listing("--expiring", "400") == set()
    assert listing("--expiring", "400", "--include-short-lived") == {"short", "long"}


def test_verify_ok_and_failures(pki):
    pki.certs("issue", "device", "plc", "--dns", "plc.plant.local", "--ip", "10.0.0.5")
    pki.certs("issue", "operator", "bob", "--role", "operator")
    r = pki.certs("verify", "plc", "--host", "10.0.0.5")
    assert r.code == 0 and r.out.startswith("OK device plc") and "host:10.0.0.5" in r.out
    assert pki.certs("verify", "plc", "--host", "plc.plant.local").code == 0
    r = pki.certs("verify", "plc", "--host", "10.0.0.6")
    assert r.code == 4 and "10.0.0.6" in r.one_error_line()
    r = pki.certs("verify", "bob", "--purpose", "device")
    assert r.code == 4 and "serverAuth" in r.one_error_line()
    pki.certs("revoke", "bob")
    r = pki.certs("verify", "bob")
    assert r.code == 4 and "revoked" in r.one_error_line()


def test_verify_foreign_certificate_file(pki, tmp_path):
    other = tmp_path / "other"
    assert run_wsctl("certs", "--dir", other, "init", environ={"WSCTL_PASSWORD": "x"}).code == 0
    run_wsctl(
        "certs",
        "--dir",
        other,
        "issue",
        "device",
        "plc",
        "--ip",
        "10.0.0.1",
        "--no-password",
        environ={"WSCTL_PASSWORD": "x"},
    )
    r = pki.certs("verify", str(other / "devices/plc/cert.pem"))
    assert r.code == 4 and "not issued by this store" in r.one_error_line()


def test_revoke_and_crl(pki):
    pki.certs("issue", "operator", "alice", "--role", "engineer")
    r = pki("--json", "certs", "--dir", pki.store_dir, "revoke", "alice", "--reason", "key-compromise")
    assert r.code == 0, r.err
    obj = r.json_lines()[0]
    assert obj["status"] == "revoked" and obj["reason"] == "key-compromise"
    text = subprocess.run(
        ["openssl", "crl", "-in", str(pki.store_dir / "ca/crl.pem"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert obj["serial"].upper() in text.replace(":", "").upper() and "Key Compromise" in text
    r = pki("--json", "certs", "--dir", pki.store_dir, "crl", "--days", "7")
    assert r.code == 0, r.err
    crl = r.json_lines()[0]
    assert crl["revoked"] == 1 and crl["number"] == 3
    assert re.search(r"^alice\s+operator\s+engineer\s+revoked", pki.certs("list").out, re.M)


def test_csr_then_sign(pki, tmp_path):
    out = tmp_path / "device"
    r = pki.certs("csr", "plc-18", "--ip", "10.9.9.9", "--dns", "requested.example", "--out", out, "--no-password")
    assert r.code == 0, r.err
    key, csr = out / "plc-18.key", out / "plc-18.csr"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and b"BEGIN PRIVATE KEY" in key.read_bytes()
    r = pki.certs("sign", csr, "--device", "--ip", "10.0.0.18")
    assert r.code == 0, r.err
    assert "requested.example" in r.err  # shown as what was asked, not certified
    shown = pki("--json", "certs", "--dir", pki.store_dir, "show", "plc-18").json_lines()[0]
    assert shown["ips"] == ["10.0.0.18"] and shown["dns"] == []
    assert not (pki.store_dir / "devices/plc-18/key.pem").exists()
    r = pki.certs("sign", csr, "--operator", "--name", "carol", "--role", "supervisor")
    assert r.code == 0, r.err
    assert pki("--json", "certs", "--dir", pki.store_dir, "show", "carol").json_lines()[0]["role"] == "supervisor"


def test_csr_key_encrypted_by_default(pki, tmp_path):
    r = pki.certs("csr", "dev", "--ip", "10.0.0.1", "--out", tmp_path / "d", WSCTL_KEY_PASSWORD="device-pass")
    assert r.code == 0, r.err
    assert b"ENCRYPTED" in (tmp_path / "d" / "dev.key").read_bytes()
    r = pki.certs("csr", "dev", "--ip", "10.0.0.1", "--out", tmp_path / "d")
    assert r.code == 1 and "refusing to overwrite" in r.one_error_line()


def test_renew_and_rekey(pki):
    pki.certs("issue", "device", "plc", "--ip", "10.0.0.1", "--days", "90")
    key_before = (pki.store_dir / "devices/plc/key.pem").read_bytes()
    r = pki("--json", "certs", "--dir", pki.store_dir, "renew", "plc")
    assert r.code == 0, r.err
    obj = r.json_lines()[0]
    assert obj["replaces"] != obj["serial"] and obj["ips"] == ["10.0.0.1"]
    assert (pki.store_dir / "devices/plc/key.pem").read_bytes() == key_before
    r = pki.certs("renew", "plc", "--rekey", "--days", "10", "--no-password")
    assert r.code == 0, r.err
    assert (pki.store_dir / "devices/plc/key.pem").read_bytes() != key_before
    rows = pki("--json", "certs", "--dir", pki.store_dir, "list", "--all").json_lines()
    # soonest end first: the 10-day re-key, then the two 90-day ones it replaced
    assert [row["status"] for row in rows] == ["valid", "superseded", "superseded"]


def test_export_formats(pki, tmp_path):
    pki.certs("issue", "device", "plc", "--ip", "10.0.0.1")
    r = pki.certs("export", "plc", "--format", "bundle")
    assert r.code == 0 and r.out.count("BEGIN CERTIFICATE") == 2
    assert pki.certs("export", "ca").out.count("BEGIN CERTIFICATE") == 1
    r = pki.certs("export", "ca", "--format", "der", "--out", tmp_path / "root.der")
    assert r.code == 0, r.err
    assert (
        subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "root.der"), "-noout"]).returncode
        == 0
    )
    for legacy in ((), ("--legacy",)):
        out = tmp_path / f"plc{len(legacy)}.p12"
        r = pki.certs("export", "plc", "--format", "p12", "--out", out, *legacy, WSCTL_P12_PASSWORD="p12-pass")
        assert r.code == 0, r.err
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        info = subprocess.run(
            ["openssl", "pkcs12", "-info", "-noout", "-in", str(out), "-passin", "pass:p12-pass"],
            capture_output=True,
            text=True,
        )
        assert info.returncode == 0, info.stderr
        assert ("TripleDES" if legacy else "AES-256-CBC") in info.stderr + info.stdout
    r = pki.certs("export", "plc", "--format", "der")  # binary and no --out: refused, nothing on stdout
    assert r.code == 2 and r.out == ""


def test_dir_on_subcommand_and_env(pki, tmp_path):
    r = run_wsctl("certs", "list", "--dir", pki.store_dir, environ={})
    assert r.code == 0
    pki.certs("issue", "device", "plc", "--ip", "10.0.0.1")
    r = run_wsctl("--json", "certs", "list", environ={"WSCTL_CERTS": str(pki.store_dir)})
    assert r.code == 0 and r.json_lines()[0]["name"] == "plc"


def test_password_file_and_key_password(pki, tmp_path):
    pw = tmp_path / "ca.pass"
    pw.write_text(STORE_PASS + "\n")  # one trailing newline is not part of it
    kp = tmp_path / "key.pass"
    kp.write_text("leaf-only\n")
    r = run_wsctl(
        "certs",
        "--dir",
        pki.store_dir,
        "issue",
        "device",
        "plc",
        "--ip",
        "10.0.0.1",
        "--password-file",
        pw,
        "--key-password-file",
        kp,
        environ={},
    )
    assert r.code == 0, r.err
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    load_pem_private_key((pki.store_dir / "devices/plc/key.pem").read_bytes(), b"leaf-only")


def test_every_command_help_has_examples(capsys):
    from wsctl.cli.certs import VERBS

    for verb in ["", *VERBS, "issue device", "issue operator"]:
        r = run_wsctl("certs", *verb.split(), "--help")
        help_text = capsys.readouterr().out  # click prints help to the process's stdout
        assert r.code == 0 and re.search(r"^\s*EXAMPLES\n\s+wsctl ", help_text, re.M), verb
        assert help_text.rstrip().splitlines()[-1].strip() != "EXAMPLES"


def test_python_m_wsctl_end_to_end(tmp_path):
    env = {"WSCTL_PASSWORD": "pw", "PATH": "/usr/bin:/bin"}
    base = [sys.executable, "-m", "wsctl", "certs", "--dir", str(tmp_path / "c")]
    assert subprocess.run([*base, "init"], env=env, capture_output=True).returncode == 0
    out = subprocess.run([*base, "fingerprint", "nobody"], env=env, capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.startswith("wsctl: error: no certificate named 'nobody'")


def test_export_warns_about_a_revoked_certificate(pki, tmp_path):
    assert pki.certs("issue", "operator", "gone", "--role", "observer", "--no-password").code == 0
    assert pki.certs("revoke", "gone").code == 0
    r = pki.certs("export", "gone", "--format", "pem", "--out", tmp_path / "gone.pem")
    assert r.code == 0 and "gone is revoked" in r.err


def test_issue_several_devices_in_one_command(pki):
    r = pki(
        "--json", "certs", "--dir", pki.store_dir, "issue", "device", "plc-1", "plc-2", "--dns", "{name}.plant.local"
    )
    assert r.code == 0, r.err
    issued = r.json_lines()
    assert [(row["name"], row["dns"]) for row in issued] == [
        ("plc-1", ["plc-1.plant.local"]),
        ("plc-2", ["plc-2.plant.local"]),
    ]
    rows = pki("--json", "certs", "--dir", pki.store_dir, "list").json_lines()
    assert {row["name"] for row in rows} == {"plc-1", "plc-2"}


def test_issue_several_devices_with_one_ip_is_refused_before_anything(pki):
    before = snapshot(pki.store_dir)
    r = pki.certs("issue", "device", "plc-1", "plc-2", "--ip", "10.0.0.1")
    assert r.code == 2
    assert "same address" in r.one_error_line()
    assert snapshot(pki.store_dir) == before
