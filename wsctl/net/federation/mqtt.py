"""The hub's MQTT 5 connection: paho-mqtt 2.x driven from the hub's trio
thread through its socket-level API (`loop_read` / `loop_write` /
`loop_misc` under `trio.lowlevel.wait_readable` / `wait_writable`).

Why not paho's own network thread (docs/design.md, "Federation"): a call
through two hubs crossed four thread hops (trio -> paho -> broker -> paho ->
trio, twice), each a wake-up of the other thread and a hand-over of the GIL
(measured: a few per cent of the two-hub call, not most of it), and paho's
own reconnect has no jitter.  Here paho's callbacks run inside `loop_read` on
the trio thread, and a publish is written to the socket inside `publish()`
(paho writes at once when no thread and no write callback is registered), so
a message costs no hop at all.

What paho's thread did and this loop does instead: TLS bytes already
decrypted into the SSL object (``pending()``) are read before waiting on the
socket again; `loop_misc` runs every second (keepalive pings, the ping
timeout); the socket is announced closing to trio (`notify_closing`) before
paho closes it, so no task waits on a dead descriptor.  paho's `connect` /
`reconnect` do the TCP connect and TLS handshake blocking: they run in a
worker thread, and while one runs nothing else touches the client (publishes
of that time are held, in order, and handed to paho after).  Reconnects are
ours: `RECONNECT` (0.5 s doubling to 30 s, equal jitter from the caller's
random source), so hubs that lost the same broker do not all come back in the
same millisecond.

The first connection is made before the hub announces itself, so a wrong
broker address, certificate or ACL is one clear line at start (exit 3);
`on_connected` runs again on every CONNACK (subscriptions are renewed: the
session is clean, so a dead hub's subscriptions die with it).
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from wsctl.core.backoff import Backoff
from wsctl.core.errors import ConnectError
from wsctl.core.hub.topics import MAX_PACKET
from wsctl.net.federation.broker_url import BrokerURL

log = logging.getLogger("wsctl.net.federation")

#: messages paho keeps for a broker that is away (QoS 1); beyond, new ones are dropped
MAX_QUEUED = 20000
#: QoS 0 messages (telemetry) paho may hold unsent for a broker that does not keep
#: up (paho's own queue has no bound for them); beyond, new ones are dropped (counted)
MAX_BACKLOG = 20000
#: paho's packet type of a PUBLISH (its ``_packet_queue`` tells written QoS 0 publishes by it)
PUBLISH = 0x30
KEEPALIVE = 20
CONNECT_TIMEOUT = 10.0
#: pause before each reconnect to the broker
RECONNECT = Backoff(initial=1.0, maximum=30.0, jitter="equal")
#: how often paho's timers run (keepalive ping, ping timeout)
MISC_INTERVAL = 1.0
#: how long a clean close waits for the broker to acknowledge the QoS 1 publishes
CLOSE_DRAIN = 2.0


def _unacknowledged(client: Any) -> bool:
    """paho holds a QoS 1 or 2 publish the broker has not acknowledged (paho
    2.x's ``_out_messages``, pinned below 3)."""
    return any(message.qos for message in list(client._out_messages.values()))


def _no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """A call and its reply are small messages each way: Nagle's algorithm
    would hold each behind the peer's delayed ACK (tens of ms per hop)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not TCP (a unix socket): nothing to turn off


def _closing(client: Any, userdata: Any, sock: Any) -> None:
    """paho is about to close the socket: a task waiting on it must be told
    first (trio cannot see a descriptor closed under it)."""
    try:
        trio.lowlevel.notify_closing(sock)
    except RuntimeError:
        pass  # closed by paho's reconnect in a worker thread: nobody waits on it there


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None
    retained: bool


class MqttLink:
    """One MQTT 5 session of a hub; ``will``: (topic, payload) of its Last Will
    (retained, QoS 1); ``rng``: the random source of the reconnect jitter."""

    def __init__(
        self,
        broker: BrokerURL,
        *,
        client_id: str,
        tls: ssl.SSLContext | None,
        will: tuple[str, bytes],
        on_message: Callable[[Incoming], None],
        on_connected: Callable[[], None],
        rng: random.Random | None = None,
        on_reconnect_wait: Callable[[float], None] | None = None,
        on_telemetry: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self._tls = tls
        self._will = will
        self._on_message = on_message
        self._on_connected = on_connected
        self._rng = rng or random.Random()
        #: told each reconnect pause before it is slept (tests, logs)
        self._on_reconnect_wait = on_reconnect_wait
        self.connected = False
        self._client: Any = None
        self._connack: trio.Event | None = None
        self._refusal: str | None = None
        #: QoS 1 publishes whose PUBACK someone waits for: mid -> [event, refusal]
        self._confirm: dict[int, list[Any]] = {}
        #: set when paho has bytes to write that the socket would not take
        self._write_wanted = trio.Event()
        #: publishes made while a worker thread (re)connects, handed to paho after
        self._held: deque[tuple[str, bytes, int, bool, Any]] | None = None
        self._scope: trio.CancelScope | None = None
        #: reconnects tried since the last CONNACK
        self._attempt = 0
        self._stopped = trio.Event()
        #: QoS 0 messages handed to paho since its queue was last seen empty
        self._backlog = 0
        #: `publish_telemetry`'s outcomes: (tag, published), each message once
        self._on_telemetry = on_telemetry or (lambda tag, published: None)
        #: device messages of this scheduling pass, not yet handed to paho (packets, tags)
        self._batch: list[bytes] = []
        self._batch_tags: list[str] = []
        #: coalesced messages handed to paho and not yet written (or lost)
        self._unsent = 0
        #: set by `open`, where paho is imported
        self._packet: Callable[..., bytes] = None  # type: ignore[assignment]
        self._properties: Callable[[str | None, bytes | None], bytes] = None  # type: ignore[assignment]
        self._send: Callable[[Any, bytes], bool] = None  # type: ignore[assignment]
        self._batch_of: Any = None
        self._reader_of: Any = None
        #: set by `_read` once no QoS 1 publish waits for its PUBACK (`close`)
        self._acked: trio.Event | None = None

    async def open(self, nursery: trio.Nursery) -> None:
        """Connect once (a clear ConnectError if that fails), then keep the
        session in a task of ``nursery`` until `close`."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        from wsctl.net.federation import batch, reader
        from wsctl.net.federation.properties import encoded, install

        # paho is imported when a hub federates
        self._packet, self._batch_of, self._reader_of = batch.packet, batch.Batch, reader.PacketReader
        self._properties, self._send = encoded, batch.send
        install()  # received PUBLISH properties read without paho's slow tables

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False
        )
        client.connect_timeout = CONNECT_TIMEOUT
        client.max_queued_messages_set(MAX_QUEUED)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        will_props = Properties(PacketTypes.WILLMESSAGE)
        client.will_set(self._will[0], self._will[1], qos=1, retain=True, properties=will_props)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribed
        # on_publish is set only while a PUBACK is awaited (`publish_confirmed`):
        # with it, paho builds a ReasonCode and a Properties for every QoS 0
        # message it writes (~9 us each: each telemetry reading, each call)
        client.on_socket_open = _no_delay
        client.on_socket_close = _closing
        self._client = client
        connect_props = Properties(PacketTypes.CONNECT)
        connect_props.SessionExpiryInterval = 0
        # the broker must not send the hub a larger packet [MQTT-3.1.2-24]: a plant
        # tool's 100 MB publish on devices/+/cmd went to every hub (and `reader` refuses one)
        connect_props.MaximumPacketSize = MAX_PACKET
        self._connack = trio.Event()
        refusal = await self._in_worker(
            lambda: client.connect(
                self.broker.host, self.broker.port, KEEPALIVE, clean_start=True, properties=connect_props
            )
        )
        if refusal is not None:
            self._client = None
            raise ConnectError(refusal[0], hint=refusal[1] if len(refusal) > 1 else None)
        await nursery.start(self._keep_connected, client)
        try:
            with trio.move_on_after(CONNECT_TIMEOUT):
                await self._connack.wait()
        except BaseException:
            await self.close()  # the session's task is shielded: only close ends it
            raise
        if not self.connected:
            await self.close()
            why = self._refusal or f"no CONNACK within {CONNECT_TIMEOUT:g} s"
            raise ConnectError(f"broker {self.broker.shown} refused the hub {self.client_id}: {why}")

    async def _in_worker(self, connect: Callable[[], Any]) -> tuple[str, ...] | None:
        """paho's blocking (re)connect in a worker thread; while it runs,
        publishes are held.  None when connected, else (message, hint)."""
        if self._client is not None:
            self._settle_lost(self._client)  # paho's reconnect drops them, off the trio thread
        self._held = deque()
        try:
            await trio.to_thread.run_sync(connect)
        except ssl.SSLCertVerificationError as exc:
            return (
                f"broker {self.broker.shown}: its certificate is not trusted: {exc.verify_message or exc.reason}",
                "the broker's certificate must chain to the plant CA (--certs, or --ca)",
            )
        except ssl.SSLError as exc:
            return (f"broker {self.broker.shown}: TLS failed: {exc.reason or exc}",)
        except OSError as exc:
            return (f"broker {self.broker.shown}: {exc.strerror or exc}",)
        finally:
            held, self._held = self._held, None
            for topic, payload, qos, retain, properties in held:
                self._publish(topic, payload, qos, retain, properties)
        return None

    # -- the session, on the trio thread -------------------------------------------
    async def _keep_connected(self, client: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the connection; when it is lost, reconnect after `RECONNECT`'s
        pauses.  Shielded: the hub's cancellation must not stop the loop before
        `close` has published the hub's last state; `close` ends it."""
        try:
            with trio.CancelScope(shield=True) as self._scope:
                task_status.started()
                while self._client is client:
                    await self._serve(client)
                    while self._client is client and client.socket() is None:
                        self.connected = False
                        delay = RECONNECT.delay(self._attempt, self._rng)
                        self._attempt += 1
                        if self._on_reconnect_wait is not None:
                            self._on_reconnect_wait(delay)
                        log.info("reconnecting to the broker %s in %.1f s", self.broker.shown, delay)
                        await trio.sleep(delay)
                        why = await self._in_worker(client.reconnect)
                        if why is not None:
                            log.warning("%s", why[0])
        finally:
            self._stopped.set()

    async def _serve(self, client: Any) -> None:
        sock = client.socket()
        if sock is None:
            return
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, client, sock)
                nursery.start_soon(self._tick, client, sock)
                await self._read(client, sock)
                nursery.cancel_scope.cancel()
        finally:
            if client.socket() is not sock:
                self._settle_lost(client)

    async def _read(self, client: Any, sock: Any) -> None:
        """What the broker sends, whole TLS records at a time (`reader`: not
        paho's ``loop_read``, which reads a packet byte by byte)."""
        pending = getattr(sock, "pending", lambda: 0)
        reader = self._reader_of(client, sock, self._handle, Incoming)
        while client.socket() is sock:
            try:
                if pending():
                    await trio.lowlevel.checkpoint()  # already decrypted: no readiness to wait for
                else:
                    await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                return
            reader.read()
            self._kick(client)
            if self._acked is not None and not _unacknowledged(client):
                self._acked.set()

    async def _write(self, client: Any, sock: Any) -> None:
        """Bytes the socket did not take at once, or queued inside a callback;
        and the device messages of the last scheduling pass (`_flush`): this
        task runs after the tasks that made them, so one write carries them all."""
        while client.socket() is sock:
            if self._batch:
                self._flush(client)
                continue
            if not client.want_write():
                self._write_wanted = trio.Event()
                await self._write_wanted.wait()
                continue
            try:
                await trio.lowlevel.wait_writable(sock)
            except trio.ClosedResourceError:
                return
            client.loop_write()

    async def _tick(self, client: Any, sock: Any) -> None:
        while client.socket() is sock:
            await trio.sleep(MISC_INTERVAL)
            client.loop_misc()
            self._kick(client)

    def _kick(self, client: Any) -> None:
        if client.want_write():
            self._write_wanted.set()

    # -- paho's callbacks: inside loop_read / loop_write / loop_misc, on the trio thread
    def _paho_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connect_result(not reason.is_failure, str(reason))

    def _paho_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected and self._client is not None:
            log.warning("lost the broker %s (%s); reconnecting", self.broker.shown, reason)
        self.connected = False

    def _paho_subscribed(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error(
                "broker %s refused %d of the hub's subscriptions (%s): check its ACL for the user %s",
                self.broker.shown,
                len(refused),
                ", ".join(sorted(set(refused))),
                "named in the hub's certificate",
            )

    def _paho_published(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        waiting = self._confirm.pop(mid, None)
        if waiting is not None:
            waiting[1] = str(reason) if reason.is_failure else None
            waiting[0].set()
        self._watch_pubacks(client)

    def _watch_pubacks(self, client: Any) -> None:
        """paho tells of a PUBACK only while someone waits for one."""
        client.on_publish = self._paho_published if self._confirm else None

    def _paho_message(self, client: Any, userdata: Any, message: Any) -> None:
        """A message paho decoded (QoS 1, or properties other than a call's)."""
        props = getattr(message, "properties", None)
        item = Incoming(
            message.topic,
            bytes(message.payload),
            getattr(props, "ResponseTopic", None),
            getattr(props, "CorrelationData", None),
            bool(message.retain),
        )
        self._handle(item)

    def _handle(self, item: Incoming) -> None:
        # an exception here would end the read half-way: one bad message
        # costs a log line, never the session
        try:
            self._on_message(item)
        except Exception:
            log.exception("%s: message not handled", item.topic)

    def _connect_result(self, ok: bool, reason: str) -> None:
        self.connected = ok
        if not ok:
            self._refusal = reason
            log.warning("broker %s refused the hub: %s", self.broker.shown, reason)
        else:
            log.info("connected to broker %s as %s", self.broker.shown, self.client_id)
            self._attempt = 0
            self._on_connected()
        if self._connack is not None:
            self._connack.set()

    # -- what the federation calls -------------------------------------------------
    async def publish_confirmed(self, topic: str, payload: bytes, *, timeout: float) -> str | None:
        """Publish retained at QoS 1 and wait for the broker's PUBACK: None
        when it took the message, else its reason (an ACL's "Not authorized";
        also when no PUBACK came within ``timeout``)."""
        client = self._client
        if client is None or self._held is not None:
            return "not connected"
        self._flush(client)  # after the device messages made before it
        # the PUBACK comes in a later loop_read: waiting is registered after
        # publish() has given the mid, before anything is read again
        info = client.publish(topic, payload, qos=1, retain=True)
        self._kick(client)
        waiting: list[Any] = [trio.Event(), None]
        self._confirm[info.mid] = waiting
        self._watch_pubacks(client)
        with trio.move_on_after(timeout):
            await waiting[0].wait()
            return waiting[1]
        self._confirm.pop(info.mid, None)
        self._watch_pubacks(client)
        return f"no PUBACK within {timeout:g} s"

    def subscribe(self, topics: list[str], *, qos: int = 1) -> None:
        if self._client is not None and topics:
            self._flush(self._client)
            self._client.subscribe([(t, qos) for t in topics])
            self._kick(self._client)

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
        """Write one message, or queue it (never blocks); False when paho
        dropped it (no connection for QoS 0, or its queue is full)."""
        if qos == 0 and not retain and self._held is None and self._client is not None:
            return self._publish_now(topic, payload, response_topic, correlation)
        properties = None
        if response_topic is not None or correlation is not None:
            from wsctl.net.federation.properties import Packed

            properties = Packed(response_topic, correlation)
        if self._client is None:
            return False  # closed: the hub is on its way out
        if self._held is not None:  # a worker thread is in paho's connect
            if qos == 0 or len(self._held) >= MAX_QUEUED:
                return False
            self._held.append((topic, payload, qos, retain, properties))
            return True
        return self._publish(topic, payload, qos, retain, properties)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool, properties: Any) -> bool:
        client = self._client
        if client is None:
            return False
        self._flush(client)  # after the device messages made before it
        if qos == 0 and not self._room(client):
            return False
        try:
            info = client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except ValueError as exc:  # a topic paho refuses (wildcards): never from a checked id
            log.warning("not published on %r: %s", topic, exc)
            return False
        self._kick(client)
        return info.rc == 0

    def _room(self, client: Any) -> bool:
        """Room for one more QoS 0 message behind what paho has not written yet."""
        if not client.want_write():
            self._backlog = 0  # everything before was written to the socket
        elif self._backlog >= MAX_BACKLOG:
            return False  # the broker does not read: memory must not grow without end
        else:
            self._backlog += 1
        return True

    def _publish_now(self, topic: str, payload: bytes, response_topic: str | None, correlation: bytes | None) -> bool:
        """A QoS 0 message (a call between hubs, its reply) as one PUBLISH
        built here, the bytes paho's ``publish`` writes (a test compares them),
        without its `MQTTMessageInfo` and `threading.Condition`, its topic
        checks and its `bytearray` grown piecewise (docs/performance.md,
        "Federation"); written at once as paho would (`batch.send`), or kept
        for `_write`."""
        client = self._client
        self._flush(client)  # after the device messages made before it
        if client.socket() is None:
            return False  # as paho's publish at QoS 0: not connected, not sent
        if not self._room(client):
            return False
        try:
            data = self._packet(topic, payload, self._properties(response_topic, correlation))
        except ValueError as exc:  # a topic paho refuses (wildcards): never from a checked id
            log.warning("not published on %r: %s", topic, exc)
            return False
        sent = self._send(client, data)
        self._kick(client)
        return sent

    def publish_telemetry(self, topic: str, payload: bytes, tag: str) -> None:
        """A device's message at QoS 0 (not retained, no properties), in order
        with every other publish of this link, written together with the other
        device messages of this trio scheduling pass (`wsctl.net.federation.batch`).

        Never blocks, never queues for a broker that is away: the outcome goes
        to ``on_telemetry(tag, published)`` once — dropped at once when there
        is no connection or `MAX_BACKLOG` messages wait unsent, published once
        paho wrote it to the socket, dropped if the connection is lost first."""
        client = self._client
        if client is None or self._held is not None or client.socket() is None:
            self._on_telemetry(tag, False)
            return
        if self._unsent + len(self._batch) >= MAX_BACKLOG:
            self._on_telemetry(tag, False)  # the broker does not read: memory must not grow without end
            return
        try:
            self._batch.append(self._packet(topic, payload))
        except ValueError as exc:  # a topic paho refuses (wildcards): never from a checked id
            log.warning("not published: %s", exc)
            self._on_telemetry(tag, False)
            return
        self._batch_tags.append(tag)
        if len(self._batch) == 1:
            self._write_wanted.set()  # `_write` flushes once the tasks of this pass have run

    def _flush(self, client: Any) -> None:
        """Hand the batch to paho as one packet; paho writes what the socket
        takes at once and keeps the rest for `_write`'s ``loop_write``."""
        if not self._batch:
            return
        packets, tags = self._batch, self._batch_tags
        self._batch, self._batch_tags = [], []
        done = self._batch_of(tags, self._telemetry_told)
        if client.socket() is None or self._held is not None:
            done.settle(False)
            return
        self._unsent += len(tags)
        client._packet_queue(PUBLISH, b"".join(packets), 0, 0, done)
        self._kick(client)

    def _telemetry_told(self, tag: str, published: bool) -> None:
        self._unsent -= 1
        self._on_telemetry(tag, published)

    def _settle_lost(self, client: Any) -> None:
        """The connection is gone: what paho still holds of the device messages,
        and the batch not yet handed to it, were not published."""
        for out in list(client._out_packet):
            info = out.get("info")
            if isinstance(info, self._batch_of):
                info.settle(False)
        if self._batch:
            tags, self._batch, self._batch_tags = self._batch_tags, [], []
            for tag in tags:
                self._on_telemetry(tag, False)

    async def _drain(self, client: Any) -> None:
        """Wait (at most `CLOSE_DRAIN`) until the broker has acknowledged every
        QoS 1 publish.  Why: mosquitto 2.0 that finds the socket closed when it
        writes a PUBACK drops the client ("disconnected due to out of memory")
        without reading what the client wrote after that publish — the device
        messages after a presence were lost when a link closed at once, under
        load.  Once the last PUBACK is in, what follows needs no answer."""
        self._flush(client)
        if not _unacknowledged(client):
            return
        self._acked = trio.Event()
        try:
            with trio.move_on_after(CLOSE_DRAIN):
                await self._acked.wait()
        finally:
            self._acked = None

    async def close(self, last: tuple[str, bytes] | None = None) -> None:
        """``last``: a retained message to publish before a clean disconnect
        (the hub's own offline state: a clean disconnect sends no Will)."""
        client = self._client
        if client is None:
            return
        with trio.CancelScope(shield=True):
            if last is not None and self.connected:
                await self.publish_confirmed(last[0], last[1], timeout=CLOSE_DRAIN)
            elif self.connected and self._held is None:
                await self._drain(client)
            self._client = None
            if self._held is None and client.socket() is not None:
                self._flush(client)
                client.disconnect()  # written at once, after what paho holds; paho closes the socket after it
            self._settle_lost(client)  # what a dead socket never took
            if self._scope is not None:
                self._scope.cancel()
                await self._stopped.wait()
