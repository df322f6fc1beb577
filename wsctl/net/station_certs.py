"""The simulated charging station's certificates: what it dials with, the
roots it trusts, and OCPP certificate management on its side.

`wsctl.core.sim.Sim` routes the profile's `[sim.certificates]` commands here
(it holds no key).  On a renewal trigger the station makes a new P-256 key and
a CSR (CN = its id); on CertificateSigned it checks the chain
(`wsctl.pki.station_side`) against the roots it holds — the root of the CA it
was given (`--certs` / `--ca`) plus what InstallCertificate added — and answers
Accepted, then closes and dials again with the new certificate; a chain that
does not verify is Rejected and reported with SecurityEventNotification.  If the
new certificate fails at that reconnection (a TLS alert, a refused upgrade) the
station goes back to the old one and reports that too (OCPP 2.0.1 use case A02
and the 1.6 security whitepaper: a station keeps its old certificate until the
new one has worked).

Certificates are kept in memory: Python's ssl module loads a certificate and
key only from files, so each connection's context is built from a private
temporary directory (the key in it encrypted with a one-off passphrase) that
is removed at once.  With ``keep_dir`` (the directory of the certificate it
dialed with, when writable) the new chain and key are also written there, next
to the old ones and never over them: ``chain.SERIAL.pem``, ``key.SERIAL.pem``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import ssl
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding

from wsctl.core.errors import ConnectionClosed, HandshakeRejected, InvalidInput, TLSError
from wsctl.core.profile.model import SimCertificates

log = logging.getLogger("wsctl.net.simulate")


@dataclass(frozen=True)
class _Version:
    """What differs between the 1.6 security extension and 2.0.1 on the station's side."""

    invalid_certificate: str
    central_root: str
    root_types: tuple[str, ...]


VERSIONS = {
    "1.6": _Version(
        "InvalidChargePointCertificate",
        "CentralSystemRootCertificate",
        ("CentralSystemRootCertificate", "ManufacturerRootCertificate"),
    ),
    "2.0.1": _Version(
        "InvalidChargingStationCertificate",
        "CSMSRootCertificate",
        ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "ManufacturerRootCertificate"),
    ),
}

#: techInfo of SecurityEventNotification: CiString255
TECH_INFO_LIMIT = 255


@dataclass
class Credentials:
    chain: list[x509.Certificate]
    key: Any

    @property
    def serial(self) -> int:
        return self.chain[0].serial_number

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(Encoding.PEM) for c in self.chain)


@dataclass
class Answer:
    """The station's answer to a certificate command, and what follows it."""

    payload: dict[str, Any]
    #: the audit record's result: ok | rejected | error
    result: str = "ok"
    detail: str | None = None
    #: SecurityEventNotification payloads to send after the answer
    events: list[dict[str, Any]] = field(default_factory=list)
    #: close and dial again with the new certificate
    reconnect: bool = False


def _iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    """A file's bytes; its absence in the words wsctl.net.tls uses."""
    if not Path(path).is_file():
        raise InvalidInput(f"{what} not found: {path}")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _read_certificates(paths: Sequence[str | os.PathLike[str]], what: str) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for path in paths:
        try:
            out += x509.load_pem_x509_certificates(_read(path, what))
        except ValueError as exc:
            raise InvalidInput(f"cannot load {what} {path}: {exc}") from None
    return out


def renewed_beside(chain_file: Path, key_file: Path) -> tuple[Path, Path] | None:
    """The newest ``chain.SERIAL.pem`` / ``key.SERIAL.pem`` a renewal wrote next to
    ``chain_file``, if it is newer than that certificate (or ``key_file`` is gone:
    in a store shared with the hub, the hub's signing replaced ``chain.pem`` and
    removed the old key); else None."""
    newest: tuple[x509.Certificate, Path, Path] | None = None
    for chain in chain_file.parent.glob("chain.*.pem"):
        key = chain.with_name(f"key.{chain.name[len('chain.') : -len('.pem')]}.pem")
        try:
            leaf = x509.load_pem_x509_certificate(chain.read_bytes())
        except (OSError, ValueError):
            continue
        if key.is_file() and (newest is None or leaf.not_valid_before_utc > newest[0].not_valid_before_utc):
            newest = (leaf, chain, key)
    if newest is None:
        return None
    try:
        current = x509.load_pem_x509_certificate(chain_file.read_bytes())
    except (OSError, ValueError):
        current = None
    if current is None or not key_file.is_file() or newest[0].not_valid_before_utc > current.not_valid_before_utc:
        return newest[1], newest[2]
    return None


