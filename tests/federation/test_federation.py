"""Three hub processes on a real mosquitto (TLS, the ACL file of
docs/federation.md), simulated chargers spread over them, operators' `wsctl
send` on any hub, and the broker read and written by mosquitto's own clients."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from cli_runner import run_in_process
from federation_helpers import READER, TOOL, Process, Sub, charger, pub, start_broker, start_hub, tree

from wsctl.core.exit_table import ExitCode


@pytest.fixture(scope="module")
def fed(fed_pki, tmp_path_factory):
    base = tmp_path_factory.mktemp("federation")
    broker = start_broker(fed_pki, base)
    started: list = []
    try:
        hubs = {
            "hub-a": start_hub(base, broker, "hub-a"),
            "hub-b": start_hub(base, broker, "hub-b"),
            "hub-c": start_hub(base, broker, "hub-c", "--mqtt-command-role", "engineer"),
        }
        started += [h.process for h in hubs.values()]
        states = Sub(broker, tree("devices", "+", "state"), user=READER)
        for name, hub in (("CP-1", "hub-a"), ("CP-2", "hub-b"), ("CP-3", "hub-c")):
            started.append(charger(base, broker, name, hubs[hub]))
        for name, hub in (("CP-1", "hub-a"), ("CP-2", "hub-b"), ("CP-3", "hub-c")):
            states.doc(tree("devices", name, "state"), lambda d, hub=hub: d["online"] and d["hub"] == hub)
        states.stop()
        yield {"base": base, "broker": broker, "hubs": hubs, "store": str(fed_pki.path)}
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)


def send(fed, hub: str, device: str, *args: str, operator: str = "alice", timeout: float = 60):
    url = fed["hubs"][hub].url(f"/devices/{device}")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wsctl",
            "--json",
            "send",
            url,
            *args,
            "--profile",
            "ocpp16",
            "--certs",
            fed["store"],
            "--operator",
            operator,
            "--yes",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def audit(fed, hub: str, device: str) -> list[dict]:
    listed = run_in_process("--json", "hub", "audit", "--registry", fed["hubs"][hub].registry, "--device", device)
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def test_presence_of_hubs_and_devices_is_retained_on_the_documented_topics(fed):
    sub = Sub(fed["broker"], tree("hubs", "+", "state"), tree("devices", "+", "state"), user=READER)
    try:
        for hub in ("hub-a", "hub-b", "hub-c"):
            assert sub.doc(tree("hubs", hub, "state"))["online"] is True
        cp1 = sub.doc(tree("devices", "CP-1", "state"), lambda d: d["online"])
        # the hub republishes presence once the boot said who the charger is
        assert cp1["hub"] == "hub-a" and cp1["profile"] == "ocpp16" and cp1["since"].endswith("Z")
        booted = sub.doc(tree("devices", "CP-2", "state"), lambda d: d["firmware"] is not None, timeout=5)
        assert booted["hub"] == "hub-b" and booted["vendor"] and booted["firmware"] == "1.4.2"
    finally:
        sub.stop()


def test_an_operator_on_any_hub_commands_a_device_on_another(fed):
    events = Sub(fed["broker"], tree("devices", "CP-1", "events", "#"), user=READER)
    try:
        done = send(fed, "hub-b", "CP-1", "reset", "type=Soft")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.splitlines()[-1])["reply"] == {"status": "Accepted"}
        # run by hub-a, audited there under the operator's name and role
        ran = [a for a in audit(fed, "hub-a", "CP-1") if a["action"] == "reset"]
        assert ran and ran[-1]["actor"] == "alice" and ran[-1]["role"] == "engineer" and ran[-1]["outcome"] == "ok"
        # the charger reboots after a reset: its messages, decoded, with the raw frame
        boot = events.doc(tree("devices", "CP-1", "events", "BootNotification"))
        assert boot["kind"] == "request" and boot["hub"] == "hub-a" and boot["payload"]["chargePointVendor"]
        assert json.loads(boot["raw"])[2] == "BootNotification"
    finally:
        events.stop()


def test_exit_codes_are_those_of_one_hub(fed):
    refused = send(fed, "hub-c", "CP-1", "reset", "type=Soft", operator="bob")
    assert refused.returncode == ExitCode.NOT_AUTHORIZED, (refused.stdout, refused.stderr)
    assert "observer may not run reset" in refused.stdout + refused.stderr
    assert any(a["actor"] == "bob" and a["outcome"] == "refused" for a in audit(fed, "hub-a", "CP-1"))
    offline = send(fed, "hub-b", "CP-7", "reset", "type=Soft")  # registered everywhere, on no hub
    assert offline.returncode == ExitCode.CONNECT, (offline.stdout, offline.stderr)
    assert "CP-7 offline" in offline.stdout + offline.stderr
    read = send(fed, "hub-a", "CP-2", "get_configuration", operator="bob")  # an observer may read, through hubs
    assert read.returncode == 0, read.stderr


def reply_to(fed, device: str, body: dict, n: int) -> dict:
    topic = tree("replies", TOOL, str(n))
    replies = Sub(fed["broker"], topic)
    try:
        sent = pub(fed["broker"], tree("devices", device, "cmd"), json.dumps(body), response=topic, correlation=f"c{n}")
        assert sent.returncode == 0, sent.stderr
        return replies.doc(topic)
    finally:
        replies.stop()


def test_a_plant_tools_command_is_refused_without_a_role_and_run_with_one(fed):
    refused = reply_to(fed, "CP-1", {"command": "reset", "params": {"type": "Soft"}, "operator": "line-3"}, 1)
    assert refused["outcome"] == "refused" and refused["error_kind"] == "not_authorized", refused
    assert "--mqtt-command-role" in refused["message"] and refused["hub"] == "hub-a"
    assert any(a["actor"] == "mqtt:line-3" and a["outcome"] == "refused" for a in audit(fed, "hub-a", "CP-1"))
    # hub-c carries the role "engineer": a reset is allowed, a bad parameter is not
    ran = reply_to(fed, "CP-3", {"command": "reset", "params": {"type": "Soft"}, "operator": "line-3"}, 2)
    assert ran["outcome"] == "ok" and ran["payload"] == {"status": "Accepted"}, ran
    assert any(a["actor"] == "mqtt:line-3" and a["outcome"] == "ok" for a in audit(fed, "hub-c", "CP-3"))
    bad = reply_to(fed, "CP-3", {"command": "reset", "params": {"type": "Sideways"}}, 3)
    assert bad["outcome"] == "refused" and "Sideways" in bad["message"], bad
    unknown = reply_to(fed, "CP-3", {"command": "format_disk"}, 4)
    assert unknown["outcome"] == "refused" and "no command" in unknown["message"], unknown


def test_the_broker_acl_keeps_a_reader_from_commanding(fed):
    before = len(audit(fed, "hub-c", "CP-3"))
    topic = tree("replies", READER, "1")
    denied = pub(
        fed["broker"],
        tree("devices", "CP-3", "cmd"),
        '{"command": "reset", "params": {"type": "Soft"}}',
        user=READER,
        response=topic,
        correlation="x",
    )
    # mosquitto acknowledges and drops it; the hub never sees it: nothing audited
    assert denied.returncode == 0, denied.stderr
    time.sleep(1.0)  # not a timing assertion: giving a wrongly delivered command the chance to show up
    assert len(audit(fed, "hub-c", "CP-3")) == before


def test_a_queued_command_is_delivered_by_the_hub_the_device_reaches(fed):
    url = fed["hubs"]["hub-c"].url("/devices/CP-6")
    queued = Process(
        fed["base"],
        "queued-send",
        "--json",
        "send",
        url,
        "reset",
        "type=Hard",
        "--profile",
        "ocpp16",
        "--certs",
        fed["store"],
        "--operator",
        "alice",
        "--yes",
        "--queue",
        "120",
    )
    cp6 = None
    try:
        deadline = time.monotonic() + 30
        while not any(a["outcome"] == "queued" for a in audit(fed, "hub-c", "CP-6")):
            assert time.monotonic() < deadline, queued.err.read_text()
            time.sleep(0.2)
        cp6 = charger(fed["base"], fed["broker"], "CP-6", fed["hubs"]["hub-a"])
        assert queued.proc.wait(timeout=60) == 0, queued.err.read_text()
        assert json.loads(queued.out.read_text().splitlines()[-1])["reply"] == {"status": "Accepted"}
        took = [a for a in audit(fed, "hub-c", "CP-6") if a["outcome"] == "delivered"]
        assert took and "forwarded to hub hub-a" in took[-1]["detail"], audit(fed, "hub-c", "CP-6")
        assert any(a["actor"] == "alice" and a["action"] == "reset" for a in audit(fed, "hub-a", "CP-6"))
    finally:
        queued.stop()
        if cp6 is not None:
            cp6.stop()


def test_a_device_that_does_not_answer_is_exit_6_through_two_hubs_and_its_late_reply_reaches_nobody(fed):
    """CP-4 on hub-a answers every call 5 s late.  An operator on hub-b who
    waits 1.5 s gets exit 6; the next call, made at once, gets its own answer,
    never the first call's late one (each hop matches its own id: hub-b's
    correlation data, hub-a's OCPP message id)."""
    cp4 = charger(fed["base"], fed["broker"], "CP-4", fed["hubs"]["hub-a"], extra=("--reply-delay", "5"))
    states = Sub(fed["broker"], tree("devices", "CP-4", "state"), user=READER)
    try:
        states.doc(tree("devices", "CP-4", "state"), lambda d: d["online"] and d["hub"] == "hub-a" and d["firmware"])
        slow = send(fed, "hub-b", "CP-4", "get_configuration", "--timeout", "1.5", timeout=30)
        assert slow.returncode == ExitCode.TIMEOUT, (slow.stdout, slow.stderr)
        assert "1.5 s" in slow.stdout + slow.stderr
        later = send(fed, "hub-b", "CP-4", "reset", "type=Soft", timeout=60)
        assert later.returncode == 0, (later.stdout, later.stderr)
        assert json.loads(later.stdout.splitlines()[-1])["reply"] == {"status": "Accepted"}
        ran = [a for a in audit(fed, "hub-a", "CP-4") if a["action"] in ("get_configuration", "reset")]
        # hub-a ran both, in order, each answered by the charger (late, but within hub-a's own wait)
        assert [(a["action"], a["outcome"]) for a in ran] == [("get_configuration", "ok"), ("reset", "ok")], ran
    finally:
        states.stop()
        cp4.stop()


