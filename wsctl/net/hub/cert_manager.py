"""Certificate renewal over OCPP, at the hub (`wsctl hub --sign-certificates`).

The station sends SignCertificate (after an operator's renew_certificate /
TriggerMessage SignChargingStationCertificate, or on its own before its
certificate expires).  The hub checks the CSR as `wsctl certs sign` would
(`wsctl.pki.station`), answers Accepted or Rejected at once, then — in a task
of its own, because signing takes the store's lock and the CA key — signs it
with the plant CA and sends CertificateSigned with the chain through the
station's call slot.  The station then reconnects with the new certificate:
when the hub sees that certificate at admission, the certificates it replaced
are revoked and the CRL re-issued.  A station that refuses the chain says so in
its answer or in a SecurityEventNotification; both are audited.  Certificate
operations never run over security profile 1 (plain ws).

Each renewal is a row of the registry (`wsctl.registry.renewals`, its states
listed there), so a restarted hub resumes: a station that comes back with the
certificate signed before the restart still has its old one revoked, and a
revocation the restart interrupted is done at start.  Revocations are batched:
the stations that come back while a CRL is being written share the next one
(a CRL per revocation made a storm of N renewals cost N CRLs of up to N
serials each); a renewal is recorded as done only once its CRL is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from wsctl.core.errors import InvalidInput, StoreError, WsctlError
from wsctl.core.profile.events import DeviceRequest
from wsctl.core.profile.template import dumps, render

log = logging.getLogger("wsctl.net.hub")

#: commands that carry or touch certificates: never over plain ws (security profile 1)
CERTIFICATE_COMMANDS = frozenset(
    {"CertificateSigned", "InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate"}
)
#: security events that mean a station refused what it was given
REFUSED_EVENTS = frozenset(
    {"InvalidChargePointCertificate", "InvalidChargingStationCertificate", "InvalidCentralSystemCertificate"}
)
#: renewals whose chain went out: the station may come back with the new certificate
SENT = ("signed", "accepted")
#: at most this many CSRs in one store operation (each is ~2 ms of signing and writing
#: under the store's lock; a CRL written meanwhile waits for the batch)
SIGNING_BATCH = 200
#: seconds between two CSRs of one station that are signed: each signed one is a
#: valid certificate until the station comes back with a newer one, so a station
#: asking over and over must not collect them (OCPP's CertSigningWaitMinimum
#: retries after a Rejected)
MIN_SIGNING_INTERVAL = 300.0


class _RevocationBatch:
    """Stations whose replaced certificates go into the same CRL."""

    def __init__(self) -> None:
        self.stations: set[str] = set()
        self.done = trio.Event()
        self.revoked: dict[str, list[int]] = {}
        self.error: Exception | None = None


class _PendingSigning:
    """One station's CSR waiting for the next signing batch."""

    def __init__(self, device_id: str, csr: str) -> None:
        self.device_id = device_id
        self.csr = csr
        self.done = trio.Event()
        #: its station's session ended while it waited: not signed (nobody to send it to)
        self.abandoned = False
        self.result: tuple[Any, str] | None = None
        self.error: Exception | None = None


