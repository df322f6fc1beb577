"""`certs init --force` needs proof of the current CA (or an explicit flag); `certs restore` undoes it."""

from __future__ import annotations

import json

from cli_helpers import STORE_PASS, snapshot

NEW_PASS = "a-new-ca-passphrase"


def _audit(pki) -> list[dict]:
    return [json.loads(line) for line in (pki.store_dir / "audit.log").read_text().splitlines()]


def test_force_without_the_current_passphrase_is_refused(pki, tmp_path):
    pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1")
    before = snapshot(pki.store_dir)
    new_pass = tmp_path / "new.pass"
    new_pass.write_text(NEW_PASS + "\n")
    # only the new passphrase: it does not open the current CA key
    r = pki.certs("init", "--force", "--password-file", new_pass)
    assert r.code == 1
    assert "wrong passphrase" in r.one_error_line() and "the current CA is not replaced" in r.err
    assert "--i-know-this-replaces-the-ca" in r.err
    wrong = pki.certs("init", "--force", WSCTL_CURRENT_PASSWORD="guess-guess-guess")
    assert wrong.code == 1 and "wrong passphrase" in wrong.one_error_line()
    assert snapshot(pki.store_dir) == before
    assert [a["result"] for a in _audit(pki)[-2:]] == ["error", "error"]


def test_force_with_the_current_passphrase_names_the_archive(pki, tmp_path):
    pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1")
    old_root = (pki.store_dir / "ca" / "root.crt").read_bytes()
    r = pki(
        "--json",
        "certs",
        "--dir",
        pki.store_dir,
        "init",
        "--force",
        WSCTL_CURRENT_PASSWORD=STORE_PASS,
        WSCTL_PASSWORD=NEW_PASS,
    )
    assert r.code == 0, r.err
    obj = r.json_lines()[0]
    archive = pki.store_dir / "archive" / obj["archived_to"].rsplit("/", 1)[-1]
    assert obj["archived_to"] == str(archive)
    assert obj["restore_with"].endswith(f"restore {archive.name}")
    assert (archive / "ca" / "root.crt").read_bytes() == old_root
    assert (archive / "devices" / "plc-1" / "key.pem").is_file()
    human = pki.certs("init", "--force", WSCTL_CURRENT_PASSWORD=NEW_PASS, WSCTL_PASSWORD=NEW_PASS)
    assert human.code == 0 and "the previous CA is in " in human.out and "to put it back: wsctl certs" in human.out


def test_lost_passphrase_flag_replaces_with_a_warning(pki):
    r = pki.certs("init", "--force", "--i-know-this-replaces-the-ca", WSCTL_PASSWORD=NEW_PASS)
    assert r.code == 0, r.err
    assert "warning: replacing the CA without its passphrase" in r.err
    assert _audit(pki)[-1]["current_passphrase"] == "not given (replaced as lost)"
    alone = pki.certs("init", "--i-know-this-replaces-the-ca")
    assert alone.code == 2 and "goes with --force" in alone.one_error_line()


def test_restore_round_trip(pki):
    pki.certs("issue", "device", "plc-1", "--ip", "10.0.0.1")
    first = snapshot(pki.store_dir)
    replaced = pki(
        "--json",
        "certs",
        "--dir",
        pki.store_dir,
        "init",
        "--force",
        WSCTL_PASSWORD=NEW_PASS,
        WSCTL_CURRENT_PASSWORD=STORE_PASS,
    )
    first_archive = replaced.json_lines()[0]["archived_to"].rsplit("/", 1)[-1]
    pki.certs("issue", "device", "plc-2", "--ip", "10.0.0.2", WSCTL_PASSWORD=NEW_PASS)
    second = snapshot(pki.store_dir)
    # the CA being put aside needs its own (new) passphrase
    refused = pki.certs("restore", first_archive)
    assert refused.code == 1 and "wrong passphrase" in refused.one_error_line()
    r = pki("--json", "certs", "--dir", pki.store_dir, "restore", first_archive, WSCTL_PASSWORD=NEW_PASS)
    assert r.code == 0, r.err
    second_archive = r.json_lines()[0]["archived_to"].rsplit("/", 1)[-1]
    live = lambda snap: {k: v for k, v in snap.items() if not k.startswith("archive/")}  # noqa: E731
    assert live(snapshot(pki.store_dir)) == live(first)
    assert pki.certs("verify", "plc-1").code == 0
    assert not (pki.store_dir / "archive" / first_archive).exists()
    back = pki.certs("restore", second_archive)
    assert back.code == 0, back.err
    assert live(snapshot(pki.store_dir)) == live(second)


def test_restore_of_an_unknown_archive(pki):
    r = pki.certs("restore", "20200101T000000Z")
    assert r.code == 1 and "no archived CA '20200101T000000Z'" in r.one_error_line()
    bad = pki.certs("restore", "../ca")
    assert bad.code == 8 and "invalid name" in bad.one_error_line()


def test_the_lost_passphrase_flag_is_never_taken_from_a_config_file(pki, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wsctl.toml").write_text("[certs.init]\ni-know-this-replaces-the-ca = true\n")
    before = snapshot(pki.store_dir)
    r = pki.certs("init", "--force", WSCTL_PASSWORD=NEW_PASS, HOME="/nonexistent")
    assert r.code == 8 and "only on the command line" in r.one_error_line()
    assert snapshot(pki.store_dir) == before
