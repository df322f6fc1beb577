"""A hub's place in a federation of hubs on an MQTT 5 broker: the `Peers`
the hub calls (wsctl.net.hub.peers), and what the hub does for messages from
the broker.  Topics and payloads: `wsctl.core.hub.topics`; docs/federation.md.

- Presence out: each device that comes or goes is published retained on
  ``devices/<id>/state``; its messages on ``telemetry/<name>`` or
  ``events/<name>``, decoded, with the raw frame (QoS 0: a reading lost while
  the broker is away is not worth a queue).  The hub's own state is retained,
  with a Last Will saying offline.
- Presence in: every hub keeps the retained states of hubs and devices
  (`Presence`), so `holder` is a lookup, never a round trip.
- Calls (`remote_calls`): an operator's call for a device another hub holds
  goes to that hub; a plant tool's command on ``devices/<id>/cmd`` runs on the
  hub that holds the device, with the role of ``--mqtt-command-role`` or not
  at all; queued commands wait in the registry of the hub that took them and
  are forwarded when the device turns up on another hub.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import trio

from wsctl.core.errors import ConnectError, InvalidInput
from wsctl.core.hub import topics
from wsctl.core.hub.outcome import CallOutcome
from wsctl.core.profile.events import CodecEvent, DeviceRequest, Malformed, Telemetry, Unmatched
from wsctl.core.profile.model import Command
from wsctl.net._guard import collapse
from wsctl.net.federation.broker_url import BrokerURL
from wsctl.net.federation.mqtt import Incoming, MqttLink
from wsctl.net.federation.presence import Presence
from wsctl.net.federation.remote_calls import NOT_HERE, RemoteCalls
from wsctl.net.federation.shared_registry import RegistrySharing
from wsctl.net.hub.hub import iso

log = logging.getLogger("wsctl.net.federation")

#: seconds between two warnings about device messages dropped while the broker is away
DROP_LOG_EVERY = 10.0
#: call and reply topics whose parse is kept (hubs x hubs; beyond, parsed each time)
MAX_ROUTES = 4096


class Federation:
    """``hub``: the `wsctl.net.hub.hub.Hub` (its ``peers`` is set to this);
    ``command_role``: the role of commands from plant tools, None: refused."""

    def __init__(
        self,
        hub: Any,
        *,
        broker: BrokerURL,
        hub_id: str,
        site: str,
        tls: ssl.SSLContext | None,
        command_role: str | None = None,
        share_registry: bool = True,
    ) -> None:
        self.hub = hub
        self.hub_id = topics.check_level(hub_id, "hub id")
        self.tree = topics.Tree(site)
        self.presence = Presence()
        self.link = MqttLink(
            broker,
            client_id=f"wsctl-{site}-{hub_id}",
            tls=tls,
            will=(self.tree.hub_state(self.hub_id), self._hub_doc(False, "connection lost (Last Will)", at=None)),
            on_message=self._message,
            on_connected=self._connected,
            on_telemetry=self._count,
        )
        self.calls = RemoteCalls(self, command_role)
        #: one registry for the site (None: this hub keeps its registry to itself)
        self.sharing: RegistrySharing | None = None
        if share_registry:
            self.sharing = RegistrySharing(self)
        #: `_parse`'s topics of calls and replies
        self._routes: dict[str, tuple[str, ...]] = {}
        #: when each device held here came online (its presence keeps it across updates)
        self._since: dict[str, str] = {}
        #: device messages not published (no broker connection), and how many of them a warning told of
        self.dropped = 0
        self._drops_told = 0
        self._drop_logged = float("-inf")
        self.nursery: trio.Nursery = None  # type: ignore[assignment]
        hub.peers = self

    def _hub_doc(self, online: bool, reason: str | None = None, *, at: str | None) -> bytes:
        return topics.encode(topics.hub_state(self.hub_id, online=online, at=at, reason=reason))

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Connect (ConnectError with the reason if the broker refuses), then
        serve until cancelled; on the way out the hub says it is offline.

        The nursery is open before the first CONNACK: the retained presence
        that arrives at once may already ask this hub to forward queued
        commands."""
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                await self._join()
                if self.sharing is not None:
                    nursery.start_soon(self.sharing.run)
                task_status.started(self)
                try:
                    await trio.sleep_forever()
                finally:
                    last = (self.tree.hub_state(self.hub_id), self._hub_doc(False, "stopped", at=iso(self.hub.wall())))
                    await self.link.close(last=last)
        except BaseExceptionGroup as group:
            leaf = collapse(group)
            if leaf is group:
                raise
            raise leaf from leaf.__cause__

    async def _join(self) -> None:
        await self.link.open(self.nursery)
        state = self.tree.hub_state(self.hub_id)
        refusal = await self.link.publish_confirmed(state, self._hub_doc(True, at=iso(self.hub.wall())), timeout=10)
        if refusal is not None:
            await self.link.close()
            raise ConnectError(
                f"broker {self.link.broker.shown} refused hub {self.hub_id}'s state on {state}: {refusal}",
                hint="the broker's ACL must let the user named in the hub's certificate write "
                f"{self.tree.base}/hubs/{self.hub_id}/# (docs/federation.md)",
            )

    # -- the broker's side ------------------------------------------------------
    def _connected(self) -> None:
        """On every CONNACK: the session is clean, so subscribe again; say the
        hub is online and who is on it (a restarted broker may have lost both)."""
        self.link.subscribe(self.tree.subscriptions(self.hub_id))
        if self.sharing is not None:
            # QoS 0: no PUBACK per record and no in-flight window of 20 throttling a site's flood
            self.link.subscribe(self.tree.registry_subscriptions(), qos=0)
            self.sharing.connected()
        self.link.publish(
            self.tree.hub_state(self.hub_id), self._hub_doc(True, at=iso(self.hub.wall())), qos=1, retain=True
        )
        for device_id in list(self.hub.links):
            self._publish_online(device_id, self.hub.registry.device(device_id))

    def _message(self, item: Incoming) -> None:
        parsed = self._routes.get(item.topic) or self._parse(item.topic)
        if parsed is None:
            return
        kind, name = parsed[0], parsed[1]
        if kind == "hub-state":
            self._hub_state(name, item)
        elif kind == "device-state":
            self._device_state(name, item)
        elif kind == "call" and parsed[2] == self.hub_id:
            self.calls.incoming_call(item, from_hub=name)
        elif kind == "reply" and parsed[2] == self.hub_id:
            self.calls.incoming_reply(item, from_hub=name)
        elif kind == "cmd" and name in self.hub.links and self.presence.holder(name) is None:
            # held here, and no other online hub is named by its presence: a
            # charger whose old connection is not yet seen dead is on two hubs,
            # and only the one its presence names runs the command
            self.calls.incoming_command(item, name)
        elif kind == "registration" and self.sharing is not None:
            self.sharing.incoming(name, parsed[2], item)

    def _parse(self, topic: str) -> tuple[str, ...] | None:
        """`topics.Tree.parse`, kept for the topics of calls and replies (one
        per pair of hubs, each seen on every call: the split and the checks
        of its levels once)."""
        parsed = self.tree.parse(topic)
        if parsed is not None and parsed[0] in ("call", "reply") and len(self._routes) < MAX_ROUTES:
            self._routes[topic] = parsed
        return parsed

    def _state(self, item: Incoming, key: str, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(taken, document) of a retained state on the topic of hub or device
        ``name`` (``key`` "hub" or "device"); the document is None for a
        cleared one.  Not taken: not JSON, or not that hub's or device's state
        (a document that names another, or says no ``online``), with a warning."""
        if not item.payload:
            return True, None
        try:
            doc = topics.decode(item.payload)
        except InvalidInput as exc:
            log.warning("%s: ignored: %s", item.topic, exc.message)
            return False, None
        problem = topics.state_problem(doc, key, name)
        if problem is not None:
            log.warning("%s: ignored: not the %s's state: %s", item.topic, key, problem)
            return False, None
        return True, doc

    def _hub_state(self, hub_id: str, item: Incoming) -> None:
        if hub_id == self.hub_id:
            return  # our own (or our last life's Will, overwritten at connect)
        taken, doc = self._state(item, "hub", hub_id)
        if taken and self.presence.hub_state(hub_id, doc):
            log.warning("hub %s went offline", hub_id)
            self.calls.hub_lost(hub_id)
            for device_id in self.presence.claimed_by(hub_id):
                if device_id in self.hub.links:  # it came here while the dead hub's claim stood
                    self._publish_online(device_id, self.hub.registry.device(device_id))

    def _device_state(self, device_id: str, item: Incoming) -> None:
        taken, doc = self._state(item, "device", device_id)
        if not taken:
            return
        seen = self.presence.device_state(device_id, doc)
        if device_id in self.hub.links:
            if not seen.online or (seen.hub != self.hub_id and not self.presence.hubs.get(seen.hub or "")):
                # this hub holds it: an "offline" is stale (from a hub that did not
                # see it move, sent late after a partition), and so is a claim of a
                # hub that is offline.  Another live hub's "online" stands: the
                # device is on both for a moment, and correcting that would ping-pong
                log.info("%s: its state said %s: this hub holds it", device_id, _said(seen))
                self._publish_online(device_id, self.hub.registry.device(device_id))
            return
        if seen.hub == self.hub_id and seen.online:
            # a claim from this hub's last life (it died with the device on it)
            self._publish_offline(device_id, "hub restarted")
            return
        holder = self.presence.holder(device_id)
        if holder is not None and holder != self.hub_id:
            self.calls.forward_queued(device_id, holder)

    def _publish_offline(self, device_id: str, reason: str) -> None:
        doc = topics.device_state(device_id, self.hub_id, online=False, at=iso(self.hub.wall()), reason=reason)
        self.presence.device_state(device_id, doc)
        self.link.publish(self.tree.device_state(device_id), topics.encode(doc), qos=1, retain=True)

    # -- Peers: what the hub tells the federation ---------------------------------
    def device_online(self, device_id: str, record: Any) -> None:
        self._since[device_id] = iso(self.hub.wall())
        self._publish_online(device_id, record)

    def _publish_online(self, device_id: str, record: Any) -> None:
        since = self._since.get(device_id) or iso(self.hub.wall())
        doc = topics.device_state(device_id, self.hub_id, online=True, at=since, record=record)
        self.presence.device_state(device_id, doc)
        self.link.publish(self.tree.device_state(device_id), topics.encode(doc), qos=1, retain=True)

    def device_offline(self, device_id: str, reason: str) -> None:
        self._since.pop(device_id, None)
        if self.presence.named(device_id) not in (self.hub_id, None):
            return  # it is on another hub already: its state is that hub's to write
        self._publish_offline(device_id, reason)

    def device_message(self, device_id: str, item: CodecEvent) -> None:

        if isinstance(item, Telemetry):
            kind, where, name, payload = "telemetry", "telemetry", _name(item), item.payload
        elif isinstance(item, DeviceRequest):
            kind, where, name, payload = "request", "events", _name(item), item.payload
        elif isinstance(item, (Malformed, Unmatched)):
            kind, where, name, payload = type(item).__name__.lower(), "events", None, item.reason
        else:
            return
        doc = topics.device_message(
            device_id, self.hub_id, at=iso(self.hub.wall()), kind=kind, name=name, payload=payload, raw=item.raw
        )
        # the outcome comes to `_count`: at once for a drop, once written for a publish
        self.link.publish_telemetry(self.tree.device_message(device_id, where, name), topics.encode(doc), where)
        if isinstance(item, DeviceRequest) and name == "BootNotification":
            # answered already: the registry has what it said (vendor, model, firmware)
            self._publish_online(device_id, self.hub.registry.device(device_id))

    def _count(self, kind: str, published: bool) -> None:
        """A device message written to the broker's socket or dropped (QoS 0: no
        connection, the connection lost before it was written, or `MAX_BACKLOG`
        unsent already): never silently — the metric, and a warning with the
        count at most every `DROP_LOG_EVERY` seconds."""
        metrics = self.hub.metrics
        if metrics is not None:
            metrics.broker_message(kind, published)
        if published:
            return
        self.dropped += 1
        now = trio.current_time()
        if now - self._drop_logged >= DROP_LOG_EVERY:
            log.warning(
                "%d device message(s) not published (no broker connection, or it does not keep up; %d since start)",
                self.dropped - self._drops_told,
                self.dropped,
            )
            self._drop_logged, self._drops_told = now, self.dropped

    def holder(self, device_id: str) -> str | None:
        found = self.presence.holder(device_id)
        return found if found != self.hub_id else None

    def unreachable(self, device_id: str) -> str | None:
        """Why the other hub holding ``device_id`` cannot be asked now (the
        broker is away), or None."""
        target = self.holder(device_id)
        if target is None or self.link.connected:
            return None
        return f"{device_id} is on hub {target}, but the broker is unreachable"

    async def call_remote(self, caller: Any, command: Command, params: dict[str, Any]) -> CallOutcome | None:
        """The outcome of the hub holding the device; None to run the call
        here (no other hub holds it, or the one that did has not got it:
        queued with ``--queue``, else this hub's "offline")."""
        target = self.holder(caller.device_id)
        if target is None:
            return None
        if not self.link.connected and caller.queue_ttl:
            return None  # queued here; forwarded once the broker is back and says where it is
        outcome = await self._call(target, caller, command, params)
        if outcome.detail != NOT_HERE:
            return outcome
        # stale presence: the device left that hub; once more where newer presence puts it
        again = self.holder(caller.device_id)
        if again is not None and again != target:
            outcome = await self._call(again, caller, command, params)
        return None if outcome.detail == NOT_HERE and caller.queue_ttl else outcome

    async def _call(self, target: str, caller: Any, command: Command, params: dict[str, Any]) -> CallOutcome:
        return await self.calls.call(
            target,
            caller.device_id,
            operator=caller.operator,
            role=caller.role,
            command=command.key,
            params=params,
            timeout=command.timeout,
        )


def _name(item: Telemetry | DeviceRequest) -> str:
    return item.event.name if item.event is not None else item.name


def _said(seen: Any) -> str:
    return f"{'online' if seen.online else 'offline'} on {seen.hub or 'no hub'}"
