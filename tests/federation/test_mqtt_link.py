"""The hub's MQTT link against a real mosquitto, with mosquitto's own clients
on the other side: a call's response topic and correlation data read from a
PUBLISH mosquitto_pub wrote, a reply's written so mosquitto_sub shows them,
and PUBACKs awaited around QoS 0 traffic (paho is told of PUBACKs only while
one is awaited: `MqttLink._watch_pubacks`)."""

from __future__ import annotations

import trio
from federation_helpers import Sub, pub, start_broker, tree

from wsctl.net.federation.broker_url import BrokerURL
from wsctl.net.federation.mqtt import Incoming, MqttLink
from wsctl.net.tls import client_context


def _link(fed_pki, broker, got: list[Incoming], connected: list[bool]) -> MqttLink:
    leaf = fed_pki.leaf("hub-a")
    return MqttLink(
        BrokerURL("localhost", broker.port, True),
        client_id="wsctl-plant-1-hub-a",
        tls=client_context(ca=str(fed_pki.cafile), cert=str(leaf.chain), key=str(leaf.key)),
        will=(tree("hubs", "hub-a", "state"), b'{"v":1,"online":false}'),
        on_message=got.append,
        on_connected=lambda: connected.append(True),
    )


def test_call_properties_both_ways_and_pubacks_around_qos0(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    replies = Sub(broker, tree("hubs", "hub-a", "replies", "hub-b"), user="hub-b", fmt="%t|%R|%D|%p")
    got: list[Incoming] = []
    connected: list[bool] = []
    outcomes: list[str | None] = []
    calls = tree("hubs", "hub-b", "calls", "hub-a")

    async def main() -> None:
        link = _link(fed_pki, broker, got, connected)
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await link.open(nursery)
                try:  # the link's task ends only with close: a failed assert must not hang the nursery
                    link.subscribe([tree("hubs", "+", "calls", "hub-a")])
                    outcomes.append(await link.publish_confirmed(tree("hubs", "hub-a", "state"), b"{}", timeout=10))
                    assert link._client.on_publish is None  # nobody waits: paho reports no QoS 0 write
                    await trio.sleep(0.5)  # the SUBACK
                    done = await trio.to_thread.run_sync(
                        lambda: pub(
                            broker, calls, '{"v":1}', user="hub-b", response=tree("hubs", "hub-a", "replies", "hub-b"),
                            correlation="c-17",
                        )
                    )  # fmt: skip
                    assert done.returncode == 0, done.stderr
                    while not got:
                        await trio.sleep(0.02)
                    call = got[0]
                    for n in range(50):  # QoS 0 between the confirmed ones
                        assert link.publish(tree("hubs", "hub-a", "telemetry-check"), b"%d" % n)
                    assert link.publish(call.response_topic, b'{"outcome":"ok"}', correlation=call.correlation)
                    outcomes.append(await link.publish_confirmed(tree("hubs", "hub-a", "state"), b"{}", timeout=10))
                    # the ACL lets hub-a write nothing under another hub's subtree: the PUBACK says so
                    outcomes.append(await link.publish_confirmed(tree("hubs", "hub-b", "state"), b"{}", timeout=10))
                    assert link._client.on_publish is None
                finally:
                    await link.close()

    try:
        trio.run(main)
        line = replies.until(lambda line: line.endswith('{"outcome":"ok"}'), what="the reply")
    finally:
        replies.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
    assert got[0].topic == calls and got[0].payload == b'{"v":1}'
    assert got[0].response_topic == tree("hubs", "hub-a", "replies", "hub-b")
    assert got[0].correlation == b"c-17"
    assert line == f"{tree('hubs', 'hub-a', 'replies', 'hub-b')}||c-17|" + '{"outcome":"ok"}'
    assert outcomes[:2] == [None, None]
    assert outcomes[2] is not None and "authorized" in outcomes[2].lower()


def test_telemetry_for_a_broker_that_does_not_read_is_bounded(fed_pki, tmp_path, monkeypatch):
    """mosquitto stopped (SIGSTOP: connected, reading nothing): the socket fills,
    paho holds what it could not write, and past `MAX_BACKLOG` a QoS 0 publish
    is refused (False: the federation counts it dropped) instead of growing
    the hub's memory without end; resumed, everything held is delivered."""
    import signal

    import wsctl.net.federation.mqtt as mqtt

    monkeypatch.setattr(mqtt, "MAX_BACKLOG", 200)
    broker = start_broker(fed_pki, tmp_path)
    readings = Sub(broker, tree("hubs", "hub-a", "telemetry-check"), user="hub-b", fmt="%p")
    results: list[bool] = []

    async def main() -> None:
        link = _link(fed_pki, broker, [], [])
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await link.open(nursery)
                try:  # the link's task ends only with close: a failed assert must not hang the nursery
                    broker.proc.send_signal(signal.SIGSTOP)
                    try:
                        payload = b"x" * 4000
                        for _ in range(5000):  # ~20 MB: more than the sockets' buffers hold
                            results.append(link.publish(tree("hubs", "hub-a", "telemetry-check"), payload))
                            await trio.lowlevel.checkpoint()
                    finally:
                        broker.proc.send_signal(signal.SIGCONT)
                    while link._client.want_write():  # the broker reads again: the backlog drains
                        await trio.sleep(0.05)
                    assert link.publish(tree("hubs", "hub-a", "telemetry-check"), b"last")
                finally:
                    await link.close()

    try:
        trio.run(main)
        readings.until(lambda line: line == "last", timeout=30, what="the last reading")
    finally:
        readings.stop()
        broker.proc.send_signal(signal.SIGCONT)
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
    refused = results.count(False)
    assert refused > 0, "the backlog was never full: nothing was bounded"
    assert results.index(False) > 200  # the first refusal comes after the bound
    assert results[-1] is False  # still full when the broker came back
    # what was accepted arrived (QoS 0 on loopback: nothing else lost), then "last"
    assert sum(1 for line in readings.lines if line.startswith("x")) == results.count(True)