def test_a_queued_command_is_delivered_once_when_the_device_shows_up_on_two_hubs(fed):
    """CP-5 is queued a reset on hub-c, turns up on hub-a (slow to answer:
    hub-c's forward is in flight) and then on hub-c itself, as a charger does
    whose old connection hub-a has not yet seen die.  Exactly one of the two
    hubs delivers it."""
    url = fed["hubs"]["hub-c"].url("/devices/CP-5")
    tls = ("--profile", "ocpp16", "--certs", fed["store"], "--operator", "alice", "--yes")
    queued = Process(fed["base"], "queued-twice", "--json", "send", url, "reset", "type=Hard", *tls, "--queue", "120")
    calls = Sub(fed["broker"], tree("hubs", "hub-c", "calls", "hub-a"), user="hub-a")
    states = Sub(fed["broker"], tree("devices", "CP-5", "state"), user=READER)
    sims = []
    try:
        deadline = time.monotonic() + 30
        while not any(a["outcome"] == "queued" for a in audit(fed, "hub-c", "CP-5")):
            assert time.monotonic() < deadline, queued.err.read_text()
            time.sleep(0.2)
        sims.append(charger(fed["base"], fed["broker"], "CP-5", fed["hubs"]["hub-a"], extra=("--reply-delay", "4")))
        calls.doc(tree("hubs", "hub-c", "calls", "hub-a"))  # the forward is on its way to hub-a
        sims.append(charger(fed["base"], fed["broker"], "CP-5", fed["hubs"]["hub-c"]))
        states.doc(tree("devices", "CP-5", "state"), lambda d: d["online"] and d["hub"] == "hub-c" and d["firmware"])
        assert queued.proc.wait(timeout=60) == 0, queued.err.read_text()
        deadline = time.monotonic() + 30
        while not any("forwarded to hub hub-a" in (a["detail"] or "") for a in audit(fed, "hub-c", "CP-5")):
            assert time.monotonic() < deadline, audit(fed, "hub-c", "CP-5")
            time.sleep(0.2)
        time.sleep(1.0)  # not a timing assertion: giving a second delivery the chance to show up
        resets = [a for a in audit(fed, "hub-a", "CP-5") if a["action"] == "reset" and a["outcome"] == "ok"]
        local = [a for a in audit(fed, "hub-c", "CP-5") if "delivered" in (a["detail"] or "")]
        assert len(resets) + len(local) == 1, (resets, local)
    finally:
        queued.stop()
        calls.stop()
        states.stop()
        for sim in sims:
            sim.stop()


