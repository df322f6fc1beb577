"""The hub: admission, the table of connected devices, queued commands, audit.

`Hub.run` serves with `wsctl.net.server.serve` (its own TLS listener, one
guarded task per connection, handshake limits — everything a `serve` has).
TLS asks for a client certificate but does not require one, because a device
on security profile 2 has none; `wsctl.core.hub.admission` then decides per
upgrade, and an operator always needs an operator certificate.  The decision
made in ``authorize`` is kept for the handler by the connection's address.

A device that connects again with the same id replaces its old connection
(closed with 4000 "replaced by a new connection from ADDR", logged and
audited).  The registry is written by this process only (one writer); every
write is one short SQLite transaction on the hub's thread — measured in
bench/bench_hub.py, cheaper than a thread hop per write.

What is read per connection and per message comes from memory: a device's
standing (`Registry.standing`, which notices other processes' changes), and
last-seen times are gathered here and written in one transaction every
`SEEN_FLUSH_PERIOD` (a heartbeat wrote one each before).  Presence, boot
reports, transactions and audit entries are written at once: after a crash
(kill -9) the registry lacks at most the last-seen times of the last period.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import trio

from wsctl.core.errors import InvalidInput, WsctlError
from wsctl.core.hub import admission
from wsctl.core.hub.addressing import OPERATOR, PathTemplate, device_template
from wsctl.core.hub.outcome import CallOutcome
from wsctl.core.profile.model import Command, Profile
from wsctl.core.profile.params import short
from wsctl.net.hub.calls import Caller, execute
from wsctl.net.hub.device_link import DeviceLink
from wsctl.net.hub.operator_link import OperatorLink
from wsctl.net.serverconn import Accept, ConnectionRequest, Reject

log = logging.getLogger("wsctl.net.hub")

#: header an operator's tool sends to queue calls for an offline device (seconds)
QUEUE_HEADER = "wsctl-queue"
#: how often queued commands are checked for expiry
EXPIRY_PERIOD = 5.0
#: commands queued for one offline device at most (each a registry row and a
#: waiting operator for up to its TTL); beyond, a queued call is answered busy
MAX_QUEUED_PER_DEVICE = 100
#: admissions kept for their handlers (more than handshakes can be in flight)
PENDING_DECISIONS = 4096
#: password (scrypt) checks at once, in worker threads
SECRET_CHECKS = 2
#: close code for a connection replaced by a newer one with the same device id
REPLACED = 4000
#: seconds between writes of the last-seen times gathered in memory (the most
#: a crash of the hub can lose of them; presence itself is written at once)
SEEN_FLUSH_PERIOD = 2.0


def iso(wall: float) -> str:
    return _iso_second(int(wall))


@functools.lru_cache(maxsize=4)
def _iso_second(second: int) -> str:
    # every device request's answer carries the time (OCPP currentTime): at
    # thousands of devices most requests fall into a second already formatted
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Waiter:
    def __init__(self) -> None:
        self._event = trio.Event()
        self.outcome: Any = None

    def set(self, outcome: Any) -> None:
        self.outcome = outcome
        self._event.set()

    async def wait(self) -> Any:
        await self._event.wait()
        return self.outcome


class Hub:
    """``registry``: an open `wsctl.registry.Registry`; ``profiles``: name ->
    Profile loader; ``default_profile``: the profile of devices admitted as
    pending; ``device_paths``: templates devices dial (default: derived from
    the profiles of the registered devices)."""

    def __init__(
        self,
        registry: Any,
        *,
        load_profile: Callable[[str], Profile],
        default_profile: str | None = None,
        device_paths: Sequence[str] = (),
        approval: bool = False,
        record_dir: str | None = None,
        record_max_size: int | None = None,
        metrics: Any = None,
        signer: Any = None,
        wall: Callable[[], float] = time.time,
        seen_flush_period: float = SEEN_FLUSH_PERIOD,
    ) -> None:
        self.registry = registry
        self._load_profile = load_profile
        self._profiles: dict[str, Profile] = {}
        self._central: dict[int, Any] = {}
        self.default_profile = default_profile
        self.approval = approval
        if approval and default_profile is None:
            raise InvalidInput("approval mode needs the profile of devices not yet registered (--profile)")
        self.record_dir = record_dir
        self.record_max_size = record_max_size
        self.wall = wall
        self._given_paths = tuple(device_paths)
        self.max_queued = MAX_QUEUED_PER_DEVICE
        #: registered profiles that did not load (warned of once each)
        self._unloadable: set[str] = set()
        self.device_paths = self._templates(device_paths)
        self._paths_checked = 0.0
        self.links: dict[str, DeviceLink] = {}
        #: device id -> the watching operators' channels (only devices somebody watches)
        self.watch_table: dict[str, set[Any]] = {}
        self._decisions: dict[str, tuple[admission.Decision, ConnectionRequest]] = {}
        self._waiters: dict[int, _Waiter] = {}
        #: queued commands on their way to the device, here or forwarded to the
        #: hub that holds it (wsctl.net.federation): each is delivered once
        self._delivering: set[int] = set()
        self.nursery: trio.Nursery = None  # type: ignore[assignment]
        #: the listener (`wsctl.net.server.Server`) once running
        self.server: Any = None
        #: `wsctl.net.hub.metrics.HubMetrics`, or None
        self.metrics = metrics
        #: the federation (other hubs on a broker, `Peers` in wsctl.net.hub.peers), or None
        self.peers: Any = None
        #: `wsctl.net.hub.cert_manager.CertificateSigner` (--sign-certificates), or None
        self.signer = signer
        self.operators_open = 0
        #: bytes written to the recordings of closed device connections (--record-dir)
        self.recorded_bytes = 0
        #: password checks running at once (each scrypt takes 16 MiB)
        self._hashing = trio.CapacityLimiter(SECRET_CHECKS)
        #: device id -> when it last sent something, not yet in the registry
        self._seen: dict[str, float] = {}
        self.seen_flush_period = seen_flush_period
        #: device links being closed because the registry no longer admits them
        self.sending_away: set[DeviceLink] = set()

    # -- profiles and addressing ---------------------------------------------------
    def profile(self, name: str) -> Profile:
        found = self._profiles.get(name)
        if found is None:
            found = self._profiles[name] = self._load_profile(name)
        return found

    def central_side(self, profile: Profile) -> Any:
        """The profile's `CentralSide` (one serves every device: building it per
        connection compiled its templates again for each), or None for a
        profile without a central side (its own event replies answer)."""
        key = id(profile)  # profiles live as long as the hub (self._profiles)
        if key not in self._central:
            try:
                from wsctl.core.hub.central import CentralSide

                self._central[key] = CentralSide(profile)
            except InvalidInput:
                self._central[key] = None
        return self._central[key]

    def profile_of(self, device_id: str, standing: Any = None) -> Profile:
        """``standing``: the device's, when the caller has just read it (a
        lookup less on a call's path)."""
        standing = standing or self.registry.standing(device_id)
        name = standing.profile if standing is not None else self.default_profile
        if not name:
            raise InvalidInput(f"{device_id}: no profile (register the device with --profile)")
        return self.profile(name)

    def _templates(self, given: Sequence[str]) -> list[PathTemplate]:
        if given:
            return [device_template(None, t) for t in given]
        names = self.registry.profile_names() | ({self.default_profile} if self.default_profile else set())
        found: list[PathTemplate] = []
        for name in sorted(n for n in names if n):
            try:
                t = device_template(self.profile(name).path)
            except WsctlError as exc:
                if name == self.default_profile:
                    raise  # the hub's own --profile: a typo there is the user's to fix now
                # one device registered with a profile this hub cannot load (a
                # typo, or another hub's record) must not close the door on the rest
                self._warn_unloadable(name, exc)
                continue
            if t not in found:
                found.append(t)
        if OPERATOR not in found:
            found.append(OPERATOR)
        return found

    def _refresh_paths(self) -> bool:
        """Templates of profiles registered since start (at most once a second:
        a path that fits none must not cost a registry scan per request)."""
        now = self.wall()
        if self._given_paths or now - self._paths_checked < 1.0:
            return False
        self._paths_checked = now
        fresh = self._templates(())
        changed = fresh != self.device_paths
        self.device_paths = fresh
        return changed

    def watchers_of(self, device_id: str) -> set[Any]:
        """The operators watching the device (a set made on the first watcher:
        most devices have none)."""
        return self.watch_table.setdefault(device_id, set())

    def unwatch(self, device_id: str, watcher: Any) -> None:
        found = self.watch_table.get(device_id)
        if found is not None:
            found.discard(watcher)
            if not found:
                del self.watch_table[device_id]

    def not_approved(self, device_id: str) -> str | None:
        """Why no operator command may go to the device (pending, blocked), or None."""
        standing = self.registry.standing(device_id)
        if standing is None or standing.status == "approved":
            return None
        if standing.status == "pending":
            return f"{device_id} waits for approval (wsctl hub devices approve)"
        return f"{device_id} is {standing.status}"

    # -- last seen ---------------------------------------------------------------
    def seen(self, device_id: str, at: float) -> None:
        """The device sent something (kept here; `flush_seen` writes them)."""
        self._seen[device_id] = at

    def take_seen(self, device_id: str) -> float | None:
        """The device's last-seen time not yet written, for its offline write."""
        return self._seen.pop(device_id, None)

    def flush_seen(self) -> None:
        if not self._seen:
            return
        batch, self._seen = self._seen, {}
        try:
            self.registry.seen_many(batch.items())
        except WsctlError as exc:
            log.warning("last-seen times not written, kept for the next try: %s", exc.message)
            for device_id, at in batch.items():
                if self._seen.get(device_id, 0.0) < at:
                    self._seen[device_id] = at

    async def _flush_seen_periodically(self) -> None:
        try:
            while True:
                await trio.sleep(self.seen_flush_period)
                self.flush_seen()
        finally:
            self.flush_seen()  # the hub stops (not a crash): nothing is left behind

    def offline_text(self, device_id: str) -> str:
        record = self.registry.device(device_id)
        if record is None or record.since is None:
            return f"{device_id} offline (never connected)"
        seen = f" (last seen {iso(record.last_seen)})" if record.last_seen else ""
        return f"{device_id} offline since {iso(record.since)}{seen}"

    # -- admission ---------------------------------------------------------------
    async def authorize(self, request: ConnectionRequest, *, plaintext: bool = False) -> Accept:
        found = admission.claim(request.identity, request.path, request.headers, self.device_paths, plaintext=plaintext)
        if isinstance(found, admission.Refuse) and found.kind == "not-found" and self._refresh_paths():
            found = admission.claim(
                request.identity, request.path, request.headers, self.device_paths, plaintext=plaintext
            )
        decision: admission.Decision
        standing = None
        if isinstance(found, admission.Refuse):
            decision = found
        else:
            standing = self.registry.standing(found.device_id)
            secret_ok = found.password is not None and standing is not None and await self._check_secret(found)
            decision = admission.decide(
                found, standing, identity=request.identity, secret_ok=secret_ok, approval=self.approval
            )
            if isinstance(decision, admission.AdmitOperator):
                decision = self._operator_may_connect(decision, request, standing)
            elif isinstance(decision, admission.AdmitDevice) and decision.register_pending and found.password:
                decision = await self._pending_secret(decision, found.password)
        agreed: str | None = None
        if not isinstance(decision, admission.Refuse):
            name = standing.profile if standing is not None else self.default_profile
            try:
                profile = self.profile(name) if name else None
            except WsctlError as exc:
                decision = self._without_profile(decision.device_id, name, exc)
            else:
                agreed, decision = _subprotocol(profile, decision, request.subprotocols)
        if isinstance(decision, admission.Refuse):
            log.warning("%s: refused (%s): %s", request.remote, decision.kind, decision.reason)
            self.registry.audit(
                at=self.wall(),
                actor=_who(request),
                role=getattr(request.identity, "role", None),
                device=getattr(found, "device_id", None),
                action="connect",
                outcome="refused",
                detail=decision.reason,
            )
            if self.metrics is not None:
                self.metrics.admitted(decision.kind)
            raise Reject(decision.status, decision.reason + "\n", decision.all_headers())
        if self.metrics is not None:
            self.metrics.admitted("operator" if isinstance(decision, admission.AdmitOperator) else "device")
        if len(self._decisions) >= PENDING_DECISIONS:
            # upgrades that passed authorize but never reached the handler (the
            # peer left in between): the oldest go first
            del self._decisions[next(iter(self._decisions))]
        self._decisions[request.remote] = (decision, request)
        return Accept(agreed)

    def _without_profile(self, device_id: str, name: str | None, exc: WsctlError) -> admission.Refuse:
        """A device registered with a profile this hub cannot load (a typo, or a
        profile file that another hub of the site has and this one has not):
        refused, warned of once per profile, never a 500."""
        self._warn_unloadable(str(name), exc)
        return admission.Refuse(403, f"{device_id}: its profile {name!r} is not available on this hub", "no-profile")

    def _warn_unloadable(self, name: str, exc: WsctlError) -> None:
        if name not in self._unloadable:
            self._unloadable.add(name)
            log.warning("profile %r of registered devices not loaded: %s", name, exc.message)

    async def _pending_secret(self, decision: admission.AdmitDevice, password: str) -> admission.Decision:
        """An unknown device that logged in with a password, kept pending with
        that password's hash: approving it approves the password it presented
        (trust on first use, by a person), and only that password gets in
        again — not whoever dials with the id next."""
        import dataclasses

        from wsctl.registry.secret_hash import check_secret_text, hash_secret

        try:
            check_secret_text(password)
        except InvalidInput:
            # the device's words, not the CLI's (which offers to generate one)
            why = (
                "a password of 16 to 256 printable characters is needed (OCPP AuthorizationKey): too short or not text"
            )
            return admission.Refuse(401, f"{decision.device_id}: {why}", "credentials", (admission.BASIC_CHALLENGE,))
        hashed = await trio.to_thread.run_sync(hash_secret, password, limiter=self._hashing)
        return dataclasses.replace(decision, secret_hash=hashed)

    async def _check_secret(self, found: admission.Claim) -> bool:
        """scrypt off the event loop (tens of ms and 16 MiB each, by design),
        a few at a time: a storm of password logins must not stall the hub."""
        return bool(
            await trio.to_thread.run_sync(
                self.registry.check_secret, found.device_id, found.password, limiter=self._hashing
            )
        )

    def _operator_may_connect(
        self, decision: admission.AdmitOperator, request: ConnectionRequest, standing: Any
    ) -> admission.Decision:
        if decision.device_id in self.links or _queue_ttl(request.headers) is not None:
            return decision
        if self.peers is not None and self.peers.holder(decision.device_id) is not None:
            away = self.peers.unreachable(decision.device_id)
            if away is None:
                return decision  # held by another hub of the federation
            # the call could not go out: "offline" at the upgrade (exit 3), as for a device on no hub
            return admission.Refuse(503, away, "offline", (("Retry-After", "30"),))
        if standing.status == "pending":
            return decision  # its commands are refused one by one, with the reason
        return admission.Refuse(503, self.offline_text(decision.device_id), "offline", (("Retry-After", "30"),))

    # -- connections ---------------------------------------------------------------
    def handler(self, conn: Any) -> Awaitable[None]:
        """The server's handler: the connection's coroutine itself, not one
        awaiting it (a frame less held by each of thousands of idle devices)."""
        from wsctl.net.hub.device_session import run_device

        decision, request = self._decisions.pop(conn.remote)
        if isinstance(decision, admission.AdmitOperator):
            return self._operator(conn, decision, request)
        assert isinstance(decision, admission.AdmitDevice)
        return run_device(self, conn, decision, request)

    async def _operator(self, conn: Any, decision: admission.AdmitOperator, request: ConnectionRequest) -> None:
        caller = Caller(decision.operator, decision.role, decision.device_id, _queue_ttl(request.headers))
        link = OperatorLink(self, conn, caller)
        self._audit(caller, "connect", None, "connected", None)
        self.operators_open += 1
        try:
            await link.run()
        finally:
            self.operators_open -= 1

    # -- calls, audit and queue ------------------------------------------------------
    async def call(self, caller: Caller, command: Command, params: dict[str, Any]) -> CallOutcome:
        """An operator's call: on this hub, or on the federated hub that holds the device."""
        if self.peers is not None and caller.device_id not in self.links:
            remote = await self.peers.call_remote(caller, command, params)
            if remote is not None:
                return remote
        return await execute(self, caller, command, params)

    async def call_for_peer(
        self, device_id: str, *, operator: str, role: str | None, command: str, params: Any
    ) -> CallOutcome:
        """A call another hub (or the plant's tools, through the federation)
        asks this hub to run on a device it holds: everything from the broker is
        untrusted, so the command and parameters are checked against the
        device's profile here, and the role again, as for a local operator."""
        from wsctl.core.errors import InvalidInput
        from wsctl.core.hub.outcome import refused
        from wsctl.core.profile.codec import bind_params

        caller = Caller(operator, role, device_id)
        standing = self.registry.standing(device_id)
        if standing is None:
            return refused("device", f"no device {device_id} in this hub's registry")
        found = self.profile_of(device_id, standing).command(command)
        if found is None:
            return refused("device", f"{device_id}: no command {command!r} in its profile")
        try:
            bound = bind_params(found, params if isinstance(params, dict) else {}, from_text=False)
        except InvalidInput as exc:
            self.audit_call(caller, found.key, None, "refused", exc.message)
            return refused("device", exc.message)
        return await execute(self, caller, found, bound)

    def audit_call(
        self,
        caller: Caller,
        command: str,
        params: dict[str, Any] | None,
        outcome: str,
        detail: str | None,
        *,
        seconds: float | None = None,
    ) -> None:
        if self.metrics is not None:
            self.metrics.call(command, outcome, seconds)
        self._audit(caller, command, params, outcome, detail)

    def _audit(
        self, caller: Caller, action: str, params: dict[str, Any] | None, outcome: str, detail: str | None
    ) -> None:
        self.registry.audit(
            at=self.wall(),
            actor=caller.operator,
            role=caller.role,
            device=caller.device_id,
            action=action,
            params=params,
            outcome=outcome,
            detail=detail,
        )

    def enqueue(self, caller: Caller, command: Command, params: dict[str, Any], ttl: float) -> _Waiter:
        now = self.wall()
        qid = self.registry.queue(
            caller.device_id,
            at=now,
            expires_at=now + ttl,
            operator=caller.operator,
            role=caller.role,
            command=command.key,
            params=params,
            max_waiting=self.max_queued,
        )
        self._audit(caller, command.key, params, "queued", f"for {ttl:g} s (queue id {qid})")
        waiter = self._waiters[qid] = _Waiter()
        return waiter

    def claim_queued(self, qid: int) -> bool:
        """True when the caller may deliver queued command ``qid`` (then it
        must `release_queued` it); False while another delivery has it."""
        if qid in self._delivering:
            return False
        self._delivering.add(qid)
        return True

    def release_queued(self, qid: int) -> None:
        self._delivering.discard(qid)

    def queued_done(self, qid: int, outcome: Any) -> None:
        waiter = self._waiters.pop(qid, None)
        if waiter is not None:
            waiter.set(outcome)

    async def _expire_queued(self) -> None:
        while True:
            await trio.sleep(EXPIRY_PERIOD)
            try:
                expired = self.registry.expire(at=self.wall())
            except WsctlError as exc:  # another process holds the registry: try again next time
                log.warning("queued commands not expired this time: %s", exc.message)
                continue
            for queued in expired:
                log.info("%s: queued %s from %s expired", queued.device, queued.command, queued.operator)
                self.queued_done(queued.id, None)

    # -- running -----------------------------------------------------------------
    async def run(
        self, *, task_status: Any = trio.TASK_STATUS_IGNORED, plain: dict[str, Any] | None = None, **serve_kwargs: Any
    ) -> None:
        """Serve until cancelled; ``serve_kwargs`` go to `wsctl.net.server.serve`
        (TLS material, host, port, limits); ``plain``: a second, plaintext
        listener for security profile 1 (its serve kwargs)."""
        from wsctl.net.hub.device_session import sweep_sent_away
        from wsctl.net.server import serve

        self.registry.all_offline(at=self.wall())
        if serve_kwargs.get("ca") is not None:
            serve_kwargs.setdefault("client_auth", "optional")
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._expire_queued)
            nursery.start_soon(sweep_sent_away, self, EXPIRY_PERIOD)
            if self.signer is not None:  # certificate renewals a previous run left under way
                nursery.start_soon(self.signer.resume, self)
            nursery.start_soon(self._flush_seen_periodically)
            servers = [
                await nursery.start(
                    lambda task_status: serve(
                        self.handler, authorize=self.authorize, task_status=task_status, **serve_kwargs
                    )
                )
            ]
            if plain is not None:
                servers.append(
                    await nursery.start(
                        lambda task_status: serve(
                            self.handler,
                            authorize=functools.partial(self.authorize, plaintext=True),
                            allow_plaintext=True,
                            task_status=task_status,
                            **plain,
                        )
                    )
                )
            task_status.started(servers[0] if plain is None else servers)


