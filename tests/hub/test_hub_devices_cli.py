"""`wsctl hub devices`, `hub id-tags` and `hub audit`: the registry from the
command line — tables and JSON Lines, secrets shown exactly once, one clear
line and exit 8 for bad input, a missing, foreign, damaged or newer registry."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from cli_runner import run_in_process
from registry_helpers import V2

from wsctl.core.hub.schema import MIGRATIONS
from wsctl.registry import Registry

DEVICE_KEYS = {
    "id", "status", "online", "since", "profile", "security_profile", "connected_security_profile", "groups",
    "vendor", "model", "firmware", "serial", "last_boot", "cert_fingerprint", "cert_serial", "cert_not_after",
    "cert_days_left", "queued", "last_seen", "remote", "offline_reason", "has_secret", "created",
}  # fmt: skip


def wsctl(tmp_path, *args, **environ):
    return run_in_process(*map(str, args), cwd=tmp_path, environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg"), **environ})


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_error(out) -> str:
    lines = [line for line in out.stderr.splitlines() if not line.startswith(("wsctl: hint:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("wsctl: error: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def test_add_a_profile_3_device_and_list_it(tmp_path):
    out = wsctl(tmp_path, "hub", "devices", "add", "CP-17", "--profile", "ocpp16-charger", "--group", "depot-a")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "added CP-17 to hub.db: profile ocpp16-charger, security profile 3, approved, groups depot-a\n"
    assert "secret" not in out.stdout
    assert stat.S_IMODE(os.stat(tmp_path / "hub.db").st_mode) == 0o600
    table = wsctl(tmp_path, "hub", "devices")
    assert table.returncode == 0
    header, row = table.stdout.splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "STATE", "SINCE"]
    assert row.split()[:5] == ["CP-17", "approved", "offline", "-", "ocpp16-charger"]
    assert wsctl(tmp_path, "hub", "devices", "list").stdout == table.stdout


def test_json_lines_have_the_stable_keys(tmp_path):
    wsctl(tmp_path, "hub", "devices", "add", "CP-17", "--profile", "ocpp16-charger")
    with Registry.open(tmp_path / "hub.db") as reg:
        reg.online("CP-17", at=1000.0, remote="10.0.0.17:1", cert_not_after=1000.0 + 90 * 86400, security_profile=3)
        reg.boot("CP-17", at=1000.0, vendor="ACME", model="Fast", firmware="1.2.3")
    for args in (("--json", "hub", "devices"), ("hub", "devices", "--json"), ("hub", "devices", "list", "--json")):
        out = wsctl(tmp_path, *args)
        assert out.returncode == 0, out.stderr
        (obj,) = json_lines(out.stdout)
        assert set(obj) == DEVICE_KEYS
        assert (obj["id"], obj["online"], obj["since"], obj["firmware"]) == (
            "CP-17",
            True,
            "1970-01-01T00:16:40Z",
            "1.2.3",
        )
        assert obj["cert_days_left"] < 0  # 1970 + 90 days is long past


def test_group_and_pending_filters(tmp_path):
    wsctl(tmp_path, "hub", "devices", "add", "a", "--profile", "p", "--group", "g1")
    wsctl(tmp_path, "hub", "devices", "add", "b", "--profile", "p", "--group", "g1", "--pending")
    wsctl(tmp_path, "hub", "devices", "add", "c", "--profile", "p")

    def ids(*args):
        return [o["id"] for o in json_lines(wsctl(tmp_path, "--json", "hub", "devices", *args).stdout)]

    assert ids() == ["a", "b", "c"]
    assert ids("--group", "g1") == ids("list", "--group", "g1") == ["a", "b"]
    assert ids("--pending") == ["b"]
    assert ids("--group", "nope") == []
    empty = wsctl(tmp_path, "hub", "devices", "--group", "nope")
    assert empty.returncode == 0 and empty.stdout == "" and "no devices in group nope in hub.db" in empty.stderr


@pytest.mark.parametrize("level", ["1", "2"])
def test_a_generated_secret_is_printed_once_and_works(tmp_path, level):
    out = wsctl(tmp_path, "-v", "hub", "devices", "add", "CP-18", "--profile", "p", "--security-profile", level)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("secret: ") and "will not be shown again" in lines[2]
    secret = lines[1].removeprefix("secret: ")
    with Registry.open(tmp_path / "hub.db") as reg:
        assert reg.check_secret("CP-18", secret)
    assert secret not in out.stderr
    later = [
        wsctl(tmp_path, "-v", "hub", "devices"),
        wsctl(tmp_path, "-v", "--json", "hub", "devices"),
        wsctl(tmp_path, "-v", "hub", "audit"),
        wsctl(tmp_path, "-v", "--json", "hub", "audit"),
        wsctl(tmp_path, "-v", "hub", "devices", "approve", "CP-18"),
    ]
    for result in later:
        assert result.returncode == 0
        assert secret not in result.stdout + result.stderr
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("hub.db"))
    assert secret.encode() not in raw


def test_add_in_json_gives_id_and_secret(tmp_path):
    out = wsctl(tmp_path, "--json", "hub", "devices", "add", "CP-18", "--profile", "p", "--security-profile", "2")
    (obj,) = json_lines(out.stdout)
    assert obj["id"] == "CP-18" and len(obj["secret"]) >= 16 and obj["security_profile"] == 2
    out = wsctl(tmp_path, "--json", "hub", "devices", "add", "CP-19", "--profile", "p")
    assert json_lines(out.stdout)[0]["secret"] is None


def test_a_secret_from_a_file_is_set_and_never_echoed(tmp_path):
    given = "file-secret-0123456789-abc"
    (tmp_path / "s.txt").write_text(given + "\n")
    out = wsctl(
        tmp_path,
        "-v",
        "hub",
        "devices",
        "add",
        "CP-18",
        "--profile",
        "p",
        "--security-profile",
        "2",
        "--secret-file",
        "s.txt",
    )
    assert out.returncode == 0, out.stderr
    assert given not in out.stdout + out.stderr and "secret:" not in out.stdout
    rotated = wsctl(tmp_path, "--json", "hub", "devices", "secret", "CP-18", "--secret-file", "s.txt")
    assert json_lines(rotated.stdout) == [{"id": "CP-18", "secret": None, "action": "secret_replaced"}]
    with Registry.open(tmp_path / "hub.db") as reg:
        assert reg.check_secret("CP-18", given)


def test_rotation_prints_the_new_secret_once_and_the_old_one_stops_working(tmp_path):
    first = json_lines(
        wsctl(tmp_path, "--json", "hub", "devices", "add", "a", "--profile", "p", "--security-profile", "2").stdout
    )[0]["secret"]
    out = wsctl(tmp_path, "hub", "devices", "secret", "a")
    assert out.returncode == 0
    new = out.stdout.splitlines()[1].removeprefix("secret: ")
    assert new != first and "will not be shown again" in out.stdout
    with Registry.open(tmp_path / "hub.db") as reg:
        assert reg.check_secret("a", new) and not reg.check_secret("a", first)


@pytest.mark.parametrize(
    "content, says",
    [
        ("short\n", "device secret too short: 5 characters"),
        ("", "the secret file is empty"),
        (None, "nofile: no such secret file"),
    ],
)
def test_an_unfit_secret_file_is_one_line_exit_8(tmp_path, content, says):
    if content is not None:
        (tmp_path / "nofile").write_text(content)
    out = wsctl(
        tmp_path, "hub", "devices", "add", "a", "--profile", "p", "--security-profile", "2", "--secret-file", "nofile"
    )
    assert out.returncode == 8
    assert says in one_error(out) and "short\n" not in out.stderr[:-1]
    assert "a" not in [o["id"] for o in json_lines(wsctl(tmp_path, "--json", "hub", "devices").stdout)]


def test_approve_block_remove(tmp_path):
    wsctl(tmp_path, "hub", "devices", "add", "a", "--profile", "p", "--pending")
    assert wsctl(tmp_path, "hub", "devices", "approve", "a").stdout == "a approved\n"
    assert json_lines(wsctl(tmp_path, "--json", "hub", "devices", "block", "a").stdout) == [
        {"id": "a", "action": "blocked", "status": "blocked"}
    ]
    assert json_lines(wsctl(tmp_path, "--json", "hub", "devices").stdout)[0]["status"] == "blocked"
    assert wsctl(tmp_path, "hub", "devices", "remove", "a").returncode == 0
    assert wsctl(tmp_path, "--json", "hub", "devices").stdout == ""
    actions = [e["action"] for e in json_lines(wsctl(tmp_path, "--json", "hub", "audit", "--device", "a").stdout)]
    assert actions == ["devices add", "devices approve", "devices block", "devices remove"]


def test_approving_a_device_without_its_secret_warns(tmp_path):
    with Registry.open(tmp_path / "hub.db") as reg:
        reg.add_pending("CP-20", profile="p", security_profile=2, remote="r", fingerprint=None, at=1.0)
    out = wsctl(tmp_path, "hub", "devices", "approve", "CP-20")
    assert out.returncode == 0 and "CP-20 has no secret yet" in out.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (("add", "a/b", "--profile", "p"), "device id 'a/b' contains '/'"),
        (("add", "..", "--profile", "p"), "is not allowed (it is a path component)"),
        (("add", "a+b", "--profile", "p"), "contains '+'"),
        (("add", "a#b", "--profile", "p"), "contains '#'"),
        (("add", "a\x00b", "--profile", "p"), "contains '\\x00'"),
        (("add", "x" * 5000, "--profile", "p"), "5000 characters, more than 64"),
        (("add", "ok", "--profile", "p", "--group", "a/b"), "group name 'a/b'"),
        (("add", "ok", "--profile", "p", "--secret-file", "x"), "no such secret file"),
        (("approve", "nobody"), "no device 'nobody' in the registry hub.db"),
        (("remove", "nobody"), "no device 'nobody'"),
        (("secret", "CP-1"), "uses security profile 3"),
    ],
)
def test_bad_input_is_one_line_and_exit_8(tmp_path, args, says):
    wsctl(tmp_path, "hub", "devices", "add", "CP-1", "--profile", "p")
    out = wsctl(tmp_path, "hub", "devices", *args)
    assert out.returncode == 8, out.stderr
    line = one_error(out)
    assert says in line and len(line) < 300


def test_a_duplicate_add_is_exit_8(tmp_path):
    wsctl(tmp_path, "hub", "devices", "add", "a", "--profile", "p")
    out = wsctl(tmp_path, "hub", "devices", "add", "a", "--profile", "p")
    assert out.returncode == 8 and "'a' is already in the registry" in one_error(out)


@pytest.mark.parametrize(
    "args",
    [
        ("devices",),
        ("devices", "list"),
        ("devices", "approve", "a"),
        ("devices", "block", "a"),
        ("devices", "remove", "a"),
        ("devices", "secret", "a"),
        ("id-tags",),
        ("id-tags", "remove", "T"),
        ("audit",),
    ],
)
def test_verbs_that_read_or_change_never_create_the_registry(tmp_path, args):
    out = wsctl(tmp_path, "hub", *args, "--registry", "missing.db")
    assert out.returncode == 8
    assert "missing.db: no such hub registry" in one_error(out)
    assert not (tmp_path / "missing.db").exists()


def test_registry_from_the_environment_and_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("WSCTL_HUB_REGISTRY", str(tmp_path / "env.db"))  # click reads its variables from os.environ
    assert wsctl(tmp_path, "hub", "devices", "add", "a", "--profile", "p").returncode == 0
    assert (tmp_path / "env.db").exists() and not (tmp_path / "hub.db").exists()
    assert wsctl(tmp_path, "hub", "devices", "--registry", "cli.db", "add", "b", "--profile", "p").returncode == 0

    def ids(*args):
        return [o["id"] for o in json_lines(wsctl(tmp_path, "--json", "hub", "devices", *args).stdout)]

    assert ids() == ["a"]
    assert ids("--registry", "cli.db") == ["b"]
    assert ids("list", "--registry", "cli.db") == ["b"]
    # `wsctl hub`'s own --registry (the one the hub runs with) holds for the registry verbs too
    top = wsctl(tmp_path, "--json", "hub", "--registry", "cli.db", "devices")
    assert [o["id"] for o in json_lines(top.stdout)] == ["b"], top.stderr
    nearest = wsctl(tmp_path, "--json", "hub", "--registry", "cli.db", "devices", "--registry", "env.db")
    assert [o["id"] for o in json_lines(nearest.stdout)] == ["a"]  # the nearest --registry wins


@pytest.mark.parametrize("verb", [("devices",), ("id-tags",), ("audit",), ("devices", "add", "x", "--profile", "p")])
def test_a_file_that_is_not_a_registry_is_one_line_exit_8(tmp_path, verb):
    (tmp_path / "hub.db").write_text("name,value\nnot,sqlite\n" * 20)
    out = wsctl(tmp_path, "hub", *verb)
    assert out.returncode == 8
    assert "hub.db: not a wsctl hub registry" in one_error(out)


def test_a_registry_from_a_newer_wsctl_is_one_line_exit_8(tmp_path):
    Registry.open(tmp_path / "hub.db", migrations=(*MIGRATIONS, V2)).close()
    out = wsctl(tmp_path, "--json", "hub", "devices")
    assert out.returncode == 8 and out.stdout == ""
    (error,) = json_lines(out.stderr)
    assert error["error"] == "invalid" and "is newer than this wsctl reads" in error["message"]


def test_what_a_device_reports_cannot_drive_the_terminal(tmp_path):
    wsctl(tmp_path, "hub", "devices", "add", "a", "--profile", "p")
    with Registry.open(tmp_path / "hub.db") as reg:
        reg.boot("a", at=1.0, vendor="v", model="m", firmware="1.0\x1b[2J\x1b]0;owned\x07")
    out = wsctl(tmp_path, "hub", "devices")
    assert "\x1b" not in out.stdout and "\\x1b[2J" in out.stdout
    assert json_lines(wsctl(tmp_path, "--json", "hub", "devices").stdout)[0]["firmware"].startswith("1.0\x1b")


def test_id_tags_add_list_remove(tmp_path):
    assert wsctl(tmp_path, "hub", "id-tags", "add", "04E91C2A").stdout == "id tag 04E91C2A: Accepted\n"
    wsctl(tmp_path, "hub", "id-tags", "add", "LOST", "--status", "Blocked")
    wsctl(tmp_path, "hub", "id-tags", "add", "OLD", "--expires", "2020-01-01T00:00:00Z")
    tags = json_lines(wsctl(tmp_path, "--json", "hub", "id-tags").stdout)
    assert [(t["id_tag"], t["status"], t["expires"], t["status_now"]) for t in tags] == [
        ("04E91C2A", "Accepted", None, "Accepted"),
        ("LOST", "Blocked", None, "Blocked"),
        ("OLD", "Accepted", "2020-01-01T00:00:00Z", "Expired"),
    ]
    assert wsctl(tmp_path, "hub", "id-tags", "list").stdout.splitlines()[0].split() == [
        "ID",
        "TAG",
        "STATUS",
        "EXPIRES",
        "NOW",
    ]
    assert wsctl(tmp_path, "hub", "id-tags", "remove", "LOST").returncode == 0
    assert [t["id_tag"] for t in json_lines(wsctl(tmp_path, "--json", "hub", "id-tags", "list").stdout)] == [
        "04E91C2A",
        "OLD",
    ]
    bad = wsctl(tmp_path, "hub", "id-tags", "add", "X", "--expires", "next tuesday")
    assert bad.returncode == 8 and "not an ISO 8601 time" in one_error(bad)
    missing = wsctl(tmp_path, "hub", "id-tags", "remove", "LOST")
    assert missing.returncode == 8 and "no id tag 'LOST'" in one_error(missing)


def test_audit_filters_and_limit(tmp_path):
    with Registry.open(tmp_path / "hub.db") as reg:
        for i, (actor, device) in enumerate([("alice", "CP-1"), ("bob", "CP-2"), ("alice", "CP-2")]):
            reg.audit(
                at=float(i),
                actor=actor,
                role="engineer",
                device=device,
                action="Reset",
                params={"type": "Soft"},
                outcome="ok",
                detail="Accepted",
            )
    entries = json_lines(wsctl(tmp_path, "--json", "hub", "audit").stdout)
    assert [(e["actor"], e["device"], e["at"]) for e in entries] == [
        ("alice", "CP-1", "1970-01-01T00:00:00Z"),
        ("bob", "CP-2", "1970-01-01T00:00:01Z"),
        ("alice", "CP-2", "1970-01-01T00:00:02Z"),
    ]
    assert len(json_lines(wsctl(tmp_path, "--json", "hub", "audit", "--operator", "alice").stdout)) == 2
    assert len(json_lines(wsctl(tmp_path, "--json", "hub", "audit", "--device", "CP-2", "--limit", "1").stdout)) == 1
    table = wsctl(tmp_path, "hub", "audit", "--device", "CP-1").stdout.splitlines()
    assert (
        table[0].split()[:3] == ["TIME", "ACTOR", "ROLE"]
        and '{"type":"Soft"}' in table[1]
        and "ok: Accepted" in table[1]
    )
    assert wsctl(tmp_path, "hub", "audit", "--limit", "0").returncode == 2


def test_device_ids_complete_from_the_registry(tmp_path):
    for name in ("CP-17", "CP-18", "other"):
        wsctl(tmp_path, "hub", "devices", "add", name, "--profile", "p")
    words = "wsctl hub devices block CP"
    env = {**os.environ, "_WSCTL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "4"}
    out = subprocess.run(
        [sys.executable, "-m", "wsctl"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert [line.split(",", 1)[1] for line in out.stdout.splitlines()] == ["CP-17", "CP-18"]
    env["COMP_WORDS"], env["COMP_CWORD"] = "wsctl hub audit --registry none.db --device C", "6"
    out = subprocess.run(
        [sys.executable, "-m", "wsctl"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert out.returncode == 0 and out.stdout.strip() == "" and not (tmp_path / "none.db").exists()
