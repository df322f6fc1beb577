"""Creating, replacing and restoring the plant CA: the store's most dangerous operations.

Kept apart from issuing and revocation (`wsctl.pki.store`): replacing a CA needs
proof of the current passphrase (or an explicit flag for a lost one), always
archives the old CA first, and swaps the new one in with one journaled commit.
`Store` inherits these methods; they use its paths, lock and audit log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from wsctl.core.errors import InvalidInput, PasswordError, StoreError
from wsctl.pki import commit, fsutil, keys, names
from wsctl.pki.index import Index, format_serial

if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_CRL_DAYS = 30


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


class CAAdministration:
    """Mixin of `Store`: init, init --force, restore."""

    # -- CA ----------------------------------------------------------------
    def ca_present(self) -> bool:
        return any(p.exists() for p in (self.root_cert_path, self.root_key_path, self.index_path))

    def init(
        self,
        *,
        name: str = "Plant CA",
        key_type: str = "p256",
        password: bytes,
        force: bool = False,
        current_password: bytes | None = None,
        replace_unproven: bool = False,
    ) -> Path | None:
        """Create the root and issuing CA; return where the previous CA was archived (None if there was none).

        Replacing an existing CA (`force`) needs `current_password` (proof that the
        caller controls the CA being replaced) or `replace_unproven` (it is lost).
        """
        from cryptography.hazmat.primitives.serialization import Encoding

        from wsctl.pki import builder

        if key_type not in keys.KEY_TYPES:
            raise InvalidInput(f"unknown key type {key_type!r}; choose one of {', '.join(keys.KEY_TYPES)}")
        if not name or not name.strip() or len(name) > 60:
            raise InvalidInput("the CA name must be 1-60 characters")
        if not name.isprintable():  # it is the O and CN of every certificate, and in every listing
            raise InvalidInput(f"the CA name {name!r} has control characters")
        if not password:
            raise PasswordError("the CA keys need a non-empty passphrase")
        fsutil.ensure_private_dir(self.path)
        os.chmod(self.path, fsutil.DIR_MODE)
        # the lock is taken before looking for an existing CA: two concurrent
        # inits would otherwise both see none and both write one
        with self._operation("init", name) as outcome:
            if self.ca_present():
                if not force:
                    raise StoreError(
                        f"a CA already exists in {self.path}; refusing to overwrite it",
                        hint="--force (with the current CA passphrase) moves it to archive/ and starts anew",
                    )
                self._prove_current_ca(current_password, replace_unproven, outcome)
            root_key = keys.generate_key(key_type)
            issuing_key = keys.generate_key(key_type)
            root = builder.build_root(root_key, name)
            issuing = builder.build_issuing(issuing_key, root, root_key, name)
            crl = builder.build_crl(issuing, issuing_key, [], number=1, days=DEFAULT_CRL_DAYS)
            index = Index(ca_name=name, key_type=key_type, crl_number=1, crl_days=DEFAULT_CRL_DAYS)
            ca_files = {
                "root.key": keys.serialize_private_key(root_key, password),
                "root.crt": _pem(root),
                "issuing.key": keys.serialize_private_key(issuing_key, password),
                "issuing.crt": _pem(issuing),
                "crl.pem": crl.public_bytes(Encoding.PEM),
                "crl.der": crl.public_bytes(Encoding.DER),
            }
            archive = self._swap_in(ca_files, index.to_bytes())
            outcome["serial"] = issuing.serial_number
            outcome.setdefault("extra", {}).update(root_serial=format_serial(root.serial_number), key_type=key_type)
            if archive is not None:
                outcome["extra"]["archived_to"] = str(archive.relative_to(self.path))
            return archive

    def restore(
        self, archive_name: str, *, current_password: bytes | None, replace_unproven: bool = False
    ) -> Path | None:
        """Put the CA archived as archive/ARCHIVE_NAME back; the current one is archived in turn."""
        names.check_name(archive_name)
        source = self.archive_dir / archive_name
        with self._operation("restore", archive_name) as outcome:
            fsutil.refuse_symlinks(self.path, source / "ca" / "root.crt")
            if not ((source / "ca" / "root.crt").is_file() and (source / "index.json").is_file()):
                held = sorted(p.name for p in self.archive_dir.iterdir()) if self.archive_dir.is_dir() else []
                raise StoreError(
                    f"no archived CA {archive_name!r} in {self.archive_dir}",
                    hint=f"archived: {', '.join(held)}" if held else "nothing is archived",
                )
            if self.ca_present():
                self._prove_current_ca(current_password, replace_unproven, outcome)
            archive = self._swap_in(None, self._read(source / "index.json"), source=source)
            with contextlib.suppress(OSError):
                source.rmdir()
            if archive is not None:
                outcome.setdefault("extra", {})["archived_to"] = str(archive.relative_to(self.path))
            return archive

    def _prove_current_ca(self, current_password: bytes | None, replace_unproven: bool, outcome: dict) -> None:
        if replace_unproven:
            outcome.setdefault("extra", {})["current_passphrase"] = "not given (replaced as lost)"
            return
        hint = (
            "give the current CA passphrase (--current-password-file or WSCTL_CURRENT_PASSWORD); "
            "if it is lost, --i-know-this-replaces-the-ca"
        )
        if not current_password:
            raise PasswordError("replacing the CA needs the passphrase of the current one", hint=hint)
        try:
            key_pem = self._read(self.root_key_path)
        except StoreError:
            raise StoreError(
                f"{self.root_key_path} is missing, so the current CA cannot be proven",
                hint="--i-know-this-replaces-the-ca replaces it anyway",
            ) from None
        try:
            key = keys.load_private_key(key_pem, current_password, source=self.root_key_path)
        except PasswordError as exc:
            raise PasswordError(f"{exc.message}: the current CA is not replaced", hint=hint) from None
        if key.public_key() != self._load_cert(self.root_cert_path).public_key():
            raise StoreError(
                f"{self.root_key_path} does not belong to {self.root_cert_path}",
                hint="--i-know-this-replaces-the-ca replaces it anyway",
            )

    def _swap_in(
        self, ca_files: dict[str, bytes] | None, index_bytes: bytes, *, source: Path | None = None
    ) -> Path | None:
        """Archive the current CA material (if any) and put a new one in its place, in one commit.

        The new ca/ is either built from `ca_files` in a staging directory or
        taken from the archived CA `source` (with its devices/ and operators/).
        """
        current = [n for n in ("ca", "devices", "operators") if (self.path / n).exists()]
        archive = self._new_archive_dir() if current or self.index_path.exists() else None
        staging = None
        if ca_files is not None:
            staging = Path(tempfile.mkdtemp(prefix=commit.STAGING_PREFIX, dir=self.path))
            for file_name, data in ca_files.items():
                fsutil.write_new(staging / file_name, data)
            fsutil.fsync_dirs([staging])
            source = None
        try:
            with commit.Transaction(self.path) as txn:
                for entry in current:
                    txn.move(self.path / entry, archive / entry)
                if archive is not None and self.index_path.exists():
                    txn.write(archive / "index.json", self._read(self.index_path))
                if staging is not None:
                    txn.move(staging, self.ca_dir)
                else:
                    for entry in ("ca", "devices", "operators"):
                        if (source / entry).exists():
                            txn.move(source / entry, self.path / entry)
                    txn.remove(source / "index.json")
                txn.write(self.index_path, index_bytes)
        finally:
            if staging is not None and staging.exists():
                shutil.rmtree(staging)
        for sub in ("devices", "operators"):
            fsutil.ensure_private_dir(self.path / sub)
        return archive

    def _new_archive_dir(self) -> Path:
        from wsctl.pki import builder

        stamp = builder.now().strftime("%Y%m%dT%H%M%SZ")
        target, n = self.archive_dir / stamp, 1
        while target.exists():
            n += 1
            target = self.archive_dir / f"{stamp}-{n}"
        return target
