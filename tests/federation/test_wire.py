"""Packets from the broker read without paho's reader (wsctl.net.federation.wire):
whole packets cut from any split of the stream, a call's PUBLISH decoded to
what paho's own decoder makes of it, and anything else left to paho — on
hand-made bad input and on random bytes (bounded Hypothesis runs)."""

from __future__ import annotations

import pytest

pytest.importorskip("paho.mqtt")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from paho.mqtt import _packet  # noqa: E402
from paho.mqtt.enums import MQTTProtocolVersion  # noqa: E402
from paho.mqtt.exception import MalformedPacket  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from wsctl.net.federation import batch  # noqa: E402
from wsctl.net.federation.properties import encoded, install  # noqa: E402
from wsctl.net.federation.wire import Frames, ProtocolError, decode_publish  # noqa: E402

TOPIC = "wsctl/v1/plant-1/hubs/hub-b/calls/hub-a"
REPLY = "wsctl/v1/plant-1/hubs/hub-a/replies/hub-b"
CORRELATION = bytes(range(16))


def _split(packet: bytes) -> tuple[int, bytes]:
    """(first byte, body) of one whole packet."""
    frames = Frames()
    [(command, body)] = frames.feed(packet)
    assert frames.pending == 0
    return command, body


def _paho_decoded(command: int, body: bytes) -> tuple[str, bytes, str | None, bytes | None, bool]:
    install()
    result = _packet.decode_publish(command, bytearray(body), MQTTProtocolVersion.MQTTv5)
    props = result.properties
    return (
        result.topic.decode(),
        bytes(result.payload),
        getattr(props, "ResponseTopic", None),
        getattr(props, "CorrelationData", None),
        result.retain,
    )


# -- frames -------------------------------------------------------------------------


def _stream() -> list[bytes]:
    calls = [batch.packet(TOPIC, b"x" * n, encoded(REPLY, CORRELATION)) for n in (0, 1, 60, 127, 128, 20_000)]
    return [*calls, b"\xd0\x00", b"\x40\x03\x00\x01\x00"]  # and a PINGRESP, a PUBACK


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100, 16_384, 1 << 20])
def test_frames_cut_whole_packets_from_any_split(chunk):
    packets = _stream()
    data = b"".join(packets)
    frames = Frames()
    out = []
    for at in range(0, len(data), chunk):
        out += frames.feed(data[at : at + chunk])
    assert frames.pending == 0
    assert [bytes((c,)) + batch.remaining_length(len(b)) + b for c, b in out] == packets


@pytest.mark.parametrize("length", [b"\xff\xff\xff\xff", b"\x80\x80\x80\x80\x01"])
def test_frames_refuse_a_remaining_length_of_five_bytes(length):
    with pytest.raises(ProtocolError):
        Frames().feed(b"\x30" + length + b"rest")


def test_frames_wait_for_a_length_cut_short():
    frames = Frames()
    assert frames.feed(b"\x30\xff\xff") == []
    assert frames.pending == 3
    assert frames.feed(b"\x7f") == []  # 4 bytes of length: a packet of 268,435,455 bytes to come
    with pytest.raises(ProtocolError):
        Frames().feed(b"\x30\xff\xff\xff\x80")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 64))
def test_frames_of_random_bytes_are_packets_or_a_protocol_error(chunks, step):
    """Never anything but ProtocolError; every packet returned is whole (its
    declared length), and the bytes are accounted for: packets + tail."""
    data = b"".join(chunks)
    frames = Frames()
    out: list[tuple[int, bytes]] = []
    try:
        for at in range(0, len(data), step):
            out += frames.feed(data[at : at + step])
    except ProtocolError:
        return
    rebuilt = b"".join(bytes((c,)) + batch.remaining_length(len(b)) + b for c, b in out)
    # the lengths in the stream may be non-minimal encodings: compare sizes
    assert len(rebuilt) <= len(data)
    assert len(data) - frames.pending >= len(rebuilt)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.binary(max_size=400)), max_size=6), st.data())
def test_frames_round_trip_any_split(messages, data):
    packets = [batch.packet(t.replace("+", "p").replace("#", "h"), p) for t, p in messages]
    stream = b"".join(packets)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    frames, out = Frames(), []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += frames.feed(stream[start:end])
    assert [bytes((c,)) + batch.remaining_length(len(b)) + b for c, b in out] == packets


