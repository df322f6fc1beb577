"""The broker's packets read a TLS record at a time (wsctl.net.federation.reader)
and a call's PUBLISH built by hand (`batch.packet` with `properties.encoded`):
the same bytes paho's ``publish`` writes, the same messages paho's reader
delivers, paho's own handling of every other packet, and the connection ended
as paho ends it on bad input."""

from __future__ import annotations

import ssl

import pytest

pytest.importorskip("paho.mqtt")

import paho.mqtt.client as paho  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from wsctl.net.federation import batch  # noqa: E402
from wsctl.net.federation.mqtt import Incoming  # noqa: E402
from wsctl.net.federation.properties import Packed, encoded, install  # noqa: E402
from wsctl.net.federation.reader import PacketReader  # noqa: E402

TOPIC = "wsctl/v1/plant-1/hubs/hub-b/calls/hub-a"
REPLY = "wsctl/v1/plant-1/hubs/hub-a/replies/hub-b"
CORRELATION = bytes(range(16))


def _client() -> paho.Client:
    return paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="x", protocol=paho.MQTTv5)


def _paho_bytes(topic: str, payload: bytes, properties: Properties | None) -> bytes:
    """What paho 2.x itself queues for ``publish`` at QoS 0 (MQTT 5)."""
    client = _client()
    queued: list[bytes] = []
    client._packet_queue = lambda command, packet, mid, qos, info=None: queued.append(bytes(packet)) or 0
    client._sock = object()  # "connected": paho builds the packet and queues it
    try:
        client.publish(topic, payload, properties=properties)
    finally:
        client._sock = None
    return queued[0]


def _paho_props(response: str | None, correlation: bytes | None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    if response is not None:
        props.ResponseTopic = response
    if correlation is not None:
        props.CorrelationData = correlation
    return props


@pytest.mark.parametrize("size", [0, 1, 50, 60, 16_383, 16_384, 2_097_151, 2_097_152])
@pytest.mark.parametrize("props", [(REPLY, CORRELATION), (None, CORRELATION), (REPLY, None), ("r" * 130, b"c" * 300)])
def test_call_packet_is_the_publish_paho_writes(size, props):
    """Sizes across each boundary of the remaining length's encoding, and
    property lists of one and two length bytes."""
    payload = b"p" * size
    mine = batch.packet(TOPIC, payload, encoded(*props))
    assert mine == _paho_bytes(TOPIC, payload, _paho_props(*props))
    assert mine == _paho_bytes(TOPIC, payload, Packed(*props))


class FakeSocket:
    """Gives paho's socket reads from a list: bytes, or an exception to raise."""

    def __init__(self, reads: list, sends: list | None = None) -> None:
        self.reads = reads
        self.closed = False
        #: what each send does: how many bytes it takes (None: all), or an exception
        self.sends = sends or []
        self.sent: list[bytes] = []

    def recv(self, size: int) -> bytes:
        item = self.reads.pop(0) if self.reads else ssl.SSLWantReadError()
        if isinstance(item, BaseException):
            raise item
        assert len(item) <= size
        return item

    def close(self) -> None:
        self.closed = True

    def send(self, data: bytes) -> int:
        what = self.sends.pop(0) if self.sends else None
        if isinstance(what, BaseException):
            raise what
        taken = len(data) if what is None else what
        self.sent.append(bytes(data[:taken]))
        return taken


def _reader(reads: list) -> tuple[paho.Client, FakeSocket, PacketReader, list, list]:
    install()
    client = _client()
    sock = FakeSocket(reads)
    client._sock = sock
    got: list[Incoming] = []
    lost: list[object] = []
    client.on_disconnect = lambda c, u, flags, reason, props: lost.append(reason)
    client.on_message = lambda c, u, message: got.append(
        Incoming(
            message.topic,
            bytes(message.payload),
            getattr(message.properties, "ResponseTopic", None),
            getattr(message.properties, "CorrelationData", None),
            bool(message.retain),
        )
    )
    return client, sock, PacketReader(client, sock, got.append, Incoming), got, lost


def _qos1(topic: str, payload: bytes, mid: int) -> bytes:
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + mid.to_bytes(2, "big") + b"\x00" + payload
    return b"\x33" + batch.remaining_length(len(body)) + body  # QoS 1, retained


def test_messages_cut_anywhere_arrive_whole_and_in_order():
    call = batch.packet(TOPIC, b'{"call":1}', encoded(REPLY, CORRELATION))
    presence = _qos1("wsctl/v1/plant-1/devices/CP-1/state", b'{"online":true}', 7)
    stream = call + presence + call
    client, sock, reader, got, lost = _reader([stream[:5], stream[5:70], stream[70:]])
    sent: list[bytes] = []
    client._packet_queue = lambda command, packet, mid, qos, info=None: sent.append(bytes(packet)) or 0
    for _ in range(3):
        reader.read()
    first = Incoming(TOPIC, b'{"call":1}', REPLY, CORRELATION, False)
    assert got == [first, Incoming("wsctl/v1/plant-1/devices/CP-1/state", b'{"online":true}', None, None, True), first]
    assert sent == [b"\x40\x02\x00\x07"]  # paho acknowledged the QoS 1 message it decoded
    assert not lost and not sock.closed


def test_other_packets_go_to_paho():
    client, sock, reader, got, lost = _reader([b"\xd0\x00"])  # PINGRESP
    client._ping_t = 123.0
    reader.read()
    assert client._ping_t == 0  # paho's handler ran: no longer waiting for the ping
    assert client._in_packet["command"] == 0  # and its reader state is idle again
    assert not lost and not sock.closed


def test_nothing_to_read_is_not_an_error():
    client, sock, reader, got, lost = _reader([ssl.SSLWantReadError(), BlockingIOError()])
    reader.read()
    reader.read()
    assert not got and not lost and not sock.closed


@pytest.mark.parametrize(
    "reads",
    [
        [b""],  # the broker closed the connection
        [ConnectionResetError()],
        [b"\x30\xff\xff\xff\xff\x01"],  # a remaining length of five bytes
        [b"\x30\x03\x00\x05a"],  # a PUBLISH whose topic is longer than the packet: paho's refusal
        [b"\xf0\x00"],  # no such packet type
        [b"\xd0\x01\x00"],  # a PINGRESP with a body
    ],
)
def test_bad_input_ends_the_connection_as_paho_does(reads):
    client, sock, reader, got, lost = _reader(reads)
    reader.read()
    assert sock.closed and client._sock is None
    assert len(lost) == 1 and not got


def test_nothing_is_read_after_a_disconnect():
    call = batch.packet(TOPIC, b"{}", encoded(REPLY, CORRELATION))
    client, sock, reader, got, lost = _reader([b"\xe0\x00" + call])  # DISCONNECT, then a call
    reader.read()
    assert sock.closed and not got and len(lost) == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=6))
