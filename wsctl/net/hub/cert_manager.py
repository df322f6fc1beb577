"""Certificate renewal over OCPP, at the hub (`wsctl hub --sign-certificates`).

The station sends SignCertificate (after an operator's renew_certificate /
TriggerMessage SignChargingStationCertificate, or on its own before its
certificate expires).  The hub checks the CSR as `wsctl certs sign` would
(`wsctl.pki.station`), answers Accepted or Rejected at once, then — in a task
of its own, because signing takes the store's lock and the CA key — signs it
with the plant CA and sends CertificateSigned with the chain through the
station's call slot.  The station then reconnects with the new certificate:
when the hub sees that certificate at admission, the old one is revoked and
the CRL re-issued.  A station that refuses the chain says so in its answer
or in a SecurityEventNotification; both are audited.  Certificate operations
never run over security profile 1 (plain ws).

Renewals waiting for the station's reconnection are kept in memory and in the
audit log; after a hub restart the old certificate stays valid (superseded in
the store) until revoked by hand (`wsctl certs revoke SERIAL`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio

from wsctl.core.errors import InvalidInput, WsctlError
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


@dataclass
class Renewal:
    old_serial: int | None
    old_fingerprint: str | None
    new_serial: int
    new_fingerprint: str


class CertificateSigner:
    def __init__(self, store: Any, password: bytes, *, days: int = 365) -> None:
        self.store = store
        self.password = password
        self.days = days
        self.pending: dict[str, Renewal] = {}

    # -- SignCertificate -------------------------------------------------------
    def answer(self, hub: Any, link: Any, request: DeviceRequest) -> str:
        """The CALLRESULT for the station's SignCertificate; signing follows in a task."""
        payload = request.payload if isinstance(request.payload, dict) else {}
        csr = payload.get("csr")
        why = self._refusal(link, payload, csr)
        status = "Rejected" if why else "Accepted"
        self._audit(hub, link.device_id, "sign-certificate", status.lower(), why)
        if why is None:
            hub.nursery.start_soon(self._sign_and_send, hub, link, csr, payload.get("certificateType"))
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
        try:
            check_station_csr(csr, link.device_id)
        except InvalidInput as exc:
            return exc.message
        return None

    async def _sign_and_send(self, hub: Any, link: Any, csr: str, certificate_type: str | None) -> None:
        from wsctl.pki.station import sign_station_csr

        device_id = link.device_id
        old = getattr(link.conn, "identity", None)
        try:
            entry = await trio.to_thread.run_sync(
                lambda: sign_station_csr(self.store, csr, station_id=device_id, password=self.password, days=self.days)
            )
            chain = entry.paths.chain.read_text()
        except (WsctlError, OSError) as exc:
            self._audit(hub, device_id, "certificate-signed", "failed", f"signing failed: {exc}")
            return
        command = link.profile.command("CertificateSigned")
        if command is None:
            self._audit(hub, device_id, "certificate-signed", "failed", "the profile has no CertificateSigned")
            return
        params: dict[str, Any] = {"certificate_chain": chain}
        if certificate_type is not None and command.param("certificate_type") is not None:
            params["certificate_type"] = certificate_type
        renewal = Renewal(
            getattr(old, "serial", None), getattr(old, "fingerprint", None), entry.serial, entry.fingerprint
        )
        # pending before the answer: a station that installs the chain and reconnects at
        # once may never send it, and is still to be seen with the new certificate
        self.pending[device_id] = renewal
        try:
            reply = await link.call(command, params, timeout=command.timeout)
        except WsctlError as exc:
            detail = f"serial {entry.serial:x}: {exc}; the old one is revoked if the station comes back with it"
            self._audit(hub, device_id, "certificate-signed", "failed", detail)
            return
        status = reply.payload.get("status") if isinstance(reply.payload, dict) else None
        self._audit(hub, device_id, "certificate-signed", str(status or "error").lower(), f"serial {entry.serial:x}")
        if status != "Accepted" and self.pending.get(device_id) is renewal:
            del self.pending[device_id]

    # -- afterwards ------------------------------------------------------------------
    async def seen(self, hub: Any, device_id: str, identity: Any) -> None:
        """At admission: a station back with its new certificate has the old one revoked."""
        renewal = self.pending.get(device_id)
        if renewal is None or identity is None or identity.fingerprint != renewal.new_fingerprint:
            return
        del self.pending[device_id]
        detail = f"seen with serial {renewal.new_serial:x}"
        old_serial = renewal.old_serial
        if old_serial is not None:
            from wsctl.pki.index import format_serial

            try:
                await trio.to_thread.run_sync(
                    lambda: self.store.revoke(format_serial(old_serial), reason="superseded", password=self.password)
                )
                detail += f"; serial {old_serial:x} revoked, CRL re-issued"
            except WsctlError as exc:
                detail += f"; revoking serial {old_serial:x} failed: {exc}"
        self._audit(hub, device_id, "certificate-renewed", "ok", detail)

    def security_event(self, hub: Any, device_id: str, event_type: Any) -> None:
        if event_type in REFUSED_EVENTS and device_id in self.pending:
            renewal = self.pending.pop(device_id)
            self._audit(
                hub, device_id, "certificate-renewed", "refused", f"{event_type}: serial {renewal.new_serial:x}"
            )

    @staticmethod
    def _audit(hub: Any, device_id: str, action: str, outcome: str, detail: str | None) -> None:
        log.info("%s: %s %s%s", device_id, action, outcome, f": {detail}" if detail else "")
        hub.registry.audit(
            at=hub.wall(), actor="hub", role=None, device=device_id, action=action, outcome=outcome, detail=detail
        )