# -- decode_publish -----------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 16_384, 70_000])
@pytest.mark.parametrize(
    "props",
    [(REPLY, CORRELATION), (None, CORRELATION), (REPLY, None), (None, None), ("ü/ß" * 40, b""), (REPLY, b"c" * 200)],
)
def test_decode_publish_reads_what_paho_reads(size, props):
    packet = batch.packet(TOPIC, bytes(range(256)) * (size // 256) + b"p" * (size % 256), encoded(*props))
    command, body = _split(packet)
    assert decode_publish(command, body) == _paho_decoded(command, body)
    assert decode_publish(command | 1, body) == _paho_decoded(command | 1, body)  # retained


def _props(*fields: tuple[int, bytes]) -> bytes:
    body = b"".join(bytes((i,)) + len(v).to_bytes(2, "big") + v for i, v in fields)
    return bytes((len(body),)) + body


@pytest.mark.parametrize(
    ("command", "body"),
    [
        (0x32, b"\x00\x01t\x00\x01\x00payload"),  # QoS 1: paho acknowledges it
        (0x38, b"\x00\x01t\x00payload"),  # a duplicate flag
        (0x40, b"\x00\x01\x00"),  # a PUBACK
        (0x30, b"\x00\x00\x00payload"),  # no topic (a topic alias)
        (0x30, b"\x00\x05ab"),  # topic cut short
        (0x30, b"\x00\x01t"),  # no property length
        (0x30, b"\x00\x02\xff\xfe\x00"),  # topic not UTF-8
        (0x30, b"\x00\x01t\x05\x08\x00"),  # properties cut short
        (0x30, b"\x00\x01t\x80\x80\x80\x80\x01"),  # property length of five bytes
        (0x30, b"\x00\x01t" + _props((8, b"a"), (8, b"b"))),  # response topic twice
        (0x30, b"\x00\x01t" + _props((9, b"a"), (9, b"b"))),  # correlation data twice
        (0x30, b"\x00\x01t" + _props((8, b"a\x00b"))),  # NUL in the response topic
        (0x30, b"\x00\x01t" + _props((8, "\ufeff".encode()))),  # a BOM in it
        (0x30, b"\x00\x01t" + _props((8, b"\xed\xa0\x80"))),  # a surrogate (not UTF-8)
        (0x30, b"\x00\x01t" + _props((0x26, b"k\x00\x01v"))),  # a user property: paho's reading
        (0x30, b"\x00\x01t\x04\x08\x00\x05ab"),  # a value longer than the properties
        (0x30, b"\x00\x01t\x02\x01\x01"),  # payload format indicator
    ],
)
def test_decode_publish_leaves_anything_else_to_paho(command, body):
    assert decode_publish(command, body) is None


@settings(max_examples=500, deadline=None)
@given(st.integers(0x30, 0x31), st.binary(max_size=200))
def test_decode_publish_of_random_bytes_agrees_with_paho(command, body):
    """Whatever it accepts, paho's decoder reads to the same values; it
    never raises."""
    found = decode_publish(command, body)
    if found is not None:
        assert found == _paho_decoded(command, body)


@settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=1, max_size=60).filter(lambda t: "+" not in t and "#" not in t),
    st.binary(max_size=300),
    st.one_of(st.none(), st.text(max_size=80)),
    st.one_of(st.none(), st.binary(max_size=40)),
)
def test_decode_publish_of_calls_as_paho_writes_them(topic, payload, response, correlation):
    props = Properties(PacketTypes.PUBLISH)
    if response is not None:
        props.ResponseTopic = response
    if correlation is not None:
        props.CorrelationData = correlation
    packet = batch.packet(topic, payload, props.pack())
    command, body = _split(packet)
    found = decode_publish(command, body)
    try:
        expected = _paho_decoded(command, body)
    except (MalformedPacket, UnicodeDecodeError):
        assert found is None  # paho refuses it (a NUL in the topic it reads back): so do we
        return
    assert found is None or found == expected
    if response is None or not any(c in response for c in "\x00\ufeff"):
        assert found == (topic, payload, response, correlation, False)


def test_frames_refuse_a_packet_over_the_limit_as_soon_as_its_length_is_read():
    """A broker that ignores the hub's Maximum Packet Size: the 100 MB packet
    is refused on its first bytes, nothing of it kept; one at the limit is taken."""
    limit = 1000
    over = batch.packet(TOPIC, b"x" * 2000)
    frames = Frames(limit)
    with pytest.raises(ProtocolError, match="more than the 1000"):
        frames.feed(over[:10])
    assert frames.pending == 0
    # first byte, two bytes of length (one for the empty packet), the topic and the payload
    at_limit = batch.packet(TOPIC, b"x" * (limit - len(batch.packet(TOPIC, b"")) - 1))
    assert len(at_limit) == limit
    assert Frames(limit).feed(at_limit) == [_split(at_limit)]
    with pytest.raises(ProtocolError):
        Frames(limit).feed(b"\x30\xff\xff\x7f")  # just the length of a 2 MB packet
