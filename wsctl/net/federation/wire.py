"""MQTT packets as they come from the broker's socket: whole packets cut from
a larger read (`Frames`), and the PUBLISH of a call or a reply decoded in one
pass (`decode_publish`).  Pure: no paho, no trio.

Why (docs/performance.md, "Federation"): paho reads a packet with one
``recv`` for its first byte, one per byte of its remaining length and one for
the rest — three or more calls into the SSL object per packet — then builds an
`MQTTMessage` and walks its properties with `Properties`' tables before our
callback sees the message.  A call through two hubs has two such packets on
its path (the call at hub-a, the reply at hub-b).  Here one ``recv`` takes what
the TLS record holds, and a QoS 0 PUBLISH whose properties are a response
topic and/or correlation data (every call and reply between hubs) becomes the
`Incoming` in one scan.  Anything else — other packet types, QoS 1 and 2,
other properties, anything odd — is left to paho's own decoder
(`wsctl.net.federation.reader`), so what paho refuses stays refused: this
module only accepts what paho's decoder reads to the same values (a test
compares them on random input).
"""

from __future__ import annotations

#: first byte of a PUBLISH at QoS 0, not a duplicate; the low bit is "retained"
PUBLISH_QOS0 = 0x30
RESPONSE_TOPIC = 8
CORRELATION_DATA = 9
#: characters MQTT forbids in a UTF-8 string [MQTT-1.5.4-2, -3] (Python's
#: decoder already refuses the surrogates of [MQTT-1.5.4-1])
_FORBIDDEN = ("\x00", "\ufeff")


#: the largest remaining length MQTT can say (four bytes of it)
MQTT_MAX = 268_435_455


class ProtocolError(ValueError):
    """The byte stream is not MQTT (a remaining length of more than four
    bytes), or it holds a packet larger than the reader takes."""


class Frames:
    """Cuts a byte stream into MQTT packets: ``feed`` returns the packets
    completed by ``data`` as (first byte, the bytes after the remaining length)
    and keeps an incomplete tail for the next read.

    ``limit``: the largest packet taken (first byte and length included, as
    MQTT 5's Maximum Packet Size counts); a larger one is a ProtocolError as
    soon as its length is read, before any of it is kept: a broker that
    ignores the size the client asked for must not make it buffer 256 MB."""

    __slots__ = ("_tail", "_limit")

    def __init__(self, limit: int = MQTT_MAX + 5) -> None:
        self._tail = bytearray()
        self._limit = limit

    @property
    def pending(self) -> int:
        """Bytes of an incomplete packet held for the next read."""
        return len(self._tail)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self._tail:
            self._tail += data
            buf: bytes | bytearray = self._tail
        else:
            buf = data  # the usual case: the read starts with a packet, no copy
        out: list[tuple[int, bytes]] = []
        at, size = 0, len(buf)
        while size - at >= 2:
            length, start = _remaining(buf, at + 1, size)
            if start < 0:
                break  # the rest of the length comes in a later read
            if start - at + length > self._limit:
                raise ProtocolError(f"a packet of {start - at + length} bytes, more than the {self._limit} taken")
            if start + length > size:
                break  # the rest of this packet comes in a later read
            out.append((buf[at], bytes(buf[start : start + length])))
            at = start + length
        if buf is self._tail:
            del self._tail[:at]
        elif at < size:
            self._tail = bytearray(buf[at:])
        return out


def _remaining(buf: bytes | bytearray, at: int, size: int) -> tuple[int, int]:
    """The remaining length at ``at`` and where the packet's body starts;
    start -1 while the length itself is incomplete."""
    length = shift = 0
    for i in range(at, min(at + 4, size)):
        byte = buf[i]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length, i + 1
        shift += 7
    if size - at >= 4:
        raise ProtocolError("MQTT remaining length of more than four bytes")
    return 0, -1


def decode_publish(command: int, body: bytes) -> tuple[str, bytes, str | None, bytes | None, bool] | None:
    """(topic, payload, response topic, correlation data, retained) of a QoS 0
    PUBLISH whose only properties are a response topic and correlation data
    (each at most once), well formed; None for anything else (paho decides)."""
    if command & 0xFE != PUBLISH_QOS0 or len(body) < 3:
        return None
    end = 2 + (body[0] << 8 | body[1])
    if end == 2 or end >= len(body):
        return None  # no topic (a topic alias), or no room for the property length
    try:
        topic = body[2:end].decode()
    except UnicodeDecodeError:
        return None
    props, start = _vbi(body, end)
    if start < 0:
        return None
    at, stop = start, start + props
    if stop > len(body):
        return None
    response: str | None = None
    correlation: bytes | None = None
    while at < stop:
        identifier = body[at]
        if at + 3 > stop:
            return None
        value_end = at + 3 + (body[at + 1] << 8 | body[at + 2])
        if value_end > stop:
            return None
        value = body[at + 3 : value_end]
        if identifier == RESPONSE_TOPIC and response is None:
            try:
                response = value.decode()
            except UnicodeDecodeError:
                return None
            if any(c in response for c in _FORBIDDEN):
                return None
        elif identifier == CORRELATION_DATA and correlation is None:
            correlation = value
        else:
            return None  # another property, or one of them twice
        at = value_end
    return topic, body[stop:], response, correlation, bool(command & 1)


def _vbi(buf: bytes, at: int) -> tuple[int, int]:
    """A variable byte integer at ``at`` (at most four bytes): (value, where
    the next field starts), or (0, -1) when it is cut short or too long."""
    value = shift = 0
    for i in range(at, min(at + 4, len(buf))):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    return 0, -1
