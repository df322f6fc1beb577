"""MQTT 5 PUBLISH properties for a call and its reply, without paho's
`Properties` on the hot path.

paho's `Properties` rebuilds its name and type tables in every instance, and
each attribute set or looked up scans them by name (`str.replace` on every
name, ~200 per call): building one with a response topic and correlation
data and packing it cost ~28 us, reading one from a received PUBLISH ~38 us.
A call through two hubs does each twice, on top of ~1 ms of hub CPU
(docs/performance.md, "Federation").  So:

- out: `Packed` carries the two properties already encoded (paho's
  publish only calls ``pack()`` on what it is given);
- in: `Received` is the `Properties` paho's PUBLISH decoder makes, with
  the tables shared by the class and the two properties a call uses read
  directly; any other property goes through paho's own code, unchanged.
  `install` puts it in place of the decoder's `Properties` (the decoder
  names the class at module level; paho 2.x, pinned below 3).
"""

from __future__ import annotations

import struct
from typing import Any

from paho.mqtt import _packet
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers, readBytes, readUTF

RESPONSE_TOPIC = 8
CORRELATION_DATA = 9
#: each level of a topic and correlation data is at most this long (a 2-byte length)
MAX_FIELD = 0xFFFF


def _field(identifier: int, value: bytes) -> bytes:
    if len(value) > MAX_FIELD:
        raise ValueError(f"MQTT property {identifier} of {len(value)} bytes, more than {MAX_FIELD}")
    return bytes((identifier,)) + struct.pack("!H", len(value)) + value


def encoded(response_topic: str | None, correlation: bytes | None) -> bytes:
    """A PUBLISH's property list of a response topic and/or correlation data,
    with its length: what paho's ``Properties.pack`` writes for them."""
    body = b""
    if response_topic is not None:
        body += _field(RESPONSE_TOPIC, response_topic.encode())
    if correlation is not None:
        body += _field(CORRELATION_DATA, bytes(correlation))
    return VariableByteIntegers.encode(len(body)) + body


class Packed(Properties):
    """A PUBLISH's response topic and correlation data, encoded once.
    Readable like paho's (``ResponseTopic``, ``CorrelationData``), for its
    log lines and for a QoS 1 message it resends."""

    _packed: bytes

    def __init__(self, response_topic: str | None = None, correlation: bytes | None = None) -> None:
        if response_topic is not None:
            object.__setattr__(self, "ResponseTopic", response_topic)
        if correlation is not None:
            object.__setattr__(self, "CorrelationData", bytes(correlation))
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)
        object.__setattr__(self, "_packed", encoded(response_topic, correlation))

    def pack(self) -> bytes:
        return self._packed

    def __str__(self) -> str:
        shown = [f"{k} : {v}" for k, v in vars(self).items() if k in ("ResponseTopic", "CorrelationData")]
        return "[" + ", ".join(shown) + "]"


_TABLES = Properties(PacketTypes.PUBLISH)


class Received(Properties):
    """What paho's PUBLISH decoder builds for each message it reads."""

    types = _TABLES.types
    names = _TABLES.names
    properties = _TABLES.properties

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)

    def unpack(self, buffer: Any) -> tuple[Properties, int]:
        """As paho's (same checks: `readUTF`, `readBytes`, one of each at
        most), for a PUBLISH whose properties are a response topic and/or
        correlation data; anything else is paho's own `unpack`."""
        length, used = VariableByteIntegers.decode(buffer)
        at, end = used, used + length
        found: dict[str, Any] = {}
        while at < end:
            identifier = buffer[at]
            if identifier == RESPONSE_TOPIC:
                name, (value, size) = "ResponseTopic", readUTF(buffer[at + 1 :], end - at - 1)
            elif identifier == CORRELATION_DATA:
                name, (value, size) = "CorrelationData", readBytes(buffer[at + 1 :], end - at - 1)
            else:
                return Properties.unpack(self, buffer)
            if name in found:
                raise MalformedPacket(f"Property '{name}' must not exist more than once")
            found[name] = value
            at += 1 + size
        for name, value in found.items():
            object.__setattr__(self, name, value)
        return self, end


def install() -> None:
    """paho's PUBLISH decoder builds `Received` from now on (idempotent)."""
    if getattr(_packet, "Properties", None) is Properties:
        _packet.Properties = Received  # type: ignore[misc]  # the decoder's module-level name