def test_random_bytes_are_read_or_end_the_connection(reads):
    """The only outcomes of any input: messages delivered, paho's handlers,
    or the connection ended (paho's way); never an exception out of `read`."""
    client, sock, reader, got, lost = _reader(list(reads))
    client._packet_queue = lambda command, packet, mid, qos, info=None: 0
    for _ in reads:
        if client._sock is None:
            break
        reader.read()
    assert all(isinstance(item, Incoming) for item in got)
    assert sock.closed == (len(lost) == 1)


# -- a call written at once (batch.send) ---------------------------------------------


def _sending(sends: list) -> tuple[paho.Client, FakeSocket]:
    client = _client()
    client._sock = FakeSocket([], sends)
    return client, client._sock


def test_a_call_is_written_at_once_when_paho_holds_nothing():
    client, sock = _sending([])
    client._last_msg_out = 0.0
    assert batch.send(client, b"packet")
    assert sock.sent == [b"packet"] and not client.want_write()
    assert client._last_msg_out > 0  # paho's keepalive knows something went out


@pytest.mark.parametrize("first", [2, ssl.SSLWantWriteError(), BlockingIOError()])
def test_what_the_socket_does_not_take_is_left_to_paho(first):
    client, sock = _sending([first, BlockingIOError()])  # paho's own try finds the socket full too
    assert batch.send(client, b"packet")
    taken = first if isinstance(first, int) else 0
    assert client.want_write() and client._out_packet[0]["packet"] == b"packet"[taken:]
    sock.sends = []
    client.loop_write()  # the socket writable again: paho writes the rest
    assert b"".join(sock.sent) == b"packet" and not client.want_write()


def test_a_call_waits_behind_what_paho_holds():
    client, sock = _sending([BlockingIOError(), BlockingIOError()])  # paho's writes find the socket full
    client._packet_queue(0x30, b"first", 0, 0, batch.UNTRACKED)
    assert batch.send(client, b"second")
    assert [p["packet"] for p in client._out_packet] == [b"first", b"second"]
    assert sock.sent == []  # not written ahead of the first
    client.loop_write()
    assert b"".join(sock.sent) == b"firstsecond"


def test_no_connection_no_call():
    assert not batch.send(_client(), b"packet")


def test_a_broken_socket_ends_the_connection_as_paho_does():
    client, sock = _sending([BrokenPipeError(), BrokenPipeError()])
    lost: list[object] = []
    client.on_disconnect = lambda c, u, flags, reason, props: lost.append(reason)
    assert not batch.send(client, b"packet")  # paho's write meets it again: connection lost
    assert sock.closed and len(lost) == 1
