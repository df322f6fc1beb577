"""A device's time on the hub, from admission to disconnect.

Registers a pending device, replaces an older connection with the same id,
marks presence in the registry, records the connection (``--record-dir``: one
file per device connection, both directions, the record format of every
other verb), answers the device's requests as the profile's central side says
and keeps what they report (boot information, transactions), and delivers the
commands queued while the device was away — once it has booted, when the
protocol has a boot (OCPP: nothing before BootNotification was accepted).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import trio

from wsctl.core.errors import ConnectionClosed, Timeout, WsctlError
from wsctl.core.hub import admission
from wsctl.core.hub.outcome import refused
from wsctl.core.profile.events import DeviceRequest, Malformed
from wsctl.net.hub.device_link import DeviceLink
from wsctl.net.hub.hub import REPLACED, iso

log = logging.getLogger("wsctl.net.hub")

#: how long queued commands wait for the device's boot before they are sent anyway
BOOT_WAIT = 30.0
#: how long a new connection waits for the one it replaces to end (after its close)
REPLACE_WAIT = 10.0
#: a connected device whose registry status becomes one of these is closed
#: (1008, the reason below) at its next message or the hub's next sweep
SENT_AWAY = {"blocked": "is blocked", "unknown": "was removed from the registry"}
SENT_AWAY_CODE = 1008
#: effect fields that are telemetry: audited as their number of entries
TELEMETRY_FIELDS = ("meter_value",)
#: a close reason fits a control frame (125 bytes, 2 of them the code)
MAX_REASON = 120


async def run_device(hub: Any, conn: Any, decision: admission.AdmitDevice, request: Any) -> None:
    device_id = decision.device_id
    ident = request.identity
    if decision.register_pending:
        _register_pending(hub, conn, decision, ident)
    profile = hub.profile_of(device_id)
    await _replace_old(hub, device_id, conn)
    central = hub.central_side(profile)
    with _recording(hub, conn, device_id, profile) as channel:
        responder = _Responder(hub, central)
        link = responder.link = DeviceLink(
            device_id,
            channel,
            profile,
            respond=responder,
            security_profile=decision.security_profile,
            watch_table=hub.watch_table,
            forward=hub.peers.device_message if hub.peers is not None else None,
            # with a central side the hub answers every request (`_answer`): the
            # profile's own answer would be rendered for nothing
            profile_answers=central is None,
        )
        if central is None or not _has_boot(profile):
            link.booted.set()
        _online(hub, link, conn, ident)
        reason = "closed"
        try:
            if hub.registry.has_due(device_id, at=hub.wall()):
                # only then a second task: commands are queued only while the
                # device is not in hub.links, and _online just put it there
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_deliver_queued, hub, link)
                    await link.session.run()
                    nursery.cancel_scope.cancel()
            else:
                # the session itself, not `link.run`: one coroutine frame less
                # held by every idle device while it waits for its next message
                await link.session.run()
            reason = _close_text(link)
        finally:
            link.gone.set()
            if hub.links.get(device_id) is link:
                del hub.links[device_id]
                with trio.CancelScope(shield=True):
                    hub.registry.offline(device_id, at=hub.wall(), reason=reason, last_seen=hub.take_seen(device_id))
                if hub.peers is not None:
                    hub.peers.device_offline(device_id, reason)
            log.info("%s: offline (%s)", device_id, reason)


class _Responder:
    """Answers the device's requests (`DeviceLink`'s ``respond``): one small
    object per device instead of a closure and a cell per device."""

    __slots__ = ("hub", "central", "link")

    def __init__(self, hub: Any, central: Any) -> None:
        self.hub, self.central = hub, central
        self.link: DeviceLink = None  # type: ignore[assignment]  # the link it answers for, once made

    def __call__(self, item: DeviceRequest | Malformed) -> str | None:
        return _answer(self.hub, self.link, self.central, item)


def _register_pending(hub: Any, conn: Any, decision: admission.AdmitDevice, ident: Any) -> None:
    hub.registry.add_pending(
        decision.device_id,
        profile=hub.default_profile,
        security_profile=decision.security_profile,
        remote=conn.remote,
        fingerprint=getattr(ident, "fingerprint", None),
        at=hub.wall(),
        secret_hash=decision.secret_hash,
    )
    log.warning(
        "%s: unknown device from %s waits for approval (wsctl hub devices approve %s)",
        decision.device_id,
        conn.remote,
        decision.device_id,
    )


async def _replace_old(hub: Any, device_id: str, conn: Any) -> None:
    """The same id connected again: the older connection goes, with a reason.

    Until no other connection of the id is left: two reconnections that waited
    for the same old one both wake when it is gone, and the first to run takes
    its place at once (no await between this and `_online`), so the second
    finds it here and replaces it — never two open, one of them unknown."""
    while (old := hub.links.get(device_id)) is not None:
        why = f"replaced by a new connection from {conn.remote}"
        log.warning("%s: %s (old connection from %s)", device_id, why, old.remote)
        hub.registry.audit(
            at=hub.wall(),
            actor=device_id,
            role=None,
            device=device_id,
            action="connect",
            outcome="replaced",
            detail=f"{old.remote} {why}",
        )
        await old.close(REPLACED, why)
        with trio.move_on_after(REPLACE_WAIT):
            await old.gone.wait()  # its session has ended and it left hub.links
        if hub.links.get(device_id) is old:
            log.warning("%s: the old connection from %s did not end; taking its place", device_id, old.remote)
            return


def _online(hub: Any, link: DeviceLink, conn: Any, ident: Any) -> None:
    """The device is the hub's now: table, registry presence, federation, renewal."""
    device_id = link.device_id
    hub.links[device_id] = link
    hub.registry.online(
        device_id,
        at=hub.wall(),
        remote=conn.remote,
        fingerprint=getattr(ident, "fingerprint", None),
        cert_serial=ident.serial if ident is not None else None,
        cert_not_after=ident.not_after.timestamp() if ident is not None else None,
        security_profile=link.security_profile,
    )
    log.info("%s: online from %s (security profile %d)", device_id, conn.remote, link.security_profile)
    if hub.peers is not None:
        hub.peers.device_online(device_id, hub.registry.device(device_id))
    if hub.signer is not None:
        hub.nursery.start_soon(hub.signer.seen, hub, device_id, ident)


