"""The hub's MQTT 5 connection: paho-mqtt 2.x in its own network thread,
its events handed to trio.

Why a thread and not paho's socket-level API under trio (docs/design.md,
"Federation"): paho's `connect()` does the TCP connect and the TLS handshake
blocking; its socket-level loop leaves TLS's buffered bytes (``pending()``),
keepalive timing and reconnecting to the caller.  Its own thread does all of
that as paho's own tests exercise it.  The cost is one thread per hub and a
hop per received message, through `trio.lowlevel.TrioToken.run_sync_soon`,
which never blocks paho's thread; publishing from trio only appends to paho's
queue and wakes its thread (a socket pair), so a slow or gone broker never
blocks the hub's event loop.

The first connection is made before the hub announces itself, in a worker
thread, so a wrong broker address, certificate or ACL is one clear line at
start (exit 3); after that paho reconnects on its own (1 s to 30 s back-off)
and `on_connected` runs again on every CONNACK (subscriptions are renewed: the
session is clean, so a dead hub's subscriptions die with it).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import trio

from wsctl.core.errors import ConnectError, InvalidInput, UsageError

log = logging.getLogger("wsctl.net.federation")

#: messages paho keeps for a broker that is away (QoS 1); beyond, new ones are dropped
MAX_QUEUED = 20000
KEEPALIVE = 20
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int
    tls: bool

    @property
    def shown(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str, *, allow_plain: bool = False) -> BrokerURL:
    """``mqtts://HOST[:8883]``; ``mqtt://`` only with ``allow_plain``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"--broker {url!r}: {exc}") from None
    if parts.scheme not in ("mqtts", "mqtt") or not parts.hostname:
        raise InvalidInput(f"--broker {url!r}: expected mqtts://HOST[:PORT]")
    if parts.username or parts.password or parts.path not in ("", "/"):
        raise InvalidInput(f"--broker {url!r}: only mqtts://HOST[:PORT] (the hub logs in with its certificate)")
    if parts.scheme == "mqtt" and not allow_plain:
        raise UsageError(
            f"--broker {url}: plain MQTT sends every command and reading in clear text, unauthenticated",
            hint="use mqtts://, or say so with --allow-plain-mqtt",
        )
    tls = parts.scheme == "mqtts"
    return BrokerURL(parts.hostname, port or (8883 if tls else 1883), tls)