class StationCertificates:
    def __init__(
        self,
        spec: SimCertificates,
        *,
        station_id: str,
        clock: Callable[[], float],
        report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.spec = spec
        self.version = VERSIONS[spec.ocpp]
        self.station_id = station_id
        self.clock = clock
        self.report = report
        #: certificateType -> installed roots (the CA's root counts as the central system's)
        self.roots: dict[str, list[x509.Certificate]] = {t: [] for t in self.version.root_types}
        #: non-root CA certificates given with the roots: they help build TLS paths, never anchor one
        self.intermediates: list[x509.Certificate] = []
        self.current: Credentials | None = None
        #: the certificate in use before the new one, until the new one has worked
        self.previous: Credentials | None = None
        self.key_password: bytes | None = None
        self.keep_dir: Path | None = None
        self._pending_key: Any = None
        self._unsent: list[dict[str, Any]] = []
        self._reconnect_now = False

    # -- what it starts with ---------------------------------------------------------
    def load(self, *, ca: Any, cert: Any, key: Any, password: str | bytes | None) -> None:
        """The CA file(s) and the certificate and key it dials with (files, read once)."""
        from wsctl.pki import keys
        from wsctl.pki.station_side import is_self_signed

        cas = [ca] if isinstance(ca, (str, os.PathLike)) else list(ca or ())
        for cert_obj in _read_certificates(cas, "CA file"):
            if is_self_signed(cert_obj):
                self._add_root(self.version.central_root, cert_obj)
            else:
                self.intermediates.append(cert_obj)
        if cert is not None:
            self.key_password = password.encode() if isinstance(password, str) else password
            chain = _read_certificates([cert], "certificate")
            key_file = key if key is not None else cert  # one PEM with both, as ssl allows
            data = _read(key_file, "private key")
            self.current = Credentials(chain, keys.load_private_key(data, self.key_password, source=key_file))

    def _add_root(self, certificate_type: str, cert: x509.Certificate) -> bool:
        held = self.roots[certificate_type]
        if any(c.fingerprint(SHA256()) == cert.fingerprint(SHA256()) for c in held):
            return False
        held.append(cert)
        return True

    def anchors(self) -> list[x509.Certificate]:
        """The roots the central system's certificate and the station's own new chain must reach."""
        return list(self.roots[self.version.central_root])

    # -- the TLS context of one connection ---------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        from wsctl.net.tls import client_context

        with tempfile.TemporaryDirectory(prefix="wsctl-station-") as tmp:
            base = Path(tmp)
            ca = None
            trusted = self.anchors() + self.intermediates
            if trusted:
                ca = base / "ca.pem"
                ca.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in trusted))
            if self.current is None:
                return client_context(ca=ca)
            from wsctl.pki import keys

            passphrase = secrets.token_urlsafe(24).encode()
            (base / "chain.pem").write_bytes(self.current.chain_pem())
            (base / "key.pem").write_bytes(keys.serialize_private_key(self.current.key, passphrase))
            return client_context(ca=ca, cert=base / "chain.pem", key=base / "key.pem", password=passphrase)

    def connect_options(self, connect: dict[str, Any]) -> dict[str, Any]:
        options = {k: v for k, v in connect.items() if k not in ("ca", "cert", "key", "password")}
        options["ssl_context"] = self.ssl_context()
        return options

    # -- reconnecting with a new certificate -----------------------------------------
    def reconnect_now(self) -> bool:
        """Once after a new certificate was accepted: dial with it without waiting."""
        now, self._reconnect_now = self._reconnect_now, False
        return now

    def opened(self) -> None:
        """The connection is open: a new certificate has worked."""
        if self.previous is not None and self.current is not None:
            self.previous = None
            self._note("in use", self.current, None)

    def fell_back(self, exc: BaseException) -> bool:
        """The connection with the new certificate failed: back to the old one (True: dial again now)."""
        refused = isinstance(exc, (TLSError, ConnectionClosed)) or (
            # 401/403: the central system refuses the certificate; a 5xx says nothing about it
            isinstance(exc, HandshakeRejected) and (exc.status is None or exc.status < 500)
        )
        if self.previous is None or not refused:
            return False
        failed, self.current, self.previous = self.current, self.previous, None
        why = f"the new certificate (serial {failed.serial:x}) failed at reconnection: {exc}" if failed else str(exc)
        log.warning("%s: %s; back to serial %x", self.station_id, why, self.current.serial if self.current else 0)
        self._note("fell back", self.current, why)
        self._unsent.append(self._security_event(why))
        return True

    def take_events(self) -> list[dict[str, Any]]:
        """SecurityEventNotification payloads waiting for a connection."""
        events, self._unsent = self._unsent, []
        return events

    # -- the operations ----------------------------------------------------------------
    def new_csr(self) -> dict[str, Any]:
        from wsctl.pki.station_side import new_key_and_csr

        self._pending_key, csr = new_key_and_csr(self.station_id)
        log.info("%s: new key, CSR sent", self.station_id)
        return {"csr": csr}

    def command(self, op: str, params: dict[str, Any]) -> Answer:
        handler = {"signed": self._signed, "install": self._install, "list": self._list, "delete": self._delete}[op]
        return handler(params)

    def _signed(self, params: dict[str, Any]) -> Answer:
        from wsctl.pki.station_side import check_signed_chain

        kind = params.get("certificate_type")
        if kind not in (None, "ChargingStationCertificate"):
            return Answer({"status": "Rejected"}, "rejected", f"{kind}: this station has no such certificate")
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        try:
            chain = check_signed_chain(
                str(params.get("certificate_chain", "")),
                anchors=self.anchors(),
                key=self._pending_key,
                station_id=self.station_id,
                now=now,
            )
        except InvalidInput as exc:
            log.warning("%s: certificate chain refused: %s", self.station_id, exc.message)
            return Answer({"status": "Rejected"}, "rejected", exc.message, [self._security_event(exc.message)])
        new = Credentials(chain, self._pending_key)
        self._pending_key = None
        written = self._write(new)
        if self.current is None:
            # security profile 2: kept (and written); it dials with its password as before
            self.current = new
            self._note("accepted", new, None, written)
            return Answer({"status": "Accepted"}, detail=f"serial {new.serial:x}, kept")
        self.previous, self.current = self.current, new
        self._reconnect_now = True
        self._note("accepted", new, None, written)
        return Answer({"status": "Accepted"}, detail=f"serial {new.serial:x}; reconnecting with it", reconnect=True)

    def _install(self, params: dict[str, Any]) -> Answer:
        from wsctl.pki.station_side import load_root

        kind = str(params.get("certificate_type"))
        if kind not in self.roots:
            return Answer({"status": "Rejected"}, "rejected", f"{kind}: not a root type this station keeps")
        try:
            root = load_root(str(params.get("certificate", "")))
        except InvalidInput as exc:
            return Answer({"status": "Rejected"}, "rejected", exc.message)
        added = self._add_root(kind, root)
        detail = f"{root.subject.rfc4514_string()} as {kind}" + ("" if added else " (already installed)")
        return Answer({"status": "Accepted"}, detail=detail)

    def _list(self, params: dict[str, Any]) -> Answer:
        from wsctl.pki.ocpp_hash import self_signed_hash_data

        asked = params.get("certificate_type")
        kinds = [asked] if isinstance(asked, str) else list(asked or self.version.root_types)
        found = [(k, self_signed_hash_data(c)) for k in kinds for c in self.roots.get(k, [])]
        if not found:
            return Answer({"status": "NotFound"}, detail="none installed")
        if self.spec.ocpp == "1.6":
            payload: dict[str, Any] = {"status": "Accepted", "certificateHashData": [h for _, h in found]}
        else:
            chains = [{"certificateType": k, "certificateHashData": h} for k, h in found]
            payload = {"status": "Accepted", "certificateHashDataChain": chains}
        return Answer(payload, detail=f"{len(found)} installed")

    def _delete(self, params: dict[str, Any]) -> Answer:
        from wsctl.pki.station_side import names_root

        wanted = params.get("certificate_hash_data")
        for kind, held in self.roots.items():
            for root in held:
                if not names_root(root, wanted):
                    continue
                if kind == self.version.central_root and len(held) == 1:
                    why = "the last central system root: the station could verify no central system after it"
                    return Answer({"status": "Failed"}, "rejected", why)
                held.remove(root)
                return Answer({"status": "Accepted"}, detail=f"{root.subject.rfc4514_string()} ({kind})")
        return Answer({"status": "NotFound"}, "rejected", "no installed certificate has that certificateHashData")

    # -- reporting and keeping -------------------------------------------------------
    def _security_event(self, why: str) -> dict[str, Any]:
        return {
            "type": self.version.invalid_certificate,
            "timestamp": _iso(self.clock()),
            "techInfo": why[:TECH_INFO_LIMIT],
        }

    def _write(self, new: Credentials) -> dict[str, str] | None:
        """The new chain and key next to the old ones (never over a file); None without a place."""
        from wsctl.pki import keys

        if self.keep_dir is None:
            return None
        files = {
            "chain": (self.keep_dir / f"chain.{new.serial:x}.pem", new.chain_pem()),
            "key": (self.keep_dir / f"key.{new.serial:x}.pem", keys.serialize_private_key(new.key, self.key_password)),
        }
        written: dict[str, str] = {}
        try:
            for what, (path, data) in files.items():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                written[what] = str(path)
        except OSError as exc:
            log.warning("%s: the new certificate is kept in memory only: %s", self.station_id, exc)
            return written or None
        return written

    def _note(self, action: str, creds: Credentials | None, why: str | None, written: Any = None) -> None:
        record: dict[str, Any] = {
            "event": "certificate",
            "time": _iso(self.clock()),
            "station": self.station_id,
            "action": action,
            "serial": f"{creds.serial:x}" if creds else None,
        }
        if why:
            record["reason"] = why
        if action == "accepted":
            record["written"] = written
        log.info("%s: certificate %s%s", self.station_id, action, f" ({why})" if why else "")
        if self.report is not None:
            self.report(record)
