"""What the EST operations do to the plant CA: answers to cacerts, csrattrs,
simpleenroll and simplereenroll, each enrollment audited.

Certificates are made by `Store.sign_csr` (first enrollment: only the CSR's
public key is taken; names, role and lifetime come from the proof or the
label) and by the store's renewal path (re-enrollment: the identity of the
current certificate, the CSR's key) — the code `wsctl certs sign` and `renew`
run, so the index, the audit log and the CRL see EST certificates like any
other.  Every enrollment request leaves one ``est-*`` line in `audit.log`
(ok, pending or error, with the HTTP status); a refused one writes nothing else.
Refusals of requests that proved no identity are the exception: a few lines per
source address and minute, then one summary line (`wsctl.pki.est_refusals`).

Synchronous (cryptography, SQLite, the store lock): the server runs it in a
worker thread, one request at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from wsctl.core.errors import InvalidInput, StoreError, WsctlError
from wsctl.core.est_http import CSRATTRS, PKCS7_CERTS_ONLY, EstRequestError, check_pkcs10, encode_base64_body
from wsctl.pki import builder, keys, names
from wsctl.pki.est_auth import Authenticator, Credentials, Proof, subject_name
from wsctl.pki.est_labels import Label
from wsctl.pki.est_messages import certs_only, csr_attributes, csr_from_body
from wsctl.pki.est_refusals import RefusalBudget, source_address
from wsctl.pki.index import Entry, format_serial
from wsctl.pki.issuing import NotRenewable

log = logging.getLogger("wsctl.est")

BASE64 = (("Content-Transfer-Encoding", "base64"),)
#: how long an enrollment waits for an operator by default: a request nobody
#: approved within a week is stale (the device may be gone, or someone else)
PENDING_TTL = 7 * 86400


def expire_pending(store, book) -> None:
    """Expire the enrollments whose time to be approved is up, one audit line each."""
    for request in book.expire_due():
        store.audit(
            "est-expire", f"{request.kind}:{request.name}", None, "expired", request=request.id, label=request.label
        )


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def error_answer(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", (message + "\n").encode("utf-8"), headers)


def _pkcs7(certs: list[x509.Certificate]) -> Answer:
    return Answer(200, PKCS7_CERTS_ONLY, encode_base64_body(certs_only(certs)), BASE64)


class Enroller:
    def __init__(
        self,
        store,
        book,
        labels: list[Label],
        password: bytes,
        auth: Authenticator,
        *,
        retry_after: int = 60,
        pending_ttl: int | None = PENDING_TTL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.book = book
        self.labels = {label.name: label for label in labels}
        self.default = labels[0]
        self.password = password
        self.auth = auth
        self.retry_after = retry_after
        #: seconds an enrollment waits for a person before it is refused (None: for ever)
        self.pending_ttl = pending_ttl
        #: audit lines of anonymous refusals, per source address (``clock``: seconds, monotonic)
        self.refusals = RefusalBudget(self._audit_suppressed, clock=clock)

    def label(self, name: str | None) -> Label:
        if name is None:
            return self.default
        label = self.labels.get(name)
        if label is None:
            raise EstRequestError(404, f"no EST label {name!r} here; labels: {', '.join(self.labels)}")
        return label

    # -- the two reads -----------------------------------------------------
    def cacerts(self, label_name: str | None) -> Answer:
        """Issuing CA and root (RFC 7030 4.1.3: what a client needs to reach the trust anchor)."""
        try:
            self.label(label_name)
        except EstRequestError as exc:
            return error_answer(exc.status, exc.message)
        return _pkcs7([self.store.issuing_cert(), self.store.root_cert()])

    def csrattrs(self, label_name: str | None) -> Answer:
        try:
            self.label(label_name)
        except EstRequestError as exc:
            return error_answer(exc.status, exc.message)
        return Answer(200, CSRATTRS, encode_base64_body(csr_attributes()), BASE64)

    # -- enrollment ----------------------------------------------------------
    def enroll(self, label_name: str | None, operation: str, creds: Credentials, content_type, body: bytes) -> Answer:
        """The answer to simpleenroll or simplereenroll; never raises for anything a client sent."""
        context = {"label": label_name or self.default.name, "client": creds.remote}
        if creds.basic is not None:
            context["user"] = creds.basic[0]  # who tried, never the password
        try:
            label = self.label(label_name)
            check_pkcs10(content_type)
            der, csr = csr_from_body(body)
            if operation == "simplereenroll":
                entry = self._reenroll(label, creds, csr, context)
                answer = _pkcs7([self.store.leaf_cert(entry)])
            else:
                answer, entry = self._first_enrollment(label, creds, der, csr, context)
        except EstRequestError as exc:
            self.audit_refusal(operation, context, exc.status, exc.message)
            return error_answer(exc.status, exc.message, exc.headers)
        except WsctlError as exc:
            status = _status_of(exc)
            self.audit_refusal(operation, context, status, exc.message)
            return error_answer(status, exc.message)
        except Exception as exc:  # noqa: BLE001 - a disk error, a bug: the client still gets an answer
            log.error("EST %s failed: %s: %s", operation, type(exc).__name__, exc, exc_info=True)
            self.audit_refusal(operation, context, 500, f"internal error: {type(exc).__name__}: {exc}")
            return error_answer(500, "internal error of the EST server; the operator's log says why")
        result = "pending" if answer.status == 202 else "ok"
        self._audit(operation, context, entry, result, answer.status)
        return answer

    def audit_refusal(self, operation: str, context: dict, status: int, message: str) -> None:
        """One `est-OPERATION` error line; also for refusals the HTTP layer makes (size, method).

        A request that proved no identity (no ``subject`` in CONTEXT: no proof
        passed, no client certificate of this CA's index) is audited within
        the budget of its source address only; the rest are counted."""
        if "subject" not in context and not self.refusals.admit(source_address(str(context.get("client", "?")))):
            return
        subject = context.pop("subject", f"est:{context.get('label')}")
        self.store.audit(
            f"est-{operation}", subject, context.pop("serial", None), "error", status=status, error=message, **context
        )

    def sweep_refusals(self, *, everything: bool = False) -> None:
        """Write the summary lines of the refusal windows that are over (every one: at shutdown)."""
        self.refusals.sweep(everything=everything)

    def _audit_suppressed(self, address: str, count: int) -> None:
        self.store.audit(
            "est-refusals",
            f"client:{address}",
            None,
            "error",
            client=address,
            suppressed=count,
            error=f"{count} more refusals from {address} suppressed",
        )

    def _audit(self, operation: str, context: dict, entry: Entry | None, result: str, status: int) -> None:
        self.refusals.sweep()  # a window that is over is summed up before later lines
        subject = context.pop("subject", f"est:{context['label']}")
        serial = entry.serial if entry is not None else None
        self.store.audit(f"est-{operation}", subject, serial, result, status=status, **context)

    def _first_enrollment(self, label: Label, creds: Credentials, der: bytes, csr, context: dict):
        proof = self.auth.prove(label, creds)
        context.update(subject=f"{label.kind}:{proof.name}", auth=proof.detail)
        name = _bound_name(proof, csr)
        if proof.code is not None:
            return _pkcs7_of(self, self._issue_with_code(label, proof, der))
        dns, role = label.names_for(name)
        if label.needs_person():
            return self._waiting(label, proof, der, dns, role, creds), None
        entry = self.store.sign_csr(
            der, kind=label.kind, name=name, dns=dns, role=role, days=label.days, password=self.password
        )
        return _pkcs7_of(self, entry)

    def _issue_with_code(self, label: Label, proof: Proof, der: bytes) -> Entry:
        code = proof.code
        assert code is not None
        if code.kind != label.kind:
            raise EstRequestError(
                403,
                f"the code for {code.name} is for a {code.kind} certificate; label {label.name} issues {label.kind}s",
            )
        if not self.book.spend_code(code, by=f"est:{label.name}"):
            raise EstRequestError(401, f"the enrollment code for {code.name} was already used (codes are single use)")
        try:
            return self.store.sign_csr(
                der,
                kind=code.kind,
                name=code.name,
                dns=code.dns,
                ips=code.ips,
                role=code.role,
                days=code.days or label.days,
                password=self.password,
            )
        except BaseException:
            self.book.unspend_code(code)
            raise

    def _waiting(self, label: Label, proof: Proof, der: bytes, dns, role, creds: Credentials) -> Answer:
        """202 until an operator decides; the approved certificate once one did."""
        digest = hashlib.sha256(der).hexdigest()
        expire_pending(self.store, self.book)
        found = self.book.find_pending(label.name, digest)
        if found is None:
            found = self.book.add_pending(
                ttl=self.pending_ttl,
                label=label.name,
                kind=label.kind,
                name=proof.name,
                auth=proof.detail,
                client=creds.remote,
                csr=der,
                csr_sha256=digest,
                dns=tuple(dns),
                role=role,
                days=label.days,
            )
            log.warning(
                "EST: enrollment %s of %s %s waits for 'wsctl certs approve %s'",
                found.id,
                label.kind,
                proof.name,
                found.id,
            )
        if found.name != proof.name:
            raise EstRequestError(403, f"this CSR waits for approval as {found.name}, not {proof.name}")
        if found.status == "rejected":
            raise EstRequestError(403, f"enrollment {found.id} was rejected by an operator")
        if found.status == "expired":
            raise EstRequestError(
                403, f"enrollment {found.id} expired before an operator approved it; ask again with a new key and CSR"
            )
        if found.status == "approved" and found.serial:
            entry = self.store.find(found.serial)
            if entry.status != "valid":
                raise EstRequestError(403, f"the certificate approved for enrollment {found.id} is {entry.status}")
            return _pkcs7([self.store.leaf_cert(entry)])
        return Answer(
            202,
            "text/plain; charset=utf-8",
            f"enrollment {found.id} waits for an operator (wsctl certs approve {found.id}); retry later\n".encode(),
            (("Retry-After", str(self.retry_after)),),
        )

    def _reenroll(self, label: Label, creds: Credentials, csr, context: dict) -> Entry:
        """Renew the client's current certificate for the CSR's key; same name, kind, names and role."""
        if creds.client_cert is None:
            raise EstRequestError(403, "simplereenroll needs the current certificate as the TLS client certificate")
        cert = x509.load_der_x509_certificate(creds.client_cert)
        context["serial"] = cert.serial_number
        try:
            cert.verify_directly_issued_by(self.store.issuing_cert())
        except Exception:  # noqa: BLE001 - wrong issuer name, key type or signature: all "not ours"
            raise EstRequestError(403, "the client certificate was not issued by this CA") from None
        index = self.store.load_index()
        entry = index.by_serial(cert.serial_number)
        if entry is None:
            raise EstRequestError(403, "the client certificate is not in this CA's index")
        context["subject"] = f"{entry.kind}:{entry.name}"
        _check_current(self.store, entry, label)
        asked = subject_name(csr)
        if asked is not None and asked != entry.name:
            raise EstRequestError(
                403, f"a re-enrollment keeps its identity: the CSR asks for {asked}, the certificate is {entry.name}"
            )
        keys.check_public_key(csr.public_key())
        context.pop("serial")
        return renew_with_key(self.store, entry, cert, csr.public_key(), self.password, days=label.days)


def _pkcs7_of(enroller: Enroller, entry: Entry) -> tuple[Answer, Entry]:
    return _pkcs7([enroller.store.leaf_cert(entry)]), entry


def _bound_name(proof: Proof, csr) -> str:
    """The proof's name, which the CSR's CN (if it has one) must equal, and which must be a store name."""
    try:
        names.check_name(proof.name)
    except InvalidInput:
        raise EstRequestError(403, f"{proof.name!r} is not an allowed certificate name") from None
    asked = subject_name(csr)
    if asked is not None and asked != proof.name:
        raise EstRequestError(
            403, f"the CSR asks for {asked!r}, but the {proof.mode} credentials are for {proof.name!r}"
        )
    return proof.name


def _check_current(store, entry: Entry, label: Label) -> None:
    """Valid, not superseded, not revoked (index and CRL), not expired, of the label's kind.

    Read without the store lock, for a readable 403 early; the store repeats
    the revoked check under the lock when it renews (`issuing.NotRenewable`)."""
    if entry.status == "revoked":
        raise EstRequestError(403, f"the certificate of {entry.name} is revoked ({entry.reason})")
    if entry.status == "superseded":
        raise EstRequestError(
            403,
            f"serial {format_serial(entry.serial)} was already renewed; present the current certificate of {entry.name}",
        )
    crl = store.load_crl()
    if crl is not None and crl.get_revoked_certificate_by_serial_number(entry.serial) is not None:
        raise EstRequestError(403, f"the certificate of {entry.name} is on the CRL")
    if entry.effective_status() == "expired":
        # only for a certificate that expired on a kept-alive connection: the TLS handshake refuses one before
        raise EstRequestError(
            403, f"the certificate of {entry.name} expired; enroll anew (simpleenroll, with an enrollment code)"
        )
    if entry.kind != label.kind:
        raise EstRequestError(403, f"label {label.name} issues {label.kind}s; this is a {entry.kind} certificate")


def renew_with_key(
    store, entry: Entry, cert: x509.Certificate, public_key, password: bytes, *, days: int | None = None
) -> Entry:
    """`renew` of ENTRY for a key the client holds (its CSR's): same names, role and lifetime.
    The store keeps a key file only if it is the same key as before."""
    if days is None:
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc - builder.BACKDATE
        days = max(1, round(lifetime / dt.timedelta(days=1)))
    spec = builder.LeafSpec(
        kind=entry.kind,
        name=entry.name,
        dns=tuple(names.check_dns(d) for d in entry.dns),
        ips=tuple(names.check_ip(i) for i in entry.ips),
        role=entry.role,
        days=names.check_days(days),
    )
    same_key = public_key.public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # the store's renewal path: index (old one superseded), files, audit "renew"
    return store._issue(
        spec, password=password, key_password=None, public_key=public_key, renewing=entry, keep_key=same_key
    )


def _status_of(exc: WsctlError) -> int:
    """The HTTP status of a refusal the store made (the same refusal `certs sign` prints)."""
    if isinstance(exc, NotRenewable):
        return 403  # revoked while this re-enrollment waited for the store lock
    if isinstance(exc, StoreError) and "already exists" in exc.message:
        return 409
    if isinstance(exc, InvalidInput):
        return 400
    log.error("EST: %s", exc.message)
    return 500
