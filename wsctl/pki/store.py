"""The plant PKI store on disk: layout, issuing, renewal, revocation, audit.

Layout (documented in docs/certs.md; scripts and devices rely on it)::

    ca/root.crt ca/root.key ca/issuing.crt ca/issuing.key ca/crl.pem ca/crl.der
    devices/NAME/{cert.pem,chain.pem,key.pem}     chain = leaf + issuing CA
    operators/NAME/{cert.pem,chain.pem,key.pem}
    index.json   audit.log (JSON Lines)

Every mutation takes the store lock, repairs what a crashed run left, loads and
checks everything it needs (the passphrase first), builds the new material in
memory, and only then writes all files in one journaled `commit.Transaction`; so
a refused or failed operation leaves the store as it was, apart from the audit
line that records the failure, and a killed one is finished or undone by the
next open (`_repair`).

cryptography is imported only by the methods that build, sign or parse
certificates: reading the index (`wsctl certs list`) must not pay for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from wsctl.core.errors import InvalidInput, StoreError, WsctlError
from wsctl.pki import commit, fsutil, keys, names
from wsctl.pki.ca_admin import CAAdministration
from wsctl.pki.index import Entry, Index, LeafPaths, format_serial, parse_index, parse_serial
from wsctl.pki.issuing import LeafIssuing

if TYPE_CHECKING:
    from cryptography import x509


__all__ = ["Store", "Entry", "LeafPaths"]

#: every file name the store writes (their temporaries and backups are swept after a crash)
STORE_FILE_NAMES = (
    "root.key",
    "root.crt",
    "issuing.key",
    "issuing.crt",
    "crl.pem",
    "crl.der",
    "cert.pem",
    "chain.pem",
    "key.pem",
    "index.json",
)


def load_certificate_file(path: Path, *, error=InvalidInput) -> x509.Certificate:
    """The first certificate of a PEM (chain) or DER file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"no such file: {path}") from None
    return parse_certificate(data, path, error=error)


def parse_certificate(data: bytes, source: Path, *, error=InvalidInput) -> x509.Certificate:
    from cryptography import x509

    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)[0]
        return x509.load_der_x509_certificate(data)
    except (ValueError, IndexError) as exc:
        raise error(f"{source} is not a readable certificate ({certificate_parse_reason(exc, data)})") from None


def certificate_parse_reason(exc: Exception, data: bytes) -> str:
    """What an operator can act on; cryptography's parser detail
    ("ParseError { kind: UnexpectedTag { actual: Tag {...") is not that."""
    text = str(exc).split(". See https://")[0]
    if "ParseError" in text or "asn1" in text.lower():
        return "the PEM block holds no valid certificate" if b"-----BEGIN" in data else "not a PEM or DER certificate"
    return text[:120]


