"""Trust on first use, ssh-style (issue 9, item 16): --tofu keeps the default
known-devices file, says "recorded new device fingerprint" once, is quiet on
later uses, and refuses a changed certificate."""

from __future__ import annotations

from client_helpers import wsctl


def _operator_files(plant) -> list[str]:
    bob = plant.certs / "operators" / "bob"
    return ["--cert", str(bob / "chain.pem"), "--key", str(bob / "key.pem")]


def test_tofu_records_once_then_is_quiet_then_refuses_a_change(plant, echo_server, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    known = tmp_path / "config" / "wsctl" / "known_devices"
    first = wsctl("send", echo_server.url, "--raw", "one", "--tofu", *_operator_files(plant), env=env)
    assert first.returncode == 0, first.stderr
    assert "recorded new device fingerprint sha256:" in first.stderr and str(known) in first.stderr
    assert "--insecure" not in first.stderr and "NOT verified" not in first.stderr
    host_port = echo_server.url.split("//")[1].rstrip("/")
    assert known.read_text().startswith(host_port + " sha256:")

    second = wsctl("send", echo_server.url, "--raw", "two", "--tofu", *_operator_files(plant), env=env)
    assert second.returncode == 0 and second.stderr == ""

    known.write_text(f"{host_port} sha256:{'0' * 64}\n")
    changed = wsctl("send", echo_server.url, "--raw", "three", "--tofu", *_operator_files(plant), env=env)
    assert changed.returncode == 4 and "changed" in changed.stderr


def test_without_tofu_an_unknown_ca_is_still_refused(plant, echo_server, tmp_path):
    out = wsctl("send", echo_server.url, "--raw", "x", *_operator_files(plant), env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert out.returncode == 4
