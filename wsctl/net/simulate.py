"""A simulated device on the network: moves messages between connections and
`wsctl.core.sim.Sim`.

One `Simulator` owns one `Sim`, shared by every connection, because that is what
a real device is: there is one belt, and when an engineer changes its speed the
observer watching telemetry on another connection sees it.  What belongs to a
conversation stays per connection: the ids in progress and OCPP's one
outstanding device call live in that connection's `DeviceCodec`.

A connection has no task of its own beyond the one reading it (a simulator
holds thousands: every task, nursery and channel per connection is memory,
and waking one per message is CPU).  Replies are sent by the reader, in
order.  Telemetry and the device's own calls go to the connection's outbox; a
task in the simulator's nursery sends it, started when there is something to
send and gone when it is sent.  Frames go out in the order they were made: a
reply waits for telemetry offered before it.  A peer too slow to read loses
telemetry (the outbox is bounded) instead of stalling the device for
everyone; replies wait, as a real device's would.

Replies with a delay (fault or command `delay`) are sent by their own task (in
the simulator's nursery) when the protocol allows several requests in flight
(JSON-RPC); in lockstep protocols (OCPP: one call per direction, text) the
connection waits, like a single-threaded device.  At most MAX_DELAYED such
tasks per connection (past that the reader waits out the delay itself), and
they end with the connection instead of sleeping on for a peer that left.

Every command and every denial becomes one record: to the audit log (JSON Lines,
each line written whole with one write() on an O_APPEND file, so concurrent
connections never interleave and a crash loses at most nothing already written)
and to the `report` callback (the CLI's `--json` output).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from wsctl.core.backoff import Backoff
from wsctl.core.errors import ConnectError, ConnectionClosed, HandshakeRejected, Timeout, WsctlError
from wsctl.core.profile.device_side import BadRequest, DeviceCodec, Response
from wsctl.core.profile.model import Faults, Profile
from wsctl.core.sim import Audit, Certificates, Close, Drop, Emit, Reply, Sim
from wsctl.core.urls import public_url
from wsctl.net._guard import collapse
from wsctl.net.sim_link import MAX_DELAYED, QUEUE_SIZE, Link  # noqa: F401 - QUEUE_SIZE is read from here too

log = logging.getLogger("wsctl.net.simulate")

#: connections given their telemetry before the simulator lets their senders
#: run.  Running every connection's sender at once (thousands of connections) kept all their
#: sends in flight together: a new client's handshake waited behind the whole
#: burst at each of its steps, and the burst's objects outlived young garbage
#: collections, which filled the oldest generation and set off full ones
#: (docs/performance.md, "Garbage collector").
EMIT_BATCH = 100
#: longest pause between rounds of dialing when no central system answers
REDIAL_MAX = 60.0
#: seconds a dialed connection may take to close when the simulator stops
GOING_AWAY_TIMEOUT = 2.0


class AuditLog:
    """Append-only JSON Lines file, mode 0600 (it names operators)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, record: dict[str, Any]) -> None:
        # backslashreplace: an audit line is written whatever a peer managed to put in it
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        os.write(self._fd, line.encode("utf-8", "backslashreplace"))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class Peer:
    """Who is on the other end, for authorization and the audit log."""

    remote: str
    role: str | None
    name: str | None = None
    kind: str | None = None
    fingerprint: str | None = None
    subject: str | None = None

    @classmethod
    def of(cls, conn: Any) -> Peer:
        ident = getattr(conn, "identity", None)
        if ident is None:
            return cls(remote=conn.remote, role=None)
        return cls(
            remote=conn.remote,
            role=ident.role,
            name=ident.name or ident.common_name,
            kind=ident.kind,
            fingerprint=ident.fingerprint,
            subject=ident.subject,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "name": self.name,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "subject": self.subject,
        }


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Simulator:
    """``Simulator(profile, ...)``; run `run()` in a nursery, then use `handler`
    with `wsctl.net.server.serve`, or `dial()` to call a central system."""

    def __init__(
        self,
        profile: Profile,
        *,
        seed: int | None = None,
        faults: Faults | None = None,
        interval_scale: float = 1.0,
        audit: AuditLog | None = None,
        report: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile = profile
        self.clock = clock
        self.sim = Sim(profile, rng=random.Random(seed), now=clock(), faults=faults, interval_scale=interval_scale)
        #: the jitter of `dial`'s pauses (its own: drawing it must not shift the simulation's values)
        self._dial_rng = random.Random(seed)
        self.audit = audit
        self.report = report
        #: metrics: called with (command, seconds from its arrival to its answer queued for sending)
        self.on_answered: Any = None
        self.lockstep = profile.framing.max_in_flight == 1
        self._links: set[Link] = set()
        #: the station's certificates when the profile has [sim.certificates] (OCPP
        #: chargers): this one for connections it accepts; each `dial` has its own,
        #: made from the credentials it dials with
        self.station: Any = None
        #: where `dial` writes a renewed certificate and key (beside the old ones); None: memory only
        self.keep_dir: Any = None
        if profile.sim is not None and profile.sim.certificates is not None:
            self.station = self._new_station(profile.path.rstrip("/").rpartition("/")[2] or profile.id)

        #: where connections' own tasks run (outboxes, delayed replies): `run`'s
        self._nursery: trio.Nursery | None = None

    @property
    def connections(self) -> int:
        return len(self._links)

    # -- the device's clock ---------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Telemetry for every connected peer, until cancelled.  The state keeps
        evolving with nobody connected, as a running machine's does.  Its
        nursery runs the connections' outboxes and delayed replies."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started()
                await self._clock()
            finally:
                self._nursery = None

    async def _clock(self) -> None:
        while True:
            now = self.clock()
            try:
                emits = self.sim.tick(now)
            except Exception:  # noqa: BLE001 - a profile's telemetry bug must not stop the device answering
                log.exception("telemetry failed; skipping this period")
                emits = []
            for n, link in enumerate(list(self._links), 1):
                for emit in emits:
                    link.emit(emit, now)
                link.release(now)  # a device call whose answer never came
                if n % EMIT_BATCH == 0:
                    # let these connections send (and a new client's handshake step)
                    # before the next ones are given theirs: see EMIT_BATCH
                    await trio.lowlevel.checkpoint()
            due = self.sim.next_due()
            # after a failed tick the period did not advance: wait, do not spin
            wait = 1.0 if due is None or not emits and due <= now else min(1.0, due - self.clock())
            await trio.sleep(max(0.0, wait))

    # -- one conversation ---------------------------------------------------------
    async def handler(self, conn: Any) -> None:
        """For `serve(handler=...)`: the peer's role comes from its certificate."""
        await self.session(conn, Peer.of(conn))

    async def session(self, conn: Any, peer: Peer, station: Any = None) -> None:
        if self._nursery is None:
            # not under `run`: this conversation's own tasks get a nursery of their own
            async with trio.open_nursery() as nursery:
                await self._converse(conn, peer, station, nursery)
                nursery.cancel_scope.cancel()
        else:
            await self._converse(conn, peer, station, self._nursery)

    async def _converse(self, conn: Any, peer: Peer, station: Any, nursery: trio.Nursery) -> None:
        link = Link(conn, DeviceCodec(self.profile), peer, nursery)
        link.station = station or self.station
        self._links.add(link)
        try:
            if await self._carry_out(link, self._on_connect(link)):
                await self._read(link)
        except (_Closing, ConnectionClosed):
            pass
        finally:
            self._links.discard(link)
            link.end()

    def _new_station(self, station_id: str) -> Any:
        from wsctl.net.station_certs import StationCertificates

        assert self.profile.sim is not None and self.profile.sim.certificates is not None
        return StationCertificates(
            self.profile.sim.certificates, station_id=station_id, clock=self.clock, report=self._report
        )

    def _on_connect(self, link: Link) -> list:
        actions = self.sim.on_connect(self.clock())
        if link.station is not None:
            # a certificate that failed at the last reconnection, reported once a connection holds
            actions += [self.sim.certificate_call("security_event", e) for e in link.station.take_events()]
        return actions

    def _certificates(self, link: Link, action: Certificates) -> list:
        """The station's side of a certificate operation, as the sim's actions."""
        if action.op == "csr":
            return [self.sim.certificate_call("csr", link.station.new_csr())]
        answer = link.station.command(action.op, action.params or {})
        actions = self.sim.certificate_answer(action, answer.payload, answer.result, answer.detail)
        actions += [self.sim.certificate_call("security_event", e) for e in answer.events]
        if answer.reconnect:
            actions.append(Close(1000, "reconnecting with a new certificate"))
        return actions

    async def _read(self, link: Link) -> None:
        while True:
            try:
                message = await link.conn.receive()
            except ConnectionClosed:
                return
            now = self.clock()
            parsed = link.codec.parse(message)
            if isinstance(parsed, Response):
                self._response(link, parsed)
                link.release(now)
                if parsed.event is not None:
                    # the device acts on the answer (a boot Accepted, the transactionId assigned)
                    answered = self.sim.answered(parsed.event, parsed.payload, parsed.ok, now)
                    if not await self._carry_out(link, answered):
                        raise _Closing
                continue
            actions = (
                self.sim.reject(parsed)
                if isinstance(parsed, BadRequest)
                else self.sim.handle(parsed, link.peer.role, now)
            )
            if not await self._carry_out(link, actions, arrived=trio.current_time()):
                raise _Closing

    async def _carry_out(self, link: Link, actions: list, arrived: float | None = None) -> bool:
        """Do the sim's actions in order; False once the connection is to close."""
        command = None
        for action in actions:
            if isinstance(action, Audit):
                self._record(link.peer, action)
                command = action.command
            elif isinstance(action, (Reply, Drop)):
                timed = (
                    (command, arrived)
                    if arrived is not None and command is not None and isinstance(action, Reply)
                    else None
                )
                if action.delay > 0 and not self.lockstep and link.delayed < MAX_DELAYED:
                    if link.spawn(self._later, link, action, timed):
                        link.delayed += 1
                    else:
                        link.codec.finish(action.request_id)  # the simulator stopped: never sent
                else:
                    if action.delay > 0:
                        await trio.sleep(action.delay)
                    await self._deliver(link, action, timed)
            elif isinstance(action, Emit):
                link.emit(action, self.clock())
            elif isinstance(action, Certificates):
                if not await self._carry_out(link, self._certificates(link, action), arrived):
                    return False
            elif isinstance(action, Close):
                await link.close(action.code, action.reason)
                return False
        return True

    async def _later(self, link: Link, action: Reply | Drop, timed: tuple[str, float] | None = None) -> None:
        try:
            await link.wait_or_end(action.delay)  # a closed connection frees it at once
            await self._deliver(link, action, timed)
        except ConnectionClosed:
            pass
        except Exception:  # noqa: BLE001 - in the simulator's nursery: one reply must not stop it
            log.exception("%s: a delayed reply failed", link.peer.remote)
        finally:
            link.delayed -= 1

    async def _deliver(self, link: Link, action: Reply | Drop, timed: tuple[str, float] | None = None) -> None:
        try:
            if isinstance(action, Reply):
                if link.ended:
                    raise ConnectionClosed(f"{link.peer.remote}: connection closed", code=1006)
                await link.send(action.wire)
                if timed is not None and self.on_answered is not None:
                    self.on_answered(timed[0], trio.current_time() - timed[1])
        finally:
            link.codec.finish(action.request_id)

    # -- reporting -------------------------------------------------------------------
    def _report(self, record: dict[str, Any]) -> None:
        if self.report is not None:
            self.report(record)

    def _record(self, peer: Peer, audit: Audit) -> None:
        record = {
            "event": "command",
            "time": _iso(self.clock()),
            "identity": peer.as_dict(),
            "role": peer.role,
            "command": audit.command,
            "params": audit.params,
            "id": audit.id,
            "result": audit.result,
            "detail": audit.detail,
        }
        if self.audit is not None:
            try:
                self.audit.write(record)
            except OSError as exc:  # a full disk must not take the device down; say so loudly
                log.error("audit log %s: %s", self.audit.path, exc)
        if self.report is not None:
            self.report(record)

    def _response(self, link: Link, response: Response) -> None:
        what = response.event.name if response.event else None
        if what is None:
            log.info("%s: answer to no outstanding call (id %r) ignored", link.peer.remote, response.id)
        if self.report is not None:
            self.report(
                {
                    "event": "response",
                    "time": _iso(self.clock()),
                    "remote": link.peer.remote,
                    "call": what,
                    "id": response.id,
                    "ok": response.ok,
                    "payload": response.payload,
                    "code": response.code,
                    "message": response.message,
                }
            )

    # -- dial-out (OCPP: the charger calls the central system) -----------------------------
    async def dial(
        self, urls: str | Sequence[str], *, role: str | None, redial: float | None = 5.0, **connect: Any
    ) -> None:
        """Connect to the first of ``urls`` that answers, act as the device on
        that connection; when it ends, dial again after `redial` seconds,
        from the first URL (None: return when the session ends, raise when
        none could be opened).  A URL that cannot be reached is followed at
        once by the next; after a round in which none could, the pause
        doubles up to `REDIAL_MAX`, and every pause is jittered (between half
        and all of it: a fleet whose hub died must not hammer the others in
        lockstep).  A station that was just given a new
        certificate (or whose new one failed, and falls back) dials again at
        once.  The dialed peer is authorized with `role`: the charger trusts
        the central system it verified, so its commands are checked against
        that role."""
        connect.setdefault("subprotocols", self.profile.subprotocols)
        order = [urls] if isinstance(urls, str) else list(urls)
        station = self._dial_station(order[0], connect)
        failed_rounds = 0
        while True:
            reason, connected, at_once = await self._dial_round(order, role, connect, station, redial)
            if at_once:
                continue
            if redial is None:
                return
            failed_rounds = 0 if connected else failed_rounds + 1
            pause = 0.0
            if redial > 0:  # equal jitter: a fleet that lost one hub spreads over half of each pause
                backoff = Backoff(initial=redial, maximum=max(redial, REDIAL_MAX), jitter="equal")
                pause = backoff.delay(max(failed_rounds - 1, 0), self._dial_rng)
            self._redialing(order[0] if len(order) == 1 else ", ".join(order), reason, pause)
            await trio.sleep(pause)

    def _dial_station(self, url: str, connect: dict[str, Any]) -> Any:
        """This dial's certificates, in memory from here on (a renewal replaces
        them); None when the simulator has no station side or TLS is the caller's."""
        own_tls = "ssl_context" in connect or connect.get("insecure")
        if self.station is None or own_tls or not url.lower().startswith("wss:"):
            return None
        station = self._new_station(_station_id(url, self.station.station_id))
        station.keep_dir = self.keep_dir
        station.load(
            ca=connect.get("ca"), cert=connect.get("cert"), key=connect.get("key"), password=connect.get("password")
        )
        return station

    async def _dial_round(
        self, order: list[str], role: str | None, connect: dict[str, Any], station: Any, redial: float | None
    ) -> tuple[str, bool, bool]:
        """One pass over the URLs: (why it ended, whether one connected, dial again at once)."""
        reason, connected, refusals = "closed", False, 0
        for url in order:
            options = station.connect_options(connect) if station is not None else connect
            try:
                await self._dial_once(url, role, options, station)
                reason, connected = "closed", True
            except ConnectionClosed as exc:
                if redial is None:
                    raise
                reason, connected = str(exc), True
            except WsctlError as exc:
                if station is not None and station.fell_back(exc):
                    return str(exc), False, True  # the new certificate failed: at once with the old one
                if isinstance(exc, (ConnectError, Timeout)):
                    if redial is None and url == order[-1]:
                        raise
                    reason = str(exc)
                    continue
                if not isinstance(exc, HandshakeRejected):
                    raise
                refusals += exc.status is not None and exc.status < 500
                if url == order[-1] and (redial is None or refusals == len(order)):
                    raise  # 4xx from every hub: they refuse this charger; waiting will not help
                reason = str(exc)
                continue
            break
        return reason, connected, station is not None and station.reconnect_now()

    def _redialing(self, url: str, reason: str, pause: float) -> None:
        shown = public_url(url)
        log.info("%s: %s; dialing again in %g s", shown, reason, pause)
        if self.report is not None:
            self.report(
                {
                    "event": "disconnected",
                    "time": _iso(self.clock()),
                    "url": shown,
                    "reason": reason,
                    "redial_in": pause,
                }
            )

    async def _dial_once(self, url: str, role: str | None, connect: dict[str, Any], station: Any = None) -> None:
        """One dialed session; on cancellation (SIGTERM, Ctrl-C, the caller's
        scope) it closes with 1001 Going Away, so the central system marks the
        charger offline at once instead of after its ping timeout.

        The connection runs in a shielded scope: a cancellation reaching it
        would cancel its reader too, and without a reader no close frame can be
        sent (the socket just drops, the central system sees 1006).  This task
        stays cancellable, waits for the session, and on cancellation closes
        (shielded, bounded so a dead peer cannot hold up the exit), then
        cancels the shielded scope."""
        from wsctl.net.api import open_device

        opened: list[Any] = []
        finished = trio.Event()

        async def run(task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED) -> None:
            with trio.CancelScope(shield=True) as scope:
                task_status.started(scope)
                try:
                    async with open_device(url, **connect) as device:
                        opened.append(device)
                        if station is not None:
                            station.opened()
                        if self.profile.subprotocols and device.subprotocol is None:
                            log.warning(
                                "%s: central system accepted none of %s",
                                device.url,
                                ", ".join(self.profile.subprotocols),
                            )
                        if self.report is not None:
                            self.report(
                                {
                                    "event": "dialed",
                                    "time": _iso(self.clock()),
                                    "url": device.url,
                                    "subprotocol": device.subprotocol,
                                    "fingerprint": device.peer_fingerprint,
                                }
                            )
                        await self.session(
                            _DialedConn(device),
                            Peer(remote=device.url, role=role, fingerprint=device.peer_fingerprint),
                            station,
                        )
                finally:
                    finished.set()

        try:
            async with trio.open_nursery() as nursery:
                scope = await nursery.start(run)
                try:
                    await finished.wait()
                except trio.Cancelled:
                    with trio.CancelScope(shield=True):
                        if opened:
                            with trio.move_on_after(GOING_AWAY_TIMEOUT):
                                await opened[0].close(1001, "going away")
                        scope.cancel()  # still connecting, or the close timed out
                    raise
        except BaseExceptionGroup as group:
            # the connection's own error (ConnectError ...), not a group of it
            leaf = collapse(group)
            if leaf is group:
                raise
            raise leaf from leaf.__cause__


def _station_id(url: str, default: str) -> str:
    """OCPP: the station's identity is the URL's last path segment (/ocpp/CP-17)."""
    from urllib.parse import unquote, urlsplit

    segment = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    return segment or default


class _Closing(Exception):
    """A `close` step ended the conversation (internal)."""


class _DialedConn:
    """A `wsctl.net.api.Device` seen as the simulator's peer connection."""

    def __init__(self, device: Any) -> None:
        self._device = device
        self.remote = device.url
        self.identity = None

    async def send(self, message: str | bytes) -> None:
        await self._device.send(message)

    async def receive(self) -> str | bytes:
        return await self._device.receive()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._device.close(code, reason)
