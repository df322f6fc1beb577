"""Inventories and the known-devices file as the CLI reads them: a broken one
is one clear line and exit 8, never "internal error"; with duplicate lines
for a device, --trust-new takes effect (against a real `wsctl serve --echo`)."""

from __future__ import annotations

from client_helpers import wsctl

from wsctl.core.exitcodes import ExitCode


def one_error_line(out, code=ExitCode.INVALID) -> str:
    assert out.returncode == code, (out.stdout, out.stderr)
    errors = [line for line in out.stderr.splitlines() if line.startswith("wsctl: error:")]
    assert len(errors) == 1 and "internal error" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    return errors[0]


def test_an_inventory_whose_devices_is_not_a_table_is_one_line(tmp_path):
    (tmp_path / "inv.toml").write_text("devices = 5\n")
    line = one_error_line(wsctl("send", "plc-17", "--inventory", str(tmp_path / "inv.toml"), "--raw", "x", timeout=30))
    assert line.endswith("inv.toml: devices: expected a table of devices ([devices]), got int")


def test_an_empty_group_is_refused_not_run_on_nothing(tmp_path):
    (tmp_path / "inv.toml").write_text('[devices.a]\nurl = "wss://127.0.0.1:1/"\n[groups]\nline-1 = []\n')
    line = one_error_line(wsctl("send", "line-1", "--inventory", str(tmp_path / "inv.toml"), "--raw", "x", timeout=30))
    assert line.endswith("inv.toml: groups.line-1: an empty group (list at least one device)")


def _key(url: str) -> str:
    return url.split("//", 1)[1].split("/", 1)[0]


def test_a_known_devices_file_that_is_not_utf8_is_one_line(plant, echo_server, tmp_path):
    known = tmp_path / "known_devices"
    known.write_bytes(b"# \xff\xfe damaged\n")
    line = one_error_line(wsctl("send", echo_server.url, *plant.op("alice"), "--known-devices", str(known), "--raw", "x", timeout=30))
    assert line.endswith(f"{known}: not UTF-8 text (invalid start byte at byte 2)")


def test_trust_new_takes_effect_over_duplicate_lines(plant, echo_server, tmp_path):
    known = tmp_path / "known_devices"
    key = _key(echo_server.url)
    stale_a, stale_b = "sha256:" + "aa" * 32, "sha256:" + "bb" * 32
    known.write_text(f"# plant\n{key} {stale_a}\nother:443 sha256:{'cc' * 32}\n{key} {stale_b}\n")
    send = ("send", echo_server.url, *plant.op("alice"), "--known-devices", str(known), "--raw", "x")
    refused = wsctl(*send, timeout=30)
    assert refused.returncode == ExitCode.TLS and stale_b in refused.stderr  # the reader goes by the key's last line
    assert wsctl(*send, "--trust-new", timeout=30).returncode == 0
    lines = known.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["#", key, "other:443"]  # one line for the key, where it was
    again = wsctl(*send, timeout=30)
    assert again.returncode == 0, again.stderr  # before the fix: refused, the stale last line still won
