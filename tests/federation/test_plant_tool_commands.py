"""What a hub writes when the broker asks it to: a plant tool's command is
answered only under ``replies/`` (the hub writes with its own ACL, which
reaches presence, telemetry and its own state), a hub's call only where the
calling hub listens, a command runs on the one hub its device's presence
names, and a packet larger than the hub takes never reaches it.  Real
mosquitto (TLS, the ACL of docs/federation.md), hub processes, simulated
chargers; the broker read and written with mosquitto's own clients."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from cli_runner import run_in_process
from federation_helpers import READER, TOOL, Sub, charger, need, pub, start_broker, start_hub, tree


@pytest.fixture(scope="module")
def fed(fed_pki, tmp_path_factory):
    base = tmp_path_factory.mktemp("plant-tool")
    broker = start_broker(fed_pki, base)
    started: list = []
    try:
        hubs = {name: start_hub(base, broker, name, "--mqtt-command-role", "engineer") for name in ("hub-a", "hub-b")}
        started += [h.process for h in hubs.values()]
        states = Sub(broker, tree("devices", "+", "state"), user=READER)
        for name, hub in (("CP-1", "hub-a"), ("CP-2", "hub-b")):
            started.append(charger(base, broker, name, hubs[hub]))
        for name, hub in (("CP-1", "hub-a"), ("CP-2", "hub-b")):
            states.doc(tree("devices", name, "state"), lambda d, hub=hub: d["online"] and d["hub"] == hub)
        states.stop()
        yield {"base": base, "broker": broker, "hubs": hubs, "store": str(fed_pki.path)}
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)


def audit(fed, hub: str, device: str) -> list[dict]:
    listed = run_in_process("--json", "hub", "audit", "--registry", fed["hubs"][hub].registry, "--device", device)
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def command(fed, device: str, body: dict, response: str, correlation: str) -> None:
    sent = pub(
        fed["broker"], tree("devices", device, "cmd"), json.dumps(body), response=response, correlation=correlation
    )
    assert sent.returncode == 0, sent.stderr


def answered(fed, device: str, n: int) -> dict:
    topic = tree("replies", TOOL, str(n))
    replies = Sub(fed["broker"], topic)
    try:
        command(fed, device, {"command": "get_configuration"}, topic, f"ok-{n}")
        return replies.doc(topic)
    finally:
        replies.stop()


def test_a_plant_tools_command_with_a_response_topic_outside_replies_is_neither_run_nor_answered(fed):
    # everything a hub may write but a tool must not make it write, and replies/ levels that break the id rule
    wrong = [
        tree("hubs", "hub-a", "state"),
        tree("devices", "CP-2", "state"),
        tree("devices", "CP-2", "telemetry", "MeterValues"),
        tree("registry", "devices", "CP-2"),
        tree("hubs", "hub-a", "replies", "hub-b"),
        tree("replies"),
        tree("replies", "a b"),
        tree("replies", *["x"] * 9),
    ]
    watch = Sub(fed["broker"], tree("#"), user="hub-b")  # a hub reads the whole site
    before = len(audit(fed, "hub-a", "CP-1"))
    try:
        for n, topic in enumerate(wrong):
            command(fed, "CP-1", {"command": "reset", "params": {"type": "Soft"}, "operator": "line-3"}, topic, f"x{n}")
        # the next, well-formed command is answered: the ones before it were read (one session, in order)
        assert answered(fed, "CP-1", 1)["outcome"] == "ok"
        time.sleep(0.5)  # not a timing assertion: a wrongly sent reply would be on the broker by now
        assert [line for line in watch.lines if '"outcome"' in line and "/replies/plant-tool/" not in line] == []
    finally:
        watch.stop()
    refused = [a for a in audit(fed, "hub-a", "CP-1")[before:] if a["outcome"] == "refused"]
    assert len(refused) == len(wrong), refused
    assert all(a["actor"] == "mqtt:line-3" and "not under" in a["detail"] for a in refused), refused
    assert not [a for a in audit(fed, "hub-a", "CP-1")[before:] if a["action"] == "reset" and a["outcome"] == "ok"]
    # a flood costs one warning per 10 s, not one per command
    warned = [line for line in fed["hubs"]["hub-a"].process.err.read_text().splitlines() if "response topic" in line]
    assert len(warned) == 1, warned
    # hub-a is still online for hub-b, and CP-2 on hub-b: an operator there reaches both
    for device in ("CP-1", "CP-2"):
        done = run_in_process(
            "--json", "send", fed["hubs"]["hub-b"].url(f"/devices/{device}"), "get_configuration",
            "--profile", "ocpp16", "--certs", fed["store"], "--operator", "alice",
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout, done.stderr)


def test_a_hubs_call_is_answered_where_the_calling_hub_listens_whatever_response_topic_it_names(fed):
    """hub-b may write hubs/hub-b/#: a call it makes with a response topic of
    its choosing is still answered on hubs/hub-a/replies/hub-b, never on the
    topic named (here another tool's reply topic)."""
    elsewhere = tree("replies", "other-tool", "7")
    listens = tree("hubs", "hub-a", "replies", "hub-b")
    watch = Sub(fed["broker"], elsewhere, listens, user="hub-b")
    try:
        body = {"v": 1, "device": "CP-1", "operator": "alice", "role": "engineer", "command": "get_configuration"}
        sent = pub(
            fed["broker"],
            tree("hubs", "hub-b", "calls", "hub-a"),
            json.dumps(body),
            user="hub-b",
            response=elsewhere,
            correlation="theirs-1",
        )
        assert sent.returncode == 0, sent.stderr
        reply = watch.doc(listens)
        assert reply["outcome"] == "ok" and reply["hub"] == "hub-a", reply
        assert not [line for line in watch.lines if line.startswith(elsewhere)]
    finally:
        watch.stop()


def test_a_command_runs_only_on_the_hub_its_devices_presence_names(fed):
    """CP-5 with a connection to hub-a and a newer one to hub-b (an old
    connection not yet seen dead): one reset, run and answered once, by hub-b."""
    hubs = fed["hubs"]
    states = Sub(fed["broker"], tree("devices", "CP-5", "state"), user=READER)
    sims = []
    try:
        sims.append(charger(fed["base"], fed["broker"], "CP-5", hubs["hub-a"]))
        states.doc(tree("devices", "CP-5", "state"), lambda d: d["online"] and d["hub"] == "hub-a" and d["firmware"])
        sims.append(charger(fed["base"], fed["broker"], "CP-5", hubs["hub-b"]))
        states.doc(tree("devices", "CP-5", "state"), lambda d: d["online"] and d["hub"] == "hub-b" and d["firmware"])
        topic = tree("replies", TOOL, "two")
        replies = Sub(fed["broker"], topic)
        try:
            command(fed, "CP-5", {"command": "reset", "params": {"type": "Soft"}}, topic, "once")
            assert replies.doc(topic)["hub"] == "hub-b"
            time.sleep(1.0)  # not a timing assertion: giving a second reply the chance to show up
            assert replies.lines == []
        finally:
            replies.stop()
        ran = {h: [a for a in audit(fed, h, "CP-5") if a["action"] == "reset"] for h in ("hub-a", "hub-b")}
        assert ran["hub-a"] == [] and len(ran["hub-b"]) == 1, ran
    finally:
        states.stop()
        for sim in sims:
            sim.stop()


def test_a_publish_larger_than_a_hub_takes_never_reaches_it(fed, tmp_path):
    """The hub's CONNECT asks for packets of at most 128 KiB (MQTT 5 Maximum
    Packet Size): mosquitto keeps a 1 MB command from every hub (it reached
    them all, and cost each four times its size in memory).  The session goes
    on: the next command is answered, the hub never lost the broker."""
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"command": "get_configuration", "pad": "x" * (1 << 20)}))
    args = [need("mosquitto_pub"), *fed["broker"].client_tls(TOOL), "-q", "1", "-t", tree("devices", "CP-1", "cmd")]
    sent = subprocess.run(
        [*args, "-D", "publish", "response-topic", tree("replies", TOOL, "big"), "-f", str(big)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    assert answered(fed, "CP-1", 2)["outcome"] == "ok"
    for hub in fed["hubs"].values():
        log = hub.process.err.read_text()
        assert "more than 65536" not in log and "lost the broker" not in log, log[-2000:]