def send_away(hub: Any, link: DeviceLink, why: str) -> None:
    """Close a device the registry no longer admits (blocked, removed), once:
    audited and logged; its messages until then are refused as before."""
    if link in hub.sending_away or hub.links.get(link.device_id) is not link:
        return
    hub.sending_away.add(link)
    log.warning("%s: closing its connection from %s: %s", link.device_id, link.remote, why)
    hub.registry.audit(
        at=hub.wall(),
        actor=link.device_id,
        role=None,
        device=link.device_id,
        action="connect",
        outcome="closed",
        detail=why,
    )

    async def close() -> None:
        try:
            await link.close(SENT_AWAY_CODE, why[:MAX_REASON])
        finally:
            hub.sending_away.discard(link)

    hub.nursery.start_soon(close)


async def sweep_sent_away(hub: Any, period: float) -> None:
    """Devices blocked while connected and silent: closed within ``period``
    (one indexed query per period, and none while no device is connected)."""
    while True:
        await trio.sleep(period)
        if not hub.links:
            continue
        try:
            blocked = hub.registry.blocked_ids()
        except WsctlError as exc:
            log.warning("blocked devices not checked this time: %s", exc.message)
            continue
        for device_id in blocked & hub.links.keys():
            send_away(hub, hub.links[device_id], f"{device_id} {SENT_AWAY['blocked']}")


def _close_text(link: DeviceLink) -> str:
    closed = getattr(link.conn, "closed", None)
    if closed is None:
        return "connection lost"
    code, why = closed
    return f"closed {code}" + (f" {why}" if why else "")


def _has_boot(profile: Any) -> bool:
    return any(e.name == "BootNotification" for e in profile.events.values())