class CertificateSigner:
    """``revocations_per_crl``: at most this many stations' revocations in one CRL
    (None: all that came back meanwhile; 1 is the unbatched way, for comparison in
    bench/bench_renewal.py)."""

    def __init__(self, store: Any, password: bytes, *, days: int = 365, revocations_per_crl: int | None = None) -> None:
        self.store = store
        self.password = password
        self.days = days
        self.revocations_per_crl = revocations_per_crl
        #: the batch still open to stations coming back; its CRL is written next
        self._next_batch: _RevocationBatch | None = None
        #: one signing at a time and one CRL at a time, queued here: threads queued on the
        #: store's own lock gave up after its 60 s when a storm of renewals came in at
        #: once.  Two locks, so revocations do not wait behind every queued signing.
        self._signing = trio.Lock()
        self._writing_crl = trio.Lock()
        #: CSRs accepted while a batch was being signed: they make up the next batch
        self._to_sign: list[_PendingSigning] = []
        self._draining = False
        #: devices with a CSR trigger on its way -> the renewal a CSR started meanwhile
        self._triggers: dict[str, int | None] = {}
        #: renewals whose revocation is under way (a station may connect twice meanwhile)
        self._finishing: set[int] = set()
        #: device -> when (trio clock) its last CSR was accepted for signing
        self._accepted_at: dict[str, float] = {}
        self.min_signing_interval = MIN_SIGNING_INTERVAL

    # -- the hub's start ---------------------------------------------------------------
    async def resume(self, hub: Any) -> None:
        """What a previous run left: a CSR it accepted but did not sign is lost (the
        station asks again when triggered again); a revocation it did not finish is done
        now.  Renewals whose chain went out wait for the station, as before."""
        renewals = _registry(hub, "renewals", open_only=True, limit=1_000_000) or []
        for renewal in renewals:
            if renewal.state == "csr-received":
                detail = "the hub restarted before it signed the CSR; renew again"
                _registry(hub, "advance_renewal", renewal.id, at=hub.wall(), state="failed", detail=detail)
                self._audit(hub, renewal.device, "certificate-signed", "failed", detail)
            elif renewal.state == "seen":
                hub.nursery.start_soon(self._finish, hub, renewal)
        if renewals:
            log.info("certificate renewals under way at start: %d", len(renewals))

    # -- the trigger ---------------------------------------------------------------------
    def triggering(self, device_id: str) -> None:
        """An operator's CSR trigger is on its way to the station: a CSR that arrives before
        the trigger's answer is processed is the trigger's."""
        self._triggers.setdefault(device_id, None)

    def triggered(self, hub: Any, device_id: str, operator: str, payload: Any) -> None:
        """The trigger's answer (None: no answer); accepted, it started a renewal."""
        early = self._triggers.pop(device_id, None)
        if not (isinstance(payload, dict) and payload.get("status") == "Accepted"):
            return
        if early is not None:
            _registry(hub, "renewal_requested_by", early, operator)
            return
        _registry(hub, "start_renewal", device_id, at=hub.wall(), state="requested", requested_by=operator)

    # -- SignCertificate -------------------------------------------------------------------
    def answer(self, hub: Any, link: Any, request: DeviceRequest) -> str:
        """The CALLRESULT for the station's SignCertificate; signing follows in a task."""
        payload = request.payload if isinstance(request.payload, dict) else {}
        csr = payload.get("csr")
        why = self._refusal(link, payload, csr)
        status = "Rejected" if why else "Accepted"
        renewal_id = self._csr_received(hub, link, why)
        self._audit(hub, link.device_id, "sign-certificate", status.lower(), why)
        if why is None:
            self._accepted_at[link.device_id] = trio.current_time()
            hub.nursery.start_soon(self._sign_and_send, hub, link, csr, payload.get("certificateType"), renewal_id)
        framing = link.profile.framing
        return dumps(render(framing.result, {"id": request.id, "payload": {"status": status}}))

    def _refusal(self, link: Any, payload: dict[str, Any], csr: Any) -> str | None:
        from wsctl.pki.station import check_station_csr

        if link.security_profile < 2:
            return "certificate operations are refused over security profile 1 (plain ws)"
        if payload.get("certificateType") not in (None, "ChargingStationCertificate"):
            return f"certificateType {payload.get('certificateType')!r}: this hub signs station certificates only"
        if not isinstance(csr, str):
            return "SignCertificate without a csr"
        if link.profile.command("CertificateSigned") is None:
            return f"profile {link.profile.id} has no CertificateSigned to send the chain with"
        # before the CSR is parsed and its signature checked: the limit is for stations that ask over and over
        last = self._accepted_at.get(link.device_id)
        ago = trio.current_time() - last if last is not None else None
        if ago is not None and ago < self.min_signing_interval:
            return f"a CSR of {link.device_id} was accepted {ago:.0f} s ago: one per {self.min_signing_interval:g} s"
        try:
            check_station_csr(csr, link.device_id)
        except InvalidInput as exc:
            return exc.message
        return None

    def _csr_received(self, hub: Any, link: Any, why: str | None) -> int | None:
        """The renewal this CSR belongs to: the one its trigger started, or a new one (a
        station asking on its own)."""
        old = getattr(link.conn, "identity", None)
        fields: dict[str, Any] = {
            "old_serial": getattr(old, "serial", None),
            "old_fingerprint": getattr(old, "fingerprint", None),
        }
        state, detail = ("failed", f"CSR refused: {why}") if why else ("csr-received", None)
        now = hub.wall()
        current = _registry(hub, "open_renewal", link.device_id)
        if current is not None and current.state == "requested":
            _registry(hub, "advance_renewal", current.id, at=now, state=state, detail=detail, **fields)
            return int(current.id)
        renewal_id = _registry(hub, "start_renewal", link.device_id, at=now, state=state, detail=detail, **fields)
        if link.device_id in self._triggers:
            self._triggers[link.device_id] = renewal_id
        return renewal_id

    async def _sign_and_send(
        self, hub: Any, link: Any, csr: str, certificate_type: str | None, renewal_id: int | None
    ) -> None:
        device_id = link.device_id
        try:
            entry, chain = await self._signed(hub, device_id, csr)
        except (WsctlError, OSError) as exc:
            self._advance(hub, renewal_id, "failed", f"signing failed: {exc}")
            self._audit(hub, device_id, "certificate-signed", "failed", f"signing failed: {exc}")
            return
        command = link.profile.command("CertificateSigned")
        params: dict[str, Any] = {"certificate_chain": chain}
        if certificate_type is not None and command.param("certificate_type") is not None:
            params["certificate_type"] = certificate_type
        # 'signed' before the call: a station that installs the chain and reconnects at
        # once may never answer, and is still to be seen with the new certificate
        signed = f"serial {entry.serial:x}"
        self._advance(hub, renewal_id, "signed", signed, new_serial=entry.serial, new_fingerprint=entry.fingerprint)
        try:
            reply = await link.call(command, params, timeout=command.timeout)
        except WsctlError as exc:
            detail = f"{signed}: {exc}; the old one is revoked if the station comes back with it"
            # not "failed": a station that installed the chain and switched at once still renews
            self._audit(hub, device_id, "certificate-signed", "unanswered", detail)
            return
        status = reply.payload.get("status") if isinstance(reply.payload, dict) else None
        self._audit(hub, device_id, "certificate-signed", str(status or "error").lower(), signed)
        if status == "Accepted":
            self._advance(hub, renewal_id, "accepted", f"{signed} accepted", only_from=("signed",))
        else:
            self._advance(hub, renewal_id, "rejected", f"{signed}: the station answered {status}", only_from=SENT)

    async def _signed(self, hub: Any, device_id: str, csr: str) -> tuple[Any, str]:
        """(the store entry, the chain) once this CSR's batch is signed.

        The CSRs that arrive while a batch is signed wait for the next one, which
        is signed in one store operation (`sign_station_csrs`): in a storm the
        lock, the repair scan and the index rewrite are paid per batch, not per
        station (docs/performance.md: 1,000 renewals 225 s one by one, 54 s batched)."""
        pending = _PendingSigning(device_id, csr)
        self._to_sign.append(pending)
        if not self._draining:
            self._draining = True
            hub.nursery.start_soon(self._drain)
        try:
            await pending.done.wait()
        finally:
            pending.abandoned = not pending.done.is_set()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    async def _drain(self) -> None:
        try:
            while self._to_sign:
                async with self._signing:
                    batch = [p for p in self._to_sign[:SIGNING_BATCH] if not p.abandoned]
                    del self._to_sign[:SIGNING_BATCH]
                    if batch:
                        await self._sign_batch(batch)
        finally:
            self._draining = False

    async def _sign_batch(self, batch: list[_PendingSigning]) -> None:
        from wsctl.pki.station import sign_station_csrs

        requests = [(p.device_id, p.csr) for p in batch]

        def sign() -> list[Any]:
            results = sign_station_csrs(self.store, requests, password=self.password, days=self.days)
            return [r if isinstance(r, Exception) else _with_chain(r) for r in results]

        try:
            results = await trio.to_thread.run_sync(sign)
        except (WsctlError, OSError) as exc:
            results = [exc] * len(batch)
        except Exception as exc:  # noqa: BLE001 - a fault in signing must not take the hub down
            log.exception("signing %d station CSRs failed", len(batch))
            results = [StoreError(f"signing failed: {type(exc).__name__}: {exc}")] * len(batch)
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                pending.error = result
            else:
                pending.result = result
            pending.done.set()

    # -- afterwards ------------------------------------------------------------------------
    async def seen(self, hub: Any, device_id: str, identity: Any) -> None:
        """At admission: a station back with its new certificate has the old ones revoked."""
        if identity is None:
            return
        renewal = _registry(hub, "open_renewal", device_id)
        if renewal is None or renewal.state not in (*SENT, "seen"):
            return
        if identity.fingerprint != renewal.new_fingerprint:
            return
        if renewal.state != "seen":
            detail = f"seen with serial {identity.serial:x}"
            if not self._advance(hub, renewal.id, "seen", detail, only_from=SENT):
                return  # another admission of the same station took it
        await self._finish(hub, renewal)

    async def _finish(self, hub: Any, renewal: Any) -> None:
        """Revoke what the renewal replaced (batched into the next CRL), then record it done."""
        if renewal.id in self._finishing:  # the station connected again meanwhile
            return
        self._finishing.add(renewal.id)
        try:
            await self._revoke_and_record(hub, renewal)
        finally:
            self._finishing.discard(renewal.id)

    async def _revoke_and_record(self, hub: Any, renewal: Any) -> None:
        device_id = renewal.device
        detail = f"seen with serial {renewal.new_serial}"
        try:
            revoked = await self._revoke_replaced(hub, device_id)
        except (WsctlError, OSError) as exc:
            # stays 'seen': retried when the station connects again, or at the hub's next start
            self._audit(
                hub, device_id, "certificate-renewed", "failed", f"{detail}; revoking the old one failed: {exc}"
            )
            return
        if revoked:
            detail += f"; serial {', '.join(f'{s:x}' for s in revoked)} revoked, CRL re-issued"
        if self._advance(hub, renewal.id, "renewed", detail, only_from=("seen",), old_revoked=hub.wall()):
            self._audit(hub, device_id, "certificate-renewed", "ok", detail)

    async def _revoke_replaced(self, hub: Any, device_id: str) -> list[int]:
        batch = self._next_batch
        if batch is None or (self.revocations_per_crl and len(batch.stations) >= self.revocations_per_crl):
            batch = self._next_batch = _RevocationBatch()
            hub.nursery.start_soon(self._write_batch, batch)
        batch.stations.add(device_id)
        await batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.revoked.get(device_id, [])

    async def _write_batch(self, batch: _RevocationBatch) -> None:
        from wsctl.pki.station import revoke_replaced

        async with self._writing_crl:
            # closed from here on: a station coming back now waits for the next CRL,
            # because this one may already be on its way to the disk
            if self._next_batch is batch:
                self._next_batch = None
            stations = sorted(batch.stations)
            try:
                batch.revoked = await trio.to_thread.run_sync(
                    lambda: revoke_replaced(self.store, stations, password=self.password)
                )
            except (WsctlError, OSError) as exc:
                batch.error = exc
            finally:
                batch.done.set()

    def security_event(self, hub: Any, device_id: str, event_type: Any) -> None:
        if event_type not in REFUSED_EVENTS:
            return
        renewal = _registry(hub, "open_renewal", device_id)
        if renewal is None or renewal.state not in SENT:
            return
        detail = f"{event_type}: serial {renewal.new_serial}"
        if self._advance(hub, renewal.id, "failed", detail, only_from=SENT):
            self._audit(hub, device_id, "certificate-renewed", "refused", detail)

    # -- records -----------------------------------------------------------------------------
    @staticmethod
    def _advance(hub: Any, renewal_id: int | None, state: str, detail: str, **kwargs: Any) -> bool:
        if renewal_id is None:  # the registry refused to record its start: nothing to move on
            return True
        return bool(_registry(hub, "advance_renewal", renewal_id, at=hub.wall(), state=state, detail=detail, **kwargs))

    @staticmethod
    def _audit(hub: Any, device_id: str, action: str, outcome: str, detail: str | None) -> None:
        log.info("%s: %s %s%s", device_id, action, outcome, f": {detail}" if detail else "")
        _registry(
            hub, "audit", at=hub.wall(), actor="hub", role=None, device=device_id, action=action, outcome=outcome,
            detail=detail,
        )  # fmt: skip


def _registry(hub: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """A registry call whose failure (busy, removed device) is logged, not raised into
    the station's session: the station still gets its answer."""
    call: Callable[..., Any] = getattr(hub.registry, method)
    try:
        return call(*args, **kwargs)
    except WsctlError as exc:
        log.warning("certificate renewal not recorded in the registry (%s): %s", method, exc.message)
        return None


def _with_chain(entry: Any) -> tuple[Any, str] | StoreError:
    """(entry, the chain to send): read after the store's lock is released, so a
    `wsctl certs renew` of the same name meanwhile could have replaced it — then
    the station would be sent a certificate for another key."""
    from cryptography import x509

    chain = entry.paths.chain.read_text()
    if x509.load_pem_x509_certificate(chain.encode()).serial_number != entry.serial:
        return StoreError(f"the certificate of {entry.name} was replaced in the store while it was being sent")
    return entry, chain
