"""The hub's side of one registry for the site (`wsctl.registry.shared`):
other hubs' records taken from the broker, this registry's changes published.

Each device's shared record is one retained QoS 1 message on
``registry/devices/<id>`` (hubs only: it carries the secret's hash), each id
tag's on ``registry/id-tags/<tag>``.  Records that
arrive are checked and taken in batches, one transaction each, newest wins.
This registry's changes — any verb's, the CLI's while the hub runs included
(they are in the registry's outbox) — are published once the retained
records that came with a new connection have been taken (`SETTLE_QUIET`
without one, at most `SETTLE_MAX`), so a change made here while the hub was
down is weighed against the site's newer ones before it is sent.  A record
older than this registry's copy (retained or live: two hubs that publish at
the same moment leave the broker with whichever came last) is answered with
this registry's copy, so the broker ends with the newest.  Once settled, every
record of this registry the broker did not send is published again: the
broker may have lost records (a restart without persistence, a publish lost
with a broker that died before its PUBACK).  A broker that refuses the records
(an ACL without ``registry/#``) is told once, with the hint, and the changes
stay in the outbox.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import trio

from wsctl.core.errors import InvalidInput, WsctlError
from wsctl.core.hub import topics
from wsctl.registry.shared import Shared, is_profile_name, kind_key, parse_record, parse_tag

log = logging.getLogger("wsctl.net.federation")

#: after a CONNACK, the retained records are taken when none came for this long
SETTLE_QUIET = 0.5
#: ... or this long after the CONNACK at most (a site of a million devices takes a while)
SETTLE_MAX = 60.0
#: records taken in one transaction, and changes read from the outbox at once
BATCH = 500
#: how often the outbox is looked at (the CLI changes it from another process);
#: each pause is drawn between 0.75 and 1.25 of it, so hubs woken by the same
#: record do not publish in the same instant
POLL = 1.0
#: records waiting to be taken, at most: beyond, a batch is taken before the
#: reader goes on (a site's retained records arrive faster than SQLite takes them)
MAX_WAITING = 4 * BATCH
#: how long a publish waits for the broker's PUBACK before the changes wait for the next pass
CONFIRM_TIMEOUT = 10.0


class RegistrySharing:
    def __init__(self, federation: Any) -> None:
        self.fed = federation
        self._waiting: list[Shared] = []
        self._wake = trio.Event()
        #: trio time of the last CONNACK and of the last record that came (None: not connected yet)
        self._connected_at: float | None = None
        self._last_record = 0.0
        #: the broker refused a record on this connection: wait for the next one
        self._refused = False
        #: a record was confirmed on this connection (the ACL lets this hub write them)
        self._confirmed = False
        #: a device registered by profile file was told of (once)
        self._path_warned = False
        #: (kind, key) of the records the broker sent on this connection, until it settled
        self._seen: set[tuple[str, str]] | None = None
        #: records refused as malformed, and taken (tests, logs)
        self.rejected = 0
        self.taken = 0
        self.published = 0

    # -- from the federation's callbacks (trio thread, no waiting) --------------
    def connected(self) -> None:
        self._connected_at = trio.current_time()
        self._refused = self._confirmed = False
        self._seen = set()
        self._wake.set()

    def incoming(self, kind: str, level: str, item: Any) -> None:
        """A record on ``registry/devices/<level>`` or ``registry/id-tags/<level>``."""
        if not item.payload:
            return  # a cleared retained message: nothing to take (removals are records)
        parse = parse_record if kind == "device" else parse_tag
        try:
            record: Shared = parse(topics.decode(item.payload), level, now=self.fed.hub.wall())
        except InvalidInput as exc:
            self.rejected += 1
            log.warning("%s: shared registry record refused: %s", item.topic, exc.message)
            return
        self._waiting.append(record)
        if self._seen is not None:
            self._seen.add(kind_key(record))
        self._last_record = trio.current_time()
        if len(self._waiting) >= MAX_WAITING:
            try:
                self._take()  # the broker's socket waits meanwhile: memory stays bounded
            except WsctlError as exc:  # the registry is busy: they wait for the task's next pass
                log.warning("shared registry: %s; %d records wait", exc.message, len(self._waiting))
        self._wake.set()

    # -- the task --------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            with trio.move_on_after(self._pause()):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                while self._waiting:
                    self._take()
                    await trio.lowlevel.checkpoint()
                if self._may_publish():
                    if self._seen is not None:
                        self._reconcile()
                    await self._publish()
            except WsctlError as exc:
                # the registry is busy (another process holds it): what waits, waits for the next pass
                log.warning("shared registry: %s; trying again", exc.message)

    def _pause(self) -> float:
        if self._connected_at is not None and not self._settled():
            return SETTLE_QUIET / 2
        return POLL * random.uniform(0.75, 1.25)

    def _reconcile(self) -> None:
        """Settled: what this registry holds and the broker did not send goes out again."""
        assert self._seen is not None
        missing = self.fed.hub.registry.publish_missing(self._seen)
        self._seen = None
        if missing:
            log.info("shared registry: %d record(s) the broker did not have are published again", missing)

    def _settled(self) -> bool:
        now = trio.current_time()
        assert self._connected_at is not None
        since = max(self._connected_at, self._last_record)
        return now - since >= SETTLE_QUIET or now - self._connected_at >= SETTLE_MAX

    def _may_publish(self) -> bool:
        return self._connected_at is not None and self.fed.link.connected and not self._refused and self._settled()

    def _take(self) -> None:
        batch = self._waiting[:BATCH]
        me = self.fed.hub_id
        registry = self.fed.hub.registry
        taken, ours_newer = registry.take_shared(batch, me)
        del self._waiting[: len(batch)]  # only once taken: a busy registry keeps them for the next pass
        self.taken += len(taken)
        if taken:  # one line a batch: a site's records arrive by the thousand when a hub joins
            first = " ".join(taken[0])
            log.info("shared registry: %d record(s) taken (%s%s)", len(taken), first, " ..." if len(taken) > 1 else "")
        if ours_newer:
            registry.publish_again(ours_newer)  # the outbox holds each once, however many came

    async def _publish(self) -> None:
        fed = self.fed
        registry = fed.hub.registry
        while fed.link.connected:
            changes = registry.unpublished(BATCH)
            if not changes:
                return
            done: list[tuple[str, str, int]] = []
            for kind, key, seq in changes:
                record = registry.shared(kind, key, fed.hub_id)
                if record is not None and not self._shareable(record):
                    record = None  # stays this hub's own: taken out of the outbox, not sent
                if record is not None and not await self._send(record):
                    break
                done.append((kind, key, seq))
            registry.published(done)
            self.published += len(done)
            if len(done) < len(changes):
                return
            await trio.lowlevel.checkpoint()  # a large outbox must not hold the hub for its whole length

    def _shareable(self, record: Shared) -> bool:
        """A device registered with a profile file (``--profile ./x.toml``) is not
        shared: another hub must not be made to load a path from its own disk."""
        profile = getattr(record, "profile", None)
        if profile is None or is_profile_name(profile):
            return True
        if not self._path_warned:
            self._path_warned = True
            log.warning(
                "%s: registered with the profile file %r, which is not shared with the other hubs "
                "(register devices by profile name: docs/federation.md)", kind_key(record)[1], profile,
            )  # fmt: skip
        return False

    async def _send(self, record: Shared) -> bool:
        """The first record of a connection is confirmed (an ACL that refuses it is
        one clear warning); the rest go like every QoS 1 message of the link."""
        kind, key = kind_key(record)
        topic = self.fed.tree.registration(kind, key)
        payload = topics.encode(record.as_doc())
        if self._confirmed:
            return bool(self.fed.link.publish(topic, payload, qos=1, retain=True))
        refusal = await self.fed.link.publish_confirmed(topic, payload, timeout=CONFIRM_TIMEOUT)
        if refusal is None:
            self._confirmed = True
            return True
        if refusal.startswith(("no PUBACK", "not connected")):
            log.warning("shared registry: %s for %s %s; trying again", refusal, kind, key)
            return False  # a slow or lost broker, not a refusal: the next pass tries again
        self._refused = True
        log.warning(
            "broker %s refused the shared registry record of %s %s (%s): changes stay in the registry until the "
            "next connection; the broker's ACL must let hub %s write %s/registry/# (docs/federation.md)",
            self.fed.link.broker.shown, kind, key, refusal, self.fed.hub_id, self.fed.tree.base,
        )  # fmt: skip
        return False