def _answer(hub: Any, link: DeviceLink, central: Any, item: DeviceRequest | Malformed) -> str | None:
    reg = hub.registry
    device_id = link.device_id
    standing = reg.standing(device_id)
    status = standing.status if standing is not None else "unknown"
    if status in SENT_AWAY:
        send_away(hub, link, f"{device_id} {SENT_AWAY[status]}")
    if hub.signer is not None and isinstance(item, DeviceRequest) and item.name == "SignCertificate":
        if status == "approved":
            return str(hub.signer.answer(hub, link, item))
        # a device nobody approved gets no certificate of the plant CA: the
        # central side refuses its SignCertificate as it does its other calls
        reg.audit(
            at=hub.wall(),
            actor=device_id,
            role=None,
            device=device_id,
            action="sign-certificate",
            outcome="refused",
            detail=f"{device_id} is {status}, not approved",
        )
        if central is None:
            return None
    if central is None:
        return item.answer if isinstance(item, DeviceRequest) else None
    from wsctl.core.hub.central import CentralContext

    now = hub.wall()
    ctx = CentralContext(
        device_id=device_id,
        status=status,
        now=iso(now),
        id_tag_status=reg.id_tag_status,
        start_transaction=lambda f: reg.start_transaction(
            device_id,
            at=now,
            id_tag=f.get("id_tag"),
            connector_id=f.get("connector_id"),
            meter_start=f.get("meter_start"),
            station_started=f.get("timestamp"),
        ),
        stop_transaction=lambda f: reg.stop_transaction(
            device_id, f.get("transaction_id"), at=now, meter_stop=f.get("meter_stop"), reason=f.get("reason")
        ),
    )
    answer = central.answer(item, ctx) if isinstance(item, DeviceRequest) else central.malformed(item, ctx)
    hub.seen(device_id, now)
    if answer is None:
        return None
    if answer.error:
        log.warning("%s: answered with an error: %s", device_id, answer.error)
    try:
        for effect in answer.effects:
            _apply(hub, link, effect, now)
    except WsctlError as exc:
        # e.g. the device was removed from the registry while connected: the
        # device still gets its answer; what could not be kept is logged
        log.warning("%s: not recorded in the registry: %s", device_id, exc.message)
    return answer.frame


def _apply(hub: Any, link: DeviceLink, effect: Any, now: float) -> None:
    reg = hub.registry
    fields = dict(effect.fields)
    if effect.kind == "boot":
        reg.boot(
            link.device_id,
            at=now,
            vendor=fields.get("vendor"),
            model=fields.get("model"),
            firmware=fields.get("firmware"),
            serial=fields.get("serial"),
        )
        link.boot_status = fields.get("boot_status")
        if link.boot_status in (None, "Accepted"):
            link.booted.set()
        return
    if effect.kind == "transaction" and fields.get("assigned_by") == "station":
        _station_transaction(reg, link.device_id, fields, now)
    # status and meter values reach the watching operators (and the recording);
    # the audit keeps what an operator may have to answer for later
    if effect.kind == "security_event" and hub.signer is not None:
        hub.signer.security_event(hub, link.device_id, fields.get("type"))
    if effect.kind in ("security_event", "transaction", "authorize"):
        reg.audit(
            at=now,
            actor=link.device_id,
            role=None,
            device=link.device_id,
            action=effect.kind,
            params=_audited(fields),
            outcome=str(fields.get("status") or fields.get("event") or fields.get("type") or "reported"),
        )


def _audited(fields: dict[str, Any]) -> dict[str, Any]:
    """What the audit keeps of an effect: telemetry arrays (meter values a
    TransactionEvent carries) as their length — the watchers and the
    recording have them whole; the registry caps the rest (MAX_AUDIT_PARAMS)."""
    if not any(isinstance(fields.get(k), list) for k in TELEMETRY_FIELDS):
        return fields
    return {k: (len(v) if k in TELEMETRY_FIELDS and isinstance(v, list) else v) for k, v in fields.items()}


def _station_transaction(reg: Any, device_id: str, fields: dict[str, Any], now: float) -> None:
    """OCPP 2.0.1: the station numbers its transactions; the registry keeps
    them beside the hub's own ids (Started opens one, Ended closes it)."""
    name = fields.get("transaction_id")
    if not isinstance(name, str) or not name:
        return
    known = reg.find_transaction(device_id, name)
    if known is None and fields.get("event") in ("started", "updated"):
        reg.start_transaction(
            device_id,
            at=now,
            id_tag=fields.get("id_tag"),
            connector_id=fields.get("connector_id"),
            meter_start=None,
            station_transaction_id=name,
        )
    elif known is not None and fields.get("event") == "ended":
        reg.stop_transaction(device_id, known, at=now, meter_stop=None, reason=fields.get("stopped_reason"))


