"""The call's PUBLISH properties written and read without paho's `Properties`
tables (wsctl.net.federation.properties): the same bytes and the same
values as paho's own code, the same refusals of a malformed packet."""

from __future__ import annotations

import pytest

pytest.importorskip("paho.mqtt")

from paho.mqtt import _packet  # noqa: E402
from paho.mqtt.exception import MalformedPacket, MQTTException  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from wsctl.net.federation.properties import Packed, Received, install  # noqa: E402

TOPIC = "wsctl/v1/plant-1/hubs/hub-a/replies/hub-b"
CORRELATION = bytes(range(16))


def paho_props(**values: object) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(props, name, value)
    return props


@pytest.mark.parametrize(
    "values",
    [
        {"ResponseTopic": TOPIC, "CorrelationData": CORRELATION},
        {"ResponseTopic": TOPIC},
        {"CorrelationData": CORRELATION},
        {"ResponseTopic": "ü/ß", "CorrelationData": b""},
        {},
    ],
)
def test_packed_is_what_paho_writes(values: dict) -> None:
    packed = Packed(values.get("ResponseTopic"), values.get("CorrelationData"))
    assert packed.pack() == paho_props(**values).pack()
    for name, value in values.items():
        assert getattr(packed, name) == value


@pytest.mark.parametrize(
    "values",
    [
        {"ResponseTopic": TOPIC, "CorrelationData": CORRELATION},
        {"CorrelationData": CORRELATION, "ResponseTopic": TOPIC},
        {"ResponseTopic": TOPIC},
        {},
        # anything but the two goes through paho's own reading, whole
        {"ResponseTopic": TOPIC, "UserProperty": ("k", "v"), "MessageExpiryInterval": 30},
        {"PayloadFormatIndicator": 1, "CorrelationData": CORRELATION},
    ],
)
def test_received_reads_what_paho_reads(values: dict) -> None:
    wire = paho_props(**values).pack()
    mine, used = Received(PacketTypes.PUBLISH).unpack(wire + b"payload")
    theirs, paho_used = Properties(PacketTypes.PUBLISH).unpack(wire + b"payload")
    assert used == paho_used == len(wire)
    for name in ("ResponseTopic", "CorrelationData", "UserProperty", "MessageExpiryInterval", "PayloadFormatIndicator"):
        assert getattr(mine, name, None) == getattr(theirs, name, None)


def _raw(*fields: bytes) -> bytes:
    body = b"".join(fields)
    return bytes((len(body),)) + body


@pytest.mark.parametrize(
    "wire",
    [
        _raw(b"\x08\x00\x01a", b"\x08\x00\x01b"),  # response topic twice
        _raw(b"\x09\x00\x01a", b"\x09\x00\x01b"),  # correlation data twice
        _raw(b"\x08\x00\x09abc"),  # string longer than the properties
        _raw(b"\x09\x00\x09abc"),  # binary longer than the properties
        _raw(b"\x08\x00\x01\x00"),  # NUL in a UTF-8 string [MQTT-1.5.4-2]
        _raw(b"\x08"),  # no length
    ],
)
def test_malformed_properties_are_refused(wire: bytes) -> None:
    with pytest.raises((MQTTException, IndexError, ValueError)):
        Properties(PacketTypes.PUBLISH).unpack(wire)  # paho refuses it too
    with pytest.raises((MQTTException, IndexError, ValueError)):
        Received(PacketTypes.PUBLISH).unpack(wire)


def test_a_malformed_publish_is_refused_by_the_decoder() -> None:
    install()
    topic = b"t"
    packet = len(topic).to_bytes(2, "big") + topic + _raw(b"\x08\x00\x01a", b"\x08\x00\x01b") + b"x"
    with pytest.raises(MalformedPacket):
        _packet.decode_publish(0x30, packet, 5)


def test_install_is_idempotent_and_the_decoder_uses_it() -> None:
    install()
    install()
    assert _packet.Properties is Received
    topic = b"wsctl/v1/p/hubs/hub-b/calls/hub-a"
    packet = len(topic).to_bytes(2, "big") + topic + Packed(TOPIC, CORRELATION).pack() + b'{"v":1}'
    decoded = _packet.decode_publish(0x30, packet, 5)
    assert decoded.properties.ResponseTopic == TOPIC
    assert decoded.properties.CorrelationData == CORRELATION
    assert decoded.payload == b'{"v":1}'


def test_oversized_correlation_is_refused() -> None:
    with pytest.raises(ValueError, match="more than"):
        Packed(None, b"x" * 70000)
