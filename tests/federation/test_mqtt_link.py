"""The hub's MQTT link against a real mosquitto, with mosquitto's own clients
on the other side: a call's response topic and correlation data read from a
PUBLISH mosquitto_pub wrote, a reply's written so mosquitto_sub shows them,
and PUBACKs awaited around QoS 0 traffic (paho is told of PUBACKs only while
one is awaited: `MqttLink._watch_pubacks`)."""

from __future__ import annotations

import trio
from federation_helpers import Sub, pub, start_broker, tree

from wsctl.net.federation.mqtt import BrokerURL, Incoming, MqttLink
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