async def _deliver_queued(hub: Any, link: DeviceLink) -> None:
    reg = hub.registry
    with trio.move_on_after(BOOT_WAIT):
        await link.booted.wait()
    for queued in reg.due(link.device_id, at=hub.wall()):
        if not hub.claim_queued(queued.id):
            continue  # forwarded to another hub the device is on (federation)
        try:
            if not await _deliver_one(hub, link, queued):
                return
        finally:
            hub.release_queued(queued.id)


async def _deliver_one(hub: Any, link: DeviceLink, queued: Any) -> bool:
    """False when the device went away (no use trying the next one)."""
    reg = hub.registry
    if all(q.id != queued.id for q in reg.due(link.device_id, at=hub.wall())):
        return True  # finished meanwhile (delivered elsewhere, or expired)
    command = link.profile.command(queued.command)
    if command is None:
        reg.finish(queued.id, at=hub.wall(), outcome="failed", result=f"no command {queued.command}")
        hub.queued_done(queued.id, refused("device", f"{link.device_id}'s profile has no command {queued.command}"))
        return True
    from wsctl.net.hub.calls import over_plain_ws

    plain = over_plain_ws(link.security_profile, command, queued.params)
    if plain is not None:
        reg.finish(queued.id, at=hub.wall(), outcome="failed", result=plain)
        reg.audit(
            at=hub.wall(),
            actor=queued.operator,
            role=queued.role,
            device=link.device_id,
            action=queued.command,
            params=queued.params,
            outcome="refused",
            detail=f"queued command {queued.id} not delivered: {plain}",
        )
        hub.queued_done(queued.id, refused("device", plain))
        return True
    try:
        reply = await link.call(command, queued.params, timeout=command.timeout)
    except (Timeout, ConnectionClosed, WsctlError) as exc:
        reg.finish(queued.id, at=hub.wall(), outcome="failed", result=str(exc))
        return not isinstance(exc, ConnectionClosed)
    outcome = "delivered" if reply.ok else "failed"
    reg.finish(
        queued.id,
        at=hub.wall(),
        outcome=outcome,
        result=reply.payload if reply.error is None else reply.error.message,
    )
    reg.audit(
        at=hub.wall(),
        actor=queued.operator,
        role=queued.role,
        device=link.device_id,
        action=queued.command,
        params=queued.params,
        outcome=outcome,
        detail=f"queued command {queued.id} delivered",
    )
    hub.queued_done(queued.id, reply)
    return True


class _recording:
    """The device connection, recorded to ``--record-dir`` when the hub records."""

    __slots__ = ("hub", "conn", "device_id", "profile", "recorder", "device")

    def __init__(self, hub: Any, conn: Any, device_id: str, profile: Any) -> None:
        self.hub, self.conn, self.device_id, self.profile = hub, conn, device_id, profile
        self.recorder: Any = None
        self.device: Any = None

    def __enter__(self) -> Any:
        if not self.hub.record_dir:
            return self.conn
        from wsctl.net.recorder import Recorder, RecordingDevice

        stamp = iso(self.hub.wall()).replace(":", "").replace("-", "")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.device_id)
        path = os.path.join(self.hub.record_dir, f"{safe}-{stamp}-{id(self.conn) & 0xFFFF:04x}.jsonl")
        ident = self.conn.identity
        self.recorder = Recorder(
            path,
            url=f"hub:{self.conn.path}",
            subprotocol=self.conn.subprotocol,
            profile=self.profile.id,
            source="hub",
            max_size=self.hub.record_max_size,
        )
        self.recorder.create()
        self.recorder.note_device(fingerprint=ident.fingerprint if ident is not None else None)
        conn_no = self.recorder.new_conn()
        info = {
            "url": self.conn.path,
            "subprotocol": self.conn.subprotocol,
            "peer": {"remote": self.conn.remote, "device": self.device_id},
        }
        if ident is not None:
            info["fingerprint"] = ident.fingerprint
        self.recorder.record("open", conn=conn_no, info=info)
        self.device = RecordingDevice(self.conn, self.recorder, conn_no)
        return self.device

    def __exit__(self, *exc: Any) -> None:
        if self.recorder is None:
            return
        try:
            self.device.__exit__(*exc)
        finally:
            self.recorder.close()
            self.hub.recorded_bytes += self.recorder.bytes