def _no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """A call and its reply are small messages each way: Nagle's algorithm
    would hold each behind the peer's delayed ACK (tens of ms per hop)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not TCP (a unix socket): nothing to turn off


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None
    retained: bool


class MqttLink:
    """One MQTT 5 session of a hub; ``will``: (topic, payload) of its Last Will
    (retained, QoS 1)."""

    def __init__(
        self,
        broker: BrokerURL,
        *,
        client_id: str,
        tls: ssl.SSLContext | None,
        will: tuple[str, bytes],
        on_message: Callable[[Incoming], None],
        on_connected: Callable[[], None],
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self._tls = tls
        self._will = will
        self._on_message = on_message
        self._on_connected = on_connected
        self.connected = False
        self._client: Any = None
        self._token: Any = None
        self._connack: trio.Event | None = None
        self._refusal: str | None = None
        #: QoS 1 publishes whose PUBACK someone waits for: mid -> [event, refusal]
        self._confirm: dict[int, list[Any]] = {}

    async def open(self) -> None:
        """Connect once (a clear ConnectError if that fails), then let paho's thread run."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._token = trio.lowlevel.current_trio_token()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=True
        )
        client.connect_timeout = CONNECT_TIMEOUT
        client.max_queued_messages_set(MAX_QUEUED)
        client.reconnect_delay_set(1, 30)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        will_props = Properties(PacketTypes.WILLMESSAGE)
        client.will_set(self._will[0], self._will[1], qos=1, retain=True, properties=will_props)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribed
        client.on_publish = self._paho_published
        client.on_socket_open = _no_delay
        self._client = client
        connect_props = Properties(PacketTypes.CONNECT)
        connect_props.SessionExpiryInterval = 0
        self._connack = trio.Event()
        try:
            await trio.to_thread.run_sync(
                lambda: client.connect(
                    self.broker.host, self.broker.port, KEEPALIVE, clean_start=True, properties=connect_props
                )
            )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectError(
                f"broker {self.broker.shown}: its certificate is not trusted: {exc.verify_message or exc.reason}",
                hint="the broker's certificate must chain to the plant CA (--certs, or --ca)",
            ) from None
        except ssl.SSLError as exc:
            raise ConnectError(f"broker {self.broker.shown}: TLS failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise ConnectError(f"broker {self.broker.shown}: {exc.strerror or exc}") from None
        client.loop_start()
        with trio.move_on_after(CONNECT_TIMEOUT):
            await self._connack.wait()
        if not self.connected:
            await self.close()
            why = self._refusal or f"no CONNACK within {CONNECT_TIMEOUT:g} s"
            raise ConnectError(f"broker {self.broker.shown} refused the hub {self.client_id}: {why}")

    # paho's thread: never block, only hand over to trio
    def _soon(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            pass

    def _paho_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._soon(self._connect_result, not reason.is_failure, str(reason))

    def _paho_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._soon(self._lost, str(reason))

    def _paho_subscribed(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._soon(self._subscription_refused, refused)

    def _subscription_refused(self, reasons: list[str]) -> None:
        log.error(
            "broker %s refused %d of the hub's subscriptions (%s): check its ACL for the user %s",
            self.broker.shown,
            len(reasons),
            ", ".join(sorted(set(reasons))),
            "named in the hub's certificate",
        )

    def _paho_published(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if mid in self._confirm:
            self._soon(self._published, mid, str(reason) if reason.is_failure else None)

    def _published(self, mid: int, refusal: str | None) -> None:
        waiting = self._confirm.pop(mid, None)
        if waiting is not None:
            waiting[1] = refusal
            waiting[0].set()

    async def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> str | None:
        """Publish retained at QoS 1 and wait for the broker's PUBACK: None
        when it took the message, else its reason (an ACL's "Not authorized";
        also when no PUBACK came within ``timeout``)."""
        info = self._client.publish(topic, payload, qos=1, retain=True)
        waiting: list[Any] = [trio.Event(), None]
        self._confirm[info.mid] = waiting
        with trio.move_on_after(timeout):
            await waiting[0].wait()
            return waiting[1]
        self._confirm.pop(info.mid, None)
        return f"no PUBACK within {timeout:g} s"

    def _paho_message(self, client: Any, userdata: Any, message: Any) -> None:
        props = getattr(message, "properties", None)
        item = Incoming(
            message.topic,
            bytes(message.payload),
            getattr(props, "ResponseTopic", None),
            getattr(props, "CorrelationData", None),
            bool(message.retain),
        )
        self._soon(self._deliver, item)

    def _deliver(self, item: Incoming) -> None:
        # a run_sync_soon callback that raises would end trio's run: one bad
        # message costs a log line, never the hub
        try:
            self._on_message(item)
        except Exception:
            log.exception("%s: message not handled", item.topic)

    # trio's thread
    def _connect_result(self, ok: bool, reason: str) -> None:
        self.connected = ok
        if not ok:
            self._refusal = reason
            log.warning("broker %s refused the hub: %s", self.broker.shown, reason)
        else:
            log.info("connected to broker %s as %s", self.broker.shown, self.client_id)
            self._on_connected()
        if self._connack is not None:
            self._connack.set()

    def _lost(self, reason: str) -> None:
        if self.connected and self._client is not None:
            log.warning("lost the broker %s (%s); reconnecting", self.broker.shown, reason)
        self.connected = False

    def subscribe(self, topics: list[str]) -> None:
        if self._client is not None:
            self._client.subscribe([(t, 1) for t in topics])

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
    ) -> bool:
        """Queue one message (never blocks); False when paho dropped it (no
        connection for QoS 0, or its queue is full)."""
        properties = None
        if response_topic is not None or correlation is not None:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        if self._client is None:
            return False  # closed: the hub is on its way out
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except ValueError as exc:  # a topic paho refuses (wildcards): never from a checked id
            log.warning("not published on %r: %s", topic, exc)
            return False
        return info.rc == 0

    async def close(self, last: tuple[str, bytes] | None = None) -> None:
        """``last``: a retained message to publish before a clean disconnect
        (the hub's own offline state: a clean disconnect sends no Will)."""
        client = self._client
        if client is None:
            return
        self._client = None

        def stop() -> None:
            if last is not None and self.connected:
                info = client.publish(last[0], last[1], qos=1, retain=True)
                try:
                    info.wait_for_publish(timeout=2.0)
                except (RuntimeError, ValueError):
                    pass
            client.disconnect()
            client.loop_stop()

        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(stop)
