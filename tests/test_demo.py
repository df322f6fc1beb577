"""`wsctl demo` is the README's first command: it must pass on a fresh machine."""

import json
import stat
import subprocess
import sys


def test_demo_passes_every_step_in_json():
    out = subprocess.run([sys.executable, "-m", "wsctl", "--json", "demo"], capture_output=True, text=True, timeout=120)
    steps = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 0, out.stderr
    assert len(steps) >= 14 and all(step["ok"] for step in steps)
    titles = " ".join(step["title"] for step in steps)
    for proof in (
        "revoked operator is refused",
        "without a certificate",
        "out of its range",
        "operator's role",
        "watch telemetry",
        "record a session",
        "show the recording",
        "replay the recording",
        "mock device",
        "charger dials the hub",
        "resets it through the hub",
        "refused by the hub",
        "renews its certificate through the hub",
        "names another station is refused",
    ):
        assert proof in titles
    details = {step["title"]: step["detail"] for step in steps}
    assert any("exit 9" in d and "audit log" in d for d in details.values())
    hub = next(d for t, d in details.items() if "refused by the hub" in t)
    assert "exit 9" in hub and "audit: bob reset refused" in hub
    renewal = next(d for t, d in details.items() if "renews its certificate" in t)
    assert (
        "CertificateSigned Accepted" in renewal
        and "reconnected with it" in renewal
        and "revoked, in the CRL" in renewal
    )


def test_demo_keep_leaves_a_usable_store(tmp_path):
    keep = tmp_path / "pki"
    out = subprocess.run(
        [sys.executable, "-m", "wsctl", "demo", "--keep", str(keep)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    secret = keep / "passphrase"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (keep / "certs" / "ca" / "crl.pem").is_file()
    listed = subprocess.run(
        [sys.executable, "-m", "wsctl", "--json", "certs", "--dir", str(keep / "certs"), "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = {json.loads(line)["name"] for line in listed.stdout.splitlines()}
    assert {"conveyor-1", "alice", "bob", "mallory"} <= names
    denied = [line for line in (keep / "audit.jsonl").read_text().splitlines() if '"denied"' in line]
    assert denied
    shown = subprocess.run(
        [sys.executable, "-m", "wsctl", "--json", "record", "show", str(keep / "session.jsonl"), "--stats"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.splitlines()[-1])["messages"] == {"out": 4, "in": 4}


def test_demo_keep_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "something").write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "wsctl", "demo", "--keep", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "not empty" in out.stderr
