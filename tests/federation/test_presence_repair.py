"""Presence that is wrong gets put right by the hub that knows: the hub
holding a device answers a stale "offline" (or a dead hub's claim) with its
own "online"; a state that is not the state of its topic's hub or device is
ignored; a routed call that meets stale presence waits in the queue with
``--queue`` instead of failing.  Real mosquitto, hub processes, chargers; the
wrong presence is written as a hub could write it (the ACL lets every hub
write ``devices/+/state``)."""

from __future__ import annotations

import json
import time

import pytest
from cli_runner import run_in_process
from federation_helpers import READER, Process, Sub, charger, pub, start_broker, start_hub, tree

from wsctl.core.exit_table import ExitCode
from wsctl.net.federation.remote_calls import NOT_HERE


@pytest.fixture(scope="module")
def fed(fed_pki, tmp_path_factory):
    base = tmp_path_factory.mktemp("presence-repair")
    broker = start_broker(fed_pki, base)
    started: list = []
    try:
        hubs = {name: start_hub(base, broker, name) for name in ("hub-a", "hub-b", "hub-c")}
        started += [h.process for h in hubs.values()]
        states = Sub(broker, tree("devices", "+", "state"), user=READER)
        for name, hub in (("CP-2", "hub-b"), ("CP-3", "hub-a")):
            started.append(charger(base, broker, name, hubs[hub]))
        for name, hub in (("CP-2", "hub-b"), ("CP-3", "hub-a")):
            states.doc(tree("devices", name, "state"), lambda d, hub=hub: d["online"] and d["hub"] == hub)
        states.stop()
        yield {"base": base, "broker": broker, "hubs": hubs, "store": str(fed_pki.path)}
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)


def send(fed, hub: str, device: str, *args: str):
    url = fed["hubs"][hub].url(f"/devices/{device}")
    return run_in_process(
        "--json", "send", url, "get_configuration", *args, "--profile", "ocpp16", "--certs", fed["store"],
        "--operator", "alice",
    )  # fmt: skip


def retained(fed, device: str) -> dict:
    sub = Sub(fed["broker"], tree("devices", device, "state"), user=READER)
    try:
        return sub.doc(tree("devices", device, "state"), timeout=10)
    finally:
        sub.stop()


def state(device: str, hub: str, online: bool) -> str:
    return json.dumps({"v": 1, "device": device, "online": online, "hub": hub, "since": "2026-12-02T00:00:00Z"})


@pytest.mark.parametrize(
    "stale",
    [state("CP-2", "hub-a", False), state("CP-2", "hub-z", True)],
    ids=["offline-from-a-hub-that-missed-the-move", "claim-of-a-hub-that-is-offline"],
)
def test_the_hub_holding_a_device_corrects_a_stale_retained_state(fed, stale):
    """(kill -STOP of hub-a while CP-2 moved to hub-b made hub-a's late "offline"
    the retained state: CP-2 was unreachable from every other hub.)"""
    states = Sub(fed["broker"], tree("devices", "CP-2", "state"), user=READER)
    try:
        states.doc(tree("devices", "CP-2", "state"))  # the retained one
        assert pub(fed["broker"], tree("devices", "CP-2", "state"), stale, user="hub-a", retain=True).returncode == 0
        states.doc(tree("devices", "CP-2", "state"), lambda d: d["hub"] != "hub-b")  # it went out
        fixed = states.doc(tree("devices", "CP-2", "state"), lambda d: d["online"] and d["hub"] == "hub-b", timeout=10)
        assert fixed["firmware"] == "1.4.2"  # hub-b's own record of it
    finally:
        states.stop()
    assert retained(fed, "CP-2")["hub"] == "hub-b"
    done = send(fed, "hub-c", "CP-2")
    assert done.returncode == 0, (done.stdout, done.stderr)


def test_a_state_that_is_not_its_topics_is_ignored(fed):
    """A hub's state that says no ``online`` (a reply a plant tool had sent
    there) made every hub take hub-b for offline; a device's state naming
    another device overwrote CP-2's presence."""
    not_a_state = json.dumps({"v": 1, "hub": "hub-b", "outcome": "ok", "payload": {}})
    assert pub(fed["broker"], tree("hubs", "hub-b", "state"), not_a_state, user="hub-b").returncode == 0
    other = state("CP-9", "hub-b", False)
    assert pub(fed["broker"], tree("devices", "CP-2", "state"), other, user="hub-b").returncode == 0
    log = fed["hubs"]["hub-c"].process.err
    deadline = time.monotonic() + 10
    while log.read_text().count("ignored: not the") < 2:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    assert "hub hub-b went offline" not in log.read_text()
    done = send(fed, "hub-c", "CP-2")
    assert done.returncode == 0, (done.stdout, done.stderr)