def _subprotocol(
    profile: Profile | None, decision: admission.Decision, requested: Sequence[str]
) -> tuple[str | None, admission.Decision]:
    """The subprotocol agreed on, and the decision: a device that dials and
    offers none of its profile's subprotocols (OCPP-J: ``ocpp1.6``; tokens are
    case-sensitive, RFC 6455) is refused, as the OCPP-J spec has the central
    system do — it would be spoken to in a version it may not speak.  An
    operator's tool speaks the hub's own protocol: it need not offer one."""
    offered = profile.subprotocols if profile is not None else ()
    agreed = next((p for p in offered if p in requested), None)
    if agreed is None and offered and profile is not None and profile.dialer == "device":
        if isinstance(decision, admission.AdmitDevice):
            why = f"{decision.device_id}: offer the subprotocol {' or '.join(offered)} (its profile {profile.id})"
            got = short(", ".join(requested)) if requested else "none"
            return None, admission.Refuse(400, f"{why}; offered: {got}", "subprotocol")
    return agreed, decision


def _queue_ttl(headers: tuple[tuple[str, str], ...]) -> float | None:
    for key, value in headers:
        if key.lower() == QUEUE_HEADER:
            try:
                ttl = float(value)
            except ValueError:
                return None
            return ttl if 0 < ttl <= 7 * 86400 else None
    return None


def _who(request: ConnectionRequest) -> str:
    ident = request.identity
    if ident is not None:
        return str(getattr(ident, "name", None) or getattr(ident, "common_name", None) or request.remote)
    creds = admission.basic_credentials(request.headers)
    return creds[0] if creds else request.remote
