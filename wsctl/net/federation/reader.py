"""What the broker sends, read in whole TLS records instead of paho's
byte-by-byte ``loop_read`` (why: `wsctl.net.federation.wire`).

One ``recv`` per readiness takes what the socket has (for TLS: the rest of
the decrypted record, at most 16 KiB; `MqttLink._read` comes back while the
SSL object has more, ``pending()``); `wire.Frames` cuts it into packets.  A
QoS 0 PUBLISH of a call or a reply goes straight to the link's handler as an
`Incoming`; every other packet (CONNACK, SUBACK, PUBACK, PINGRESP, QoS 1
presence, DISCONNECT, a PUBLISH with other properties) is handed to paho's
own handler, exactly as paho's reader would hand it after reading it: paho
still keeps the session's state (acknowledgements, keepalive, the CONNACK's
reason) and refuses what is malformed.  Errors end the connection the way
paho's ``loop_read`` does (``_loop_rc_handle``: the socket closed, the
disconnect callback, paho's reconnect state).

paho 2.x internals used (pinned below 3, as `wsctl.net.federation.batch`):
``_in_packet``, ``_packet_handle``, ``_loop_rc_handle``, ``_last_bytes_received``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket

from wsctl.core.hub.topics import MAX_PACKET
from wsctl.net.federation.wire import Frames, ProtocolError, decode_publish

log = logging.getLogger("wsctl.net.federation")

#: one read takes at most this much (a TLS record holds at most 16 KiB of data)
READ_SIZE = 65536


def _idle_packet() -> dict[str, Any]:
    """paho's ``_in_packet`` between packets (what its reader resets it to)."""
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class PacketReader:
    """Reads one socket of ``client`` (a new reader per connection: a packet
    cut short belongs to its connection).  ``deliver``: the link's handler of
    a received message (``Incoming``; never raises)."""

    __slots__ = ("_client", "_sock", "_frames", "_deliver", "_incoming")

    def __init__(self, client: Any, sock: Any, deliver: Callable[[Any], None], incoming: type) -> None:
        self._client = client
        self._sock = sock
        self._frames = Frames(MAX_PACKET)
        self._deliver = deliver
        self._incoming = incoming

    def read(self) -> None:
        """What the socket has now; nothing when it has nothing (yet)."""
        client = self._client
        try:
            data = self._sock.recv(READ_SIZE)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return  # a TLS record not complete yet, or none with data (a session ticket)
        except OSError as exc:
            log.debug("broker socket: %s", exc)
            self._lost(MQTTErrorCode.MQTT_ERR_CONN_LOST)
            return
        if not data:
            self._lost(MQTTErrorCode.MQTT_ERR_CONN_LOST)
            return
        client._last_bytes_received = mqtt.time_func()  # paho's keepalive reads it
        try:
            packets = self._frames.feed(data)
        except ProtocolError as exc:
            # the hub asked for at most MAX_PACKET (Maximum Packet Size): a broker
            # that sends more breaks MQTT 5, and the connection ends [MQTT-3.1.2-25]
            log.warning("broker sent what the hub does not read (%s): reconnecting", exc)
            self._lost(MQTTErrorCode.MQTT_ERR_PROTOCOL)
            return
        for command, body in packets:
            if client._sock is not self._sock:
                return  # the connection ended with an earlier packet (a DISCONNECT)
            found = decode_publish(command, body)
            if found is not None:
                self._deliver(self._incoming(*found))
            elif not self._to_paho(command, body):
                return

    def _to_paho(self, command: int, body: bytes) -> bool:
        """paho's handler for one whole packet, as its reader calls it; False
        when that ended the connection."""
        client = self._client
        packet = _idle_packet()
        packet.update(command=command, have_remaining=1, remaining_length=len(body), packet=bytearray(body))
        client._in_packet = packet
        try:
            rc = client._packet_handle()
        except MalformedPacket as exc:
            log.debug("broker sent a malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            client._in_packet = _idle_packet()
        if rc:
            self._lost(rc)
            return False
        return True

    def _lost(self, rc: MQTTErrorCode) -> None:
        if self._client._sock is self._sock:
            self._client._loop_rc_handle(rc)
