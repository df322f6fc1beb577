"""A clean close of the MQTT link loses nothing it wrote: it waits (bounded)
for the broker's PUBACKs before its DISCONNECT.  Real mosquitto, read by
mosquitto_sub.

Why: mosquitto 2.0 that finds the client's socket closed when it writes a
PUBACK drops that client without reading the rest of what it sent; the device
messages published after a presence were lost when a link closed at once
(seen under load in a clean-clone CI run)."""

from __future__ import annotations

import os
import signal

import trio
from federation_helpers import Sub, start_broker, tree
from test_telemetry_batch import _link

import wsctl.net.federation.mqtt as mqtt


def _watch_disconnect(link) -> list[bool]:
    """Whether a QoS 1 publish was still unacknowledged when the DISCONNECT was written."""
    unacked: list[bool] = []
    client = link._client
    plain = client.disconnect

    def disconnect(*args, **kwargs):
        unacked.append(mqtt._unacknowledged(client))
        return plain(*args, **kwargs)

    client.disconnect = disconnect
    return unacked


def test_close_waits_for_the_pubacks_so_what_follows_a_qos1_publish_arrives(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    sub = Sub(broker, tree("devices", "#"), fmt="%t %p")
    told: list[tuple[str, bool]] = []
    unacked: list[bool] = []
    state, readings = tree("devices", "CP-00001", "state"), tree("devices", "CP-00001", "events", "MeterValues")
    sent = [f"{state} online"] + [f"{readings} {n}" for n in range(500)]

    async def main() -> None:
        link = _link(fed_pki, broker, told)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await link.open(nursery)
                watched = _watch_disconnect(link)
                assert link.publish(state, b"online", qos=1, retain=True)
                for n in range(500):
                    link.publish_telemetry(readings, b"%d" % n, "events")
                    if n % 25 == 24:
                        await trio.lowlevel.checkpoint()
                await link.close()  # at once: the PUBACK may not have been read yet
                unacked.extend(watched)

    try:
        trio.run(main)
        sub.until(lambda line: line == sent[-1], timeout=30, what="the last reading")
    finally:
        sub.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
    assert unacked == [False]  # the DISCONNECT went after the broker acknowledged the presence
    assert [line for line in sub.lines if line in set(sent)] == sent
    assert told == [("events", True)] * 500
    assert "disconnected due to" not in broker.log.read_text()


def test_close_is_bounded_when_the_broker_never_acknowledges(fed_pki, tmp_path, monkeypatch):
    """mosquitto stopped (SIGSTOP) after the QoS 1 publish: close gives up
    after `CLOSE_DRAIN` and still disconnects."""
    monkeypatch.setattr(mqtt, "CLOSE_DRAIN", 0.5)
    broker = start_broker(fed_pki, tmp_path)
    told: list[tuple[str, bool]] = []
    unacked: list[bool] = []

    async def main() -> None:
        link = _link(fed_pki, broker, told)
        async with trio.open_nursery() as nursery:
            await link.open(nursery)
            watched = _watch_disconnect(link)
            os.kill(broker.proc.pid, signal.SIGSTOP)
            try:
                assert link.publish(tree("devices", "CP-00001", "state"), b"online", qos=1, retain=True)
                with trio.fail_after(10):
                    await link.close()
            finally:
                os.kill(broker.proc.pid, signal.SIGCONT)
            unacked.extend(watched)

    try:
        trio.run(main)
    finally:
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
    assert unacked == [True]  # it waited, then disconnected anyway