class StaleHub:
    """hub-d as a hub whose presence claims are stale: online, it answers
    every call "not connected here" (paho in a thread of the test, with
    hub-d's certificate, as the hub process would)."""

    def __init__(self, broker) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._props = lambda: Properties(PacketTypes.PUBLISH)
        leaf = broker.pki.leaf("hub-d")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stale-hub-d", protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(broker.pki.cafile), certfile=str(leaf.chain), keyfile=str(leaf.key))
        self.client.on_message = self._call
        self.client.connect("localhost", broker.port)
        self.client.loop_start()
        self.client.subscribe(tree("hubs", "+", "calls", "hub-d"), qos=0)
        self.calls = 0
        online = {"v": 1, "hub": "hub-d", "online": True, "since": "2026-12-02T00:00:00Z"}
        self.client.publish(tree("hubs", "hub-d", "state"), json.dumps(online), qos=1, retain=True).wait_for_publish(10)

    def _call(self, client, userdata, message) -> None:
        self.calls += 1
        props = self._props()
        props.CorrelationData = message.properties.CorrelationData
        caller = message.topic.rsplit("/", 3)[1]
        answer = {"v": 1, "hub": "hub-d", "outcome": "offline", "message": "hub hub-d: not connected here",
                  "error_kind": "device", "detail": NOT_HERE}  # fmt: skip
        client.publish(tree("hubs", "hub-d", "replies", caller), json.dumps(answer), qos=0, properties=props)

    def close(self) -> None:
        offline = {"v": 1, "hub": "hub-d", "online": False, "since": None, "reason": "stopped"}
        self.client.publish(tree("hubs", "hub-d", "state"), json.dumps(offline), qos=1, retain=True).wait_for_publish(
            10
        )
        self.client.disconnect()
        self.client.loop_stop()


def test_a_queued_call_that_meets_stale_presence_waits_for_the_device(fed):
    """CP-3 is on hub-a, its presence says hub-d (stale): hub-d answers "not
    connected here", and the operator's ``--queue`` call waits on hub-c
    instead of failing; presence naming hub-a delivers it there.  Without
    ``--queue`` the answer is hub-d's, at once."""
    stale = StaleHub(fed["broker"])
    tls = ("--profile", "ocpp16", "--certs", fed["store"], "--operator", "alice")
    queued = None
    try:
        claim = state("CP-3", "hub-d", True)
        assert pub(fed["broker"], tree("devices", "CP-3", "state"), claim, user="hub-d", retain=True).returncode == 0
        time.sleep(0.5)  # not a timing assertion: hub-c takes the stale presence
        failed = send(fed, "hub-c", "CP-3")
        assert failed.returncode == ExitCode.DEVICE_ERROR, (failed.stdout, failed.stderr)
        assert "not connected here" in failed.stdout + failed.stderr and stale.calls == 1
        url = fed["hubs"]["hub-c"].url("/devices/CP-3")
        queued = Process(fed["base"], "stale-queued", "--json", "send", url, "get_configuration", *tls, "--queue", "60")
        deadline = time.monotonic() + 30
        while not any(a["outcome"] == "queued" for a in audit(fed, "hub-c", "CP-3")):
            assert queued.proc.poll() is None, (queued.out.read_text(), queued.err.read_text())
            assert time.monotonic() < deadline, audit(fed, "hub-c", "CP-3")
            time.sleep(0.2)
        fresh = state("CP-3", "hub-a", True)
        assert pub(fed["broker"], tree("devices", "CP-3", "state"), fresh, user="hub-a", retain=True).returncode == 0
        assert queued.proc.wait(timeout=30) == 0, (queued.out.read_text(), queued.err.read_text())
        took = [a for a in audit(fed, "hub-c", "CP-3") if a["outcome"] == "delivered"]
        assert took and "forwarded to hub hub-a" in took[-1]["detail"], audit(fed, "hub-c", "CP-3")
    finally:
        if queued is not None:
            queued.stop()
        stale.close()


def audit(fed, hub: str, device: str) -> list[dict]:
    listed = run_in_process("--json", "hub", "audit", "--registry", fed["hubs"][hub].registry, "--device", device)
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
