"""A hub's device messages to the broker, coalesced: the QoS 0 PUBLISH packets
of one trio scheduling pass written to the socket as one paho packet.

Why (docs/performance.md, "Telemetry at scale"): through paho's ``publish``
each reading cost ~30 us of the hub's CPU — its topic checks, an
`MQTTMessageInfo`, a `bytearray` grown byte by byte, its locks, and one TLS
record and one ``send`` per message.  Here a reading is one bytes
concatenation (`packet`, the same bytes paho writes: a test compares them),
and the readings that device tasks made in the same pass go to paho's
outgoing queue together (`Batch`), so one TLS record and one system call
carry them all.  On the wire it is the same sequence of PUBLISH packets, in
the order they were made.

Accounting stays exact: a batch tells its tags' outcome once — published
when paho has written its last byte to the socket (paho calls
``_set_as_published`` then), dropped when the connection is lost before (the
link settles what paho still holds, `MqttLink._settle_lost`).  paho 2.x
internals used: ``_packet_queue`` and ``_out_packet`` (pinned below 3, as
`wsctl.net.federation.properties`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from paho.mqtt import client as mqtt
from paho.mqtt.client import MQTTMessageInfo

#: fixed header of a PUBLISH at QoS 0, neither retained nor a duplicate
PUBLISH_QOS0 = b"\x30"
#: paho's packet type of a PUBLISH (its queue's "command")
PUBLISH = 0x30
#: MQTT's largest remaining length (four bytes of variable length integer)
MAX_REMAINING = 268_435_455
MAX_TOPIC = 0xFFFF


def remaining_length(n: int) -> bytes:
    if n > MAX_REMAINING:
        raise ValueError(f"MQTT packet of {n} bytes, more than {MAX_REMAINING}")
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def packet(topic: str, payload: bytes, properties: bytes = b"\x00") -> bytes:
    """The MQTT 5 PUBLISH paho would write for ``publish(topic, payload)`` at
    QoS 0, not retained; ``properties``: encoded with their length, as paho's
    ``Properties.pack`` (default: none, one zero byte); ValueError for a topic
    paho refuses."""
    name = topic.encode()
    if not name or b"+" in name or b"#" in name or len(name) > MAX_TOPIC:
        raise ValueError(f"not a topic to publish on: {topic!r}")
    # topic length, topic, the property list, payload
    size = 2 + len(name) + len(properties) + len(payload)
    return PUBLISH_QOS0 + remaining_length(size) + len(name).to_bytes(2, "big") + name + properties + payload


class Batch(MQTTMessageInfo):
    """The tags of the messages in one coalesced write; ``told(tag, ok)`` once
    for each, when paho has written it all or when it is lost."""

    __slots__ = ("tags", "told", "settled")

    def __init__(self, tags: list[str], told: Callable[[str, bool], None]) -> None:
        super().__init__(0)
        self.tags = tags
        self.told = told
        self.settled = False

    def settle(self, published: bool) -> None:
        if self.settled:
            return
        self.settled = True
        for tag in self.tags:
            self.told(tag, published)

    def _set_as_published(self) -> None:
        """paho: the packet's last byte went to the socket (on the trio
        thread, in ``loop_write``).  paho's reconnect also calls this for what
        it discards; the link settled those as lost before (`settled`)."""
        if not self.settled:
            self.settle(True)


class Untracked(MQTTMessageInfo):
    """What paho is given with a QoS 0 PUBLISH whose writing nobody waits for
    (a call between hubs, its reply): paho tells it when the packet is
    written; one instance serves all, so no `threading.Condition` is made per
    message (paho's ``publish`` makes one each)."""

    __slots__ = ()

    def _set_as_published(self) -> None:
        pass


UNTRACKED = Untracked(0)


def send(client: Any, data: bytes) -> bool:
    """Write a QoS 0 PUBLISH nobody tracks (a call, a reply) to paho's socket
    at once when paho holds nothing unwritten — what paho's ``_packet_queue``
    would do, without its queue entry, its locks and its write loop (the
    packet's two ends of a call through two hubs, each on the call's path).
    What the socket does not take, and anything while paho holds bytes, goes
    to paho's queue (in order; its write, its retry of the same TLS bytes, its
    handling of a lost connection).  False when paho dropped it, as
    ``publish`` at QoS 0 returns."""
    sock = client._sock
    if sock is None:
        return False
    if not client._out_packet:
        try:
            sent = sock.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            sent = 0  # paho retries the same bytes when the socket is writable
        except OSError:
            sent = 0  # paho's own write meets it again and ends the connection its way
        else:
            client._last_msg_out = mqtt.time_func()  # paho's keepalive reads it
            if sent == len(data):
                return True
        data = data[sent:]
    return bool(client._packet_queue(PUBLISH, data, 0, 0, UNTRACKED) == 0)
