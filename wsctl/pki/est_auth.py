"""Who is asking for a first EST enrollment, and which name that proves.

Three proofs, each allowed or not per label (`wsctl.pki.est_labels`):

- ``bootstrap``: a TLS client certificate issued by a manufacturer CA given
  with ``--bootstrap-ca`` (IDevID-style); it proves its own CN.  Checked here
  against those CAs by signature, because the TLS layer trusts the plant CA
  too and a plant certificate must not count as a bootstrap one; and against
  the manufacturer's CRL if one was given (``--bootstrap-crl``, read at start).
- ``code``: HTTP Basic with user NAME and a one-time code from `wsctl certs
  enroll-code NAME` as the password; it proves NAME and carries the names the
  operator approved when issuing it.
- ``basic``: HTTP Basic with a standing account of ``--basic-users FILE``
  (``NAME:$scrypt$...`` lines); it proves NAME.

A failed proof is a 401 (with `WWW-Authenticate` when Basic is acceptable) or
a 403 (a certificate was shown but proves nothing here).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from wsctl.core.errors import InvalidInput
from wsctl.core.est_http import EstRequestError
from wsctl.pki.enrollment_db import Code, EnrollmentBook
from wsctl.pki.est_labels import Label
from wsctl.pki.identity import fingerprint
from wsctl.registry.secret_hash import verify_secret


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a request brought: the peer's address, its TLS client certificate, its Basic header."""

    remote: str
    client_cert: bytes | None = None
    basic: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Proof:
    mode: str  # bootstrap | code | basic
    name: str
    #: how the audit log names the proof (never the secret)
    detail: str
    code: Code | None = None


def challenge(label: Label) -> tuple[tuple[str, str], ...]:
    if "basic" in label.auth or "code" in label.auth:
        return (("WWW-Authenticate", f'Basic realm="wsctl EST {label.name}", charset="UTF-8"'),)
    return ()


def subject_name(cert_or_csr) -> str | None:
    """The CN (else the serialNumber attribute, as IDevIDs often carry) of a certificate or CSR."""
    for oid in (NameOID.COMMON_NAME, NameOID.SERIAL_NUMBER):
        found = cert_or_csr.subject.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return None


def load_basic_users(path: str | Path) -> dict[str, str]:
    """``NAME:HASH`` lines (from `wsctl certs est-user`); # comments and blank lines skipped."""
    users: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"cannot read the Basic users file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user or not stored.startswith("$scrypt$"):
            raise InvalidInput(f"{path}:{number}: expected NAME:$scrypt$... (made by 'wsctl certs est-user NAME')")
        users[user] = stored
    return users


def load_bootstrap_crl(path: str | Path, cas: Sequence[x509.Certificate]) -> x509.CertificateRevocationList:
    """A manufacturer's CRL (PEM or DER), refused unless one of the bootstrap CAs signed it."""
    try:
        data = Path(path).read_bytes()
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except OSError as exc:
        raise InvalidInput(f"cannot read the bootstrap CRL {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: not a CRL ({str(exc)[:100]})") from None
    if not any(ca.subject == crl.issuer and _signed_by(crl, ca) for ca in cas):
        raise InvalidInput(f"{path}: this CRL is not signed by any --bootstrap-ca")
    return crl


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    except TypeError:  # a key type CRLs cannot be signed with
        return False


class Authenticator:
    def __init__(
        self,
        book: EnrollmentBook,
        bootstrap_cas: Sequence[x509.Certificate],
        basic_users: Mapping[str, str],
        bootstrap_crls: Sequence[x509.CertificateRevocationList] = (),
    ) -> None:
        self.book = book
        self.bootstrap_cas = list(bootstrap_cas)
        self.basic_users = dict(basic_users)
        #: manufacturers' CRLs (`--bootstrap-crl`), each checked against the CA that signed it
        self.bootstrap_crls = list(bootstrap_crls)

    def prove(self, label: Label, creds: Credentials) -> Proof:
        if creds.client_cert is not None and "bootstrap" in label.auth:
            proof = self._bootstrap(creds.client_cert)
            if proof is not None:
                return proof
        if creds.basic is not None and ("code" in label.auth or "basic" in label.auth):
            return self._basic(label, *creds.basic)
        if "basic" in label.auth or "code" in label.auth:
            raise EstRequestError(
                401, f"label {label.name} needs HTTP Basic credentials (NAME and enrollment code)", challenge(label)
            )
        shown = " (the one shown is not from a trusted manufacturer CA)" if creds.client_cert else ""
        raise EstRequestError(403, f"label {label.name} needs a bootstrap client certificate{shown}")

    def _bootstrap(self, der: bytes) -> Proof | None:
        cert = x509.load_der_x509_certificate(der)
        now = dt.datetime.now(dt.UTC)
        for ca in self.bootstrap_cas:
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            if not (cert.not_valid_before_utc <= now < cert.not_valid_after_utc):
                raise EstRequestError(403, "the bootstrap certificate is outside its validity period")
            if self._revoked(cert, ca):
                raise EstRequestError(403, "the bootstrap certificate is revoked by its manufacturer's CRL")
            name = subject_name(cert)
            if name is None:
                raise EstRequestError(403, "the bootstrap certificate names no device (no CN or serialNumber)")
            return Proof("bootstrap", name, f"bootstrap {fingerprint(der)}")
        return None

    def _revoked(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        return any(
            crl.issuer == issuer.subject
            and crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
            for crl in self.bootstrap_crls
        )

    def _basic(self, label: Label, user: str, password: str) -> Proof:
        why = f"wrong user or password for {user}"
        if "code" in label.auth:
            code, why = self.book.check_code(user, password)
            if code is not None:
                return Proof("code", user, f"code {code.id}", code=code)
        if "basic" in label.auth:
            if verify_secret(password, self.basic_users.get(user)) and user in self.basic_users:
                return Proof("basic", user, f"basic {user}")
            if "code" not in label.auth:
                why = f"wrong user or password for {user}"
        raise EstRequestError(401, why, challenge(label))