def test_a_queued_command_forwarded_on_stale_presence_waits_for_the_hub_the_device_reaches(fed):
    """hub-c holds a queued reset for CP-8; a presence saying CP-8 is on hub-a
    (stale: it is not) makes hub-c forward it there, hub-a answers that CP-8
    is not connected, and the command stays queued until CP-8 really turns
    up, on hub-b, which delivers it."""
    url = fed["hubs"]["hub-c"].url("/devices/CP-8")
    tls = ("--profile", "ocpp16", "--certs", fed["store"], "--operator", "alice", "--yes")
    queued = Process(fed["base"], "queued-stale", "--json", "send", url, "reset", "type=Soft", *tls, "--queue", "120")
    calls = Sub(fed["broker"], tree("hubs", "hub-c", "calls", "hub-a"), user="hub-a")
    cp8 = None
    try:
        deadline = time.monotonic() + 30
        while not any(a["outcome"] == "queued" for a in audit(fed, "hub-c", "CP-8")):
            assert time.monotonic() < deadline, queued.err.read_text()
            time.sleep(0.2)
        stale = {"v": 1, "device": "CP-8", "online": True, "hub": "hub-a", "since": "2026-12-02T00:00:00Z"}
        assert pub(fed["broker"], tree("devices", "CP-8", "state"), json.dumps(stale), user="hub-a").returncode == 0
        calls.doc(tree("hubs", "hub-c", "calls", "hub-a"))  # forwarded to hub-a, which does not hold CP-8
        cp8 = charger(fed["base"], fed["broker"], "CP-8", fed["hubs"]["hub-b"])
        assert queued.proc.wait(timeout=60) == 0, (queued.out.read_text(), queued.err.read_text())
        assert json.loads(queued.out.read_text().splitlines()[-1])["reply"] == {"status": "Accepted"}
        took = [a for a in audit(fed, "hub-c", "CP-8") if a["outcome"] == "delivered"]
        assert took and "forwarded to hub hub-b" in took[-1]["detail"], audit(fed, "hub-c", "CP-8")
    finally:
        queued.stop()
        calls.stop()
        if cp8 is not None:
            cp8.stop()