class Store(CAAdministration, LeafIssuing):
    def __init__(self, path: str | os.PathLike, *, notify: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        #: told (one line) when opening the store finished or undid an interrupted change
        self.notify = notify
        self._repaired = False

    # -- layout ------------------------------------------------------------
    @property
    def ca_dir(self) -> Path:
        return self.path / "ca"

    @property
    def root_cert_path(self) -> Path:
        return self.ca_dir / "root.crt"

    @property
    def root_key_path(self) -> Path:
        return self.ca_dir / "root.key"

    @property
    def issuing_cert_path(self) -> Path:
        return self.ca_dir / "issuing.crt"

    @property
    def issuing_key_path(self) -> Path:
        return self.ca_dir / "issuing.key"

    @property
    def crl_pem_path(self) -> Path:
        return self.ca_dir / "crl.pem"

    @property
    def crl_der_path(self) -> Path:
        return self.ca_dir / "crl.der"

    @property
    def index_path(self) -> Path:
        return self.path / "index.json"

    @property
    def audit_path(self) -> Path:
        return self.path / "audit.log"

    @property
    def lock_path(self) -> Path:
        return self.path / ".lock"

    @property
    def archive_dir(self) -> Path:
        return self.path / "archive"

    def leaf_paths(self, kind: str, name: str) -> LeafPaths:
        return LeafPaths(os.path.join(self.path, "devices" if kind == "device" else "operators", name))

    def exists(self) -> bool:
        return self.root_cert_path.exists() and self.index_path.exists()

    # -- reading -----------------------------------------------------------
    def require(self) -> None:
        # only in a store: a --dir pointing at some other directory is left alone
        if not self._repaired and (self.exists() or commit.pending(self.path)):
            self._repair_on_open()
        if not self.exists():
            raise StoreError(
                f"no PKI store at {self.path} (missing {self.index_path.name} or ca/root.crt)",
                hint="run 'wsctl certs init', or point --dir / WSCTL_CERTS at an existing store",
            )

    def load_index(self) -> Index:
        self.require()
        return parse_index(self._read(self.index_path), self.index_path, self.leaf_paths)

    def entries(self) -> list[Entry]:
        return list(self.load_index().entries)

    def find(self, name_or_serial: str, *, index: Index | None = None) -> Entry:
        """The live entry called NAME, else the entry with that serial (hex)."""
        index = index or self.load_index()
        entry = index.current(name_or_serial)
        if entry is None:
            serial = parse_serial(name_or_serial)
            entry = index.by_serial(serial) if serial is not None else None
        if entry is None:
            raise StoreError(
                f"no certificate named {name_or_serial!r} (or with that serial) in {self.path}",
                hint="'wsctl certs list' shows what the store holds",
            )
        return entry

    def _read(self, path: Path) -> bytes:
        """A store file's bytes, never through a symlink."""
        try:
            return fsutil.read_no_follow(self.path, path)
        except FileNotFoundError:
            raise StoreError(
                f"no such file: {path}", hint="the store is incomplete; restore it from a backup"
            ) from None
        except OSError as exc:  # a directory where the file should be, no permission ...
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None

    def _load_cert(self, path: Path) -> x509.Certificate:
        return parse_certificate(self._read(path), path, error=StoreError)

    def root_cert(self) -> x509.Certificate:
        self.require()
        return self._load_cert(self.root_cert_path)

    def issuing_cert(self) -> x509.Certificate:
        self.require()
        return self._load_cert(self.issuing_cert_path)

    def leaf_cert(self, entry: Entry) -> x509.Certificate:
        cert = self._load_cert(entry.paths.cert)
        if cert.serial_number != entry.serial:
            # a re-issue or renewal of the name overwrote the files: never hand out another certificate
            raise StoreError(
                f"the store no longer holds the certificate of serial {format_serial(entry.serial)} "
                f"({entry.status}): {entry.paths.cert} is the newer certificate of {entry.name}",
                hint=f"'wsctl certs show {entry.name}' shows the current one",
            )
        return cert

    def load_crl(self) -> x509.CertificateRevocationList | None:
        if not self.crl_der_path.exists():
            return None
        from cryptography import x509

        try:
            return x509.load_der_x509_crl(self._read(self.crl_der_path))
        except ValueError as exc:
            raise StoreError(
                f"{self.crl_der_path} is corrupted ({str(exc)[:100]})", hint="'wsctl certs crl' writes a fresh one"
            ) from None

    def crl_next_update(self) -> dt.datetime | None:
        """The store CRL's nextUpdate, read without cryptography (`certs list`); None if it has none."""
        from wsctl.pki.crlinfo import der_next_update

        try:
            return der_next_update(self._read(self.crl_der_path))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreError(
                f"{self.crl_der_path} is corrupted ({str(exc)[:100]})", hint="'wsctl certs crl' writes a fresh one"
            ) from None

    def check_ca_password(self, password: bytes) -> None:
        """PasswordError now for a wrong CA passphrase (a service that signs later)."""
        self._issuing(password)

    def _issuing(self, password: bytes) -> tuple[x509.Certificate, object]:
        cert = self.issuing_cert()
        key = keys.load_private_key(self._read(self.issuing_key_path), password, source=self.issuing_key_path)
        if key.public_key() != cert.public_key():
            raise StoreError(f"{self.issuing_key_path} does not belong to {self.issuing_cert_path}")
        return cert, key

    # -- audit, locking, repair ----------------------------------------------
    def audit(self, action: str, subject: str, serial: int | None, result: str, **extra) -> None:
        if not self.path.is_dir():
            return
        from wsctl.pki import builder

        record = {
            "time": builder.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "actor": _actor(),
            "action": action,
            "subject": subject,
            "serial": None if serial is None else format_serial(serial),
            "result": result,
            **extra,
        }
        fsutil.append_private(self.audit_path, (json.dumps(record, ensure_ascii=False) + "\n").encode())

    @contextlib.contextmanager
    def _operation(self, action: str, subject: str) -> Iterator[dict]:
        """Lock the store, repair it, audit the outcome ("ok", or "error" with the message)."""
        outcome: dict = {"serial": None}
        if not self.path.is_dir():
            self.require()
        # a symlinked audit.log is refused before anything, so nothing is written through it
        fsutil.refuse_symlinks(self.path, self.audit_path)
        with fsutil.locked(self.lock_path):
            try:
                self._repair()
                yield outcome
            except WsctlError as exc:
                self.audit(action, subject, outcome["serial"], "error", error=exc.message)
                raise
            except Exception as exc:
                self.audit(action, subject, outcome["serial"], "error", error=f"{type(exc).__name__}: {exc}")
                raise
            if "lines" in outcome:  # requests that stood alone (`_issue_each`), refused ones too
                for line in outcome["lines"]:
                    self.audit(**line)
                return
            # several certificates in one operation (`issue_devices`): one line each
            for each_subject, serial in outcome.get("each", [(subject, outcome["serial"])]):
                self.audit(action, each_subject, serial, "ok", **outcome.get("extra", {}))

    def _leaf_dirs(self) -> list[str]:
        """The directories under devices/, operators/ and archive/ (never through a symlink).

        One scandir per parent and no Path objects: this runs at every
        operation, in stores of thousands of certificates.
        """
        found: list[str] = []
        for sub in ("devices", "operators", "archive"):
            parent = self.path / sub
            if parent.is_symlink():
                continue
            try:
                with os.scandir(parent) as children:
                    found.extend(child.path for child in children if child.is_dir(follow_symlinks=False))
            except (FileNotFoundError, NotADirectoryError):
                continue
        return found

    def _repair_on_open(self) -> None:
        try:
            with fsutil.locked(self.lock_path):
                self._repair()
        except PermissionError:
            # a reader without write access: fine unless a change is half done
            if commit.pending(self.path):
                raise StoreError(
                    f"{self.path} has an interrupted change and this user cannot finish it",
                    hint="run any 'wsctl certs' command as the store's owner",
                ) from None

    def _repair(self) -> None:
        """Finish a commit a crash interrupted and delete what killed runs left (under the lock)."""
        self._repaired = True
        journal = commit.recover(self.path)
        leaf_dirs = self._leaf_dirs()
        # the directories the store writes temporaries in (not whatever else is under its path)
        swept = commit.sweep_strays([self.path, self.ca_dir, *leaf_dirs], STORE_FILE_NAMES)
        for directory in leaf_dirs:
            with os.scandir(directory) as children:
                empty = next(children, None) is None
            if empty:  # made for a commit that never happened
                os.rmdir(directory)
        for sub in ("devices", "operators"):
            if self.exists():
                fsutil.ensure_private_dir(self.path / sub)
        if journal is None and not swept:
            return
        rel = [str(p.relative_to(self.path)) for p in swept]
        self.audit("repair", "store", None, "ok", journal=journal, removed=rel)
        if self.notify is not None:
            told = {
                "finished": "finished a change that was interrupted",
                "undone": "undid a change that was interrupted",
                None: "cleaned up after an interrupted run",
            }[journal]
            self.notify(f"{self.path}: {told}" + (f"; removed {len(rel)} leftover temporary file(s)" if rel else ""))

    # -- revocation --------------------------------------------------------
    def revoke(self, name_or_serial: str, *, reason: str = "unspecified", password: bytes) -> Entry:
        from wsctl.pki import builder

        flag = builder.parse_reason(reason)
        with self._operation("revoke", name_or_serial) as outcome:
            index = self.load_index()
            entry = self.find(name_or_serial, index=index)
            outcome["serial"] = entry.serial
            if entry.status == "revoked":
                raise StoreError(
                    f"{entry.kind} {entry.name} (serial {format_serial(entry.serial)}) is already "
                    f"revoked since {entry.revoked_at:%Y-%m-%d %H:%M:%SZ}"
                )
            issuing, issuing_key = self._issuing(password)
            entry.status = "revoked"
            entry.revoked_at = builder.now()
            entry.reason = builder.reason_name(flag)
            self._write_crl(index, issuing, issuing_key, days=index.crl_days)
            outcome["extra"] = {"reason": entry.reason, "crl_number": index.crl_number}
            return entry

    def write_crl(self, *, days: int | None = None, password: bytes) -> None:
        with self._operation("crl", "crl") as outcome:
            index = self.load_index()
            issuing, issuing_key = self._issuing(password)
            self._write_crl(index, issuing, issuing_key, days=names.check_days(days or index.crl_days))
            outcome["extra"] = {"crl_number": index.crl_number, "days": index.crl_days}

    def _write_crl(self, index: Index, issuing, issuing_key, *, days: int) -> None:
        from cryptography.hazmat.primitives.serialization import Encoding

        from wsctl.pki import builder

        revoked = [
            builder.Revocation(e.serial, e.revoked_at, builder.parse_reason(e.reason or "unspecified"))
            for e in index.entries
            if e.status == "revoked"
        ]
        index.crl_number += 1
        index.crl_days = days
        crl = builder.build_crl(issuing, issuing_key, revoked, number=index.crl_number, days=days)
        with commit.Transaction(self.path) as txn:
            txn.write(self.crl_pem_path, crl.public_bytes(Encoding.PEM))
            txn.write(self.crl_der_path, crl.public_bytes(Encoding.DER))
            txn.write(self.index_path, index.to_bytes())


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"
