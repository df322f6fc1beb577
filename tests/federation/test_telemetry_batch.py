"""Device messages coalesced into one write per trio scheduling pass
(`wsctl.net.federation.batch`, `MqttLink.publish_telemetry`), against a real
mosquitto read by mosquitto_sub: the bytes are paho's own PUBLISH packets,
everything arrives in full and in the order it was published (also around
QoS 1 presence), and every message's outcome is told exactly once — dropped
when the broker does not read or the connection is lost, published otherwise."""

from __future__ import annotations

import signal
from collections import Counter

import paho.mqtt.client as paho
import pytest
import trio
from federation_helpers import Sub, start_broker, tree

import wsctl.net.federation.mqtt as mqtt
from wsctl.net.federation import batch
from wsctl.net.federation.broker_url import BrokerURL
from wsctl.net.federation.mqtt import MqttLink
from wsctl.net.tls import client_context


def _paho_bytes(topic: str, payload: bytes) -> bytes:
    """What paho 2.x itself queues for ``publish(topic, payload)`` at QoS 0 (MQTT 5)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="x", protocol=paho.MQTTv5)
    queued: list[bytes] = []
    client._packet_queue = lambda command, packet, mid, qos, info=None: queued.append(bytes(packet)) or 0
    client._sock = object()  # "connected": paho builds the packet and queues it
    try:
        client.publish(topic, payload)
    finally:
        client._sock = None
    return queued[0]


@pytest.mark.parametrize("size", [0, 1, 90, 127 - 30, 128, 16_000, 16_383, 16_384, 70_000])
def test_packet_is_the_publish_paho_writes(size):
    topic = tree("devices", "CP-00017", "events", "MeterValues")
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert batch.packet(topic, payload) == _paho_bytes(topic, payload)


@pytest.mark.parametrize("topic", ["", "a/+/b", "a/#", "x" * 70_000])
def test_packet_refuses_what_paho_refuses(topic):
    with pytest.raises(ValueError):
        batch.packet(topic, b"{}")
    if topic:  # paho's own check (an empty topic is MQTT 5's topic alias, not ours)
        with pytest.raises(ValueError):
            _paho_bytes(topic, b"{}")


def _link(fed_pki, broker, told: list[tuple[str, bool]]) -> MqttLink:
    leaf = fed_pki.leaf("hub-a")
    return MqttLink(
        BrokerURL("localhost", broker.port, True),
        client_id="wsctl-plant-1-hub-a",
        tls=client_context(ca=str(fed_pki.cafile), cert=str(leaf.chain), key=str(leaf.key)),
        will=(tree("hubs", "hub-a", "state"), b'{"v":1,"online":false}'),
        on_message=lambda item: None,
        on_connected=lambda: None,
        on_telemetry=lambda tag, published: told.append((tag, published)),
    )


def _count_sends(link: MqttLink) -> list[int]:
    """How many times paho writes to the socket (each a TLS record and a system call)."""
    sends = [0]
    client = link._client
    plain = client._sock_send

    def counted(buf):
        sends[0] += 1
        return plain(buf)

    client._sock_send = counted
    return sends


def test_coalesced_messages_arrive_in_full_and_in_order_around_presence(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    sub = Sub(broker, tree("devices", "#"), fmt="%t %p")
    told: list[tuple[str, bool]] = []
    sends: list[int] = []
    sent: list[str] = []

    async def main() -> None:
        link = _link(fed_pki, broker, told)
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await link.open(nursery)
                try:
                    sends[:] = [0]
                    counter = _count_sends(link)
                    for n in range(3000):
                        device = f"CP-{n % 7:05d}"
                        sent.append(f"{tree('devices', device, 'events', 'MeterValues')} {n}")
                        link.publish_telemetry(sent[-1].split(" ")[0], b"%d" % n, "events")
                        if n % 500 == 250:  # presence between readings (QoS 1, retained: paho's own path)
                            state = tree("devices", device, "state")
                            sent.append(f"{state} s{n}")
                            assert link.publish(state, b"s%d" % n, qos=1, retain=True)
                        if n % 25 == 24:
                            await trio.lowlevel.checkpoint()  # the end of a scheduling pass
                    while link._batch or link._client.want_write():
                        await trio.sleep(0.01)
                    sends[0] = counter[0]
                finally:
                    await link.close()

    try:
        trio.run(main)
        sub.until(lambda line: line == sent[-1], timeout=30, what="the last reading")
    finally:
        sub.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
    got = [line for line in sub.lines if line in set(sent)]
    assert got == sent  # every one, once, in the order published
    assert told == [("events", True)] * 3000
    assert 0 < sends[0] < 3000 // 10  # about one write per pass of 25 (and per presence), not one per message


def test_no_outcome_lost_or_told_twice_when_the_broker_stalls_and_dies(fed_pki, tmp_path, monkeypatch):
    """mosquitto stopped (SIGSTOP): the socket fills, paho holds what it could
    not write, past `MAX_BACKLOG` new messages are dropped at once; then
    mosquitto is killed: what paho still held is told dropped when the link
    sees the connection gone (before paho's reconnect, in a worker thread,
    discards it).  Every message: exactly one outcome."""
    monkeypatch.setattr(mqtt, "MAX_BACKLOG", 300)
    broker = start_broker(fed_pki, tmp_path)
    told: list[tuple[str, bool]] = []
    total = 4000
    state: dict[str, int] = {}

    async def main() -> None:
        link = _link(fed_pki, broker, told)
        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                await link.open(nursery)
                try:
                    broker.proc.send_signal(signal.SIGSTOP)
                    payload = b"x" * 4000
                    for n in range(total):  # ~16 MB: more than the sockets' buffers hold
                        link.publish_telemetry(tree("devices", "CP-00001", "events", "MeterValues"), payload, f"m{n}")
                        await trio.lowlevel.checkpoint()
                    state["held"] = link._unsent
                    broker.proc.kill()  # SIGKILL is delivered to a stopped process
                    broker.proc.wait(timeout=10)
                    while link.connected or link._client.socket() is not None:
                        await trio.sleep(0.05)
                    state["unsent after"] = link._unsent
                finally:
                    await link.close()

    try:
        trio.run(main)
    finally:
        if broker.proc.poll() is None:
            broker.proc.send_signal(signal.SIGCONT)
            broker.proc.kill()
        broker.proc.wait(timeout=10)
    outcomes = Counter(tag for tag, _ in told)
    assert len(outcomes) == total and set(outcomes.values()) == {1}  # each message told, once
    dropped = [tag for tag, published in told if not published]
    assert 0 < state["held"] <= 300  # the bound held: paho had messages unsent when the broker died
    assert len(dropped) > state["held"]  # those held when it died, and those refused at the bound
    assert state["unsent after"] == 0
