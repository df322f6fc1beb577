"""Issuing leaf certificates: devices, operators, CSRs, renewals, and several devices at once.

Kept apart from the store's layout, reading, repair and revocation
(`wsctl.pki.store`): `Store` inherits these methods and they use its paths,
lock, index and audit log.  Every issue builds all of its material in memory
and then writes the certificates, keys and index in one journaled commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsctl.core.errors import InvalidInput, StoreError, WsctlError
from wsctl.pki import commit, keys, names
from wsctl.pki.ca_admin import _pem
from wsctl.pki.index import Entry, Index, format_serial

if TYPE_CHECKING:
    from wsctl.pki import builder


@dataclass
class _Leaf:
    """One certificate to issue: what it certifies, and what it replaces (a renewal)."""

    spec: builder.LeafSpec
    public_key: Any = None
    renewing: Entry | None = None
    keep_key: bool = False


def _live_by_name(index: Index) -> dict[str, Entry]:
    """`Index.current` of every name at once (the newest record that was not superseded)."""
    return {e.name: e for e in index.entries if e.status != "superseded"}


def _days_left(issuing) -> int:
    from wsctl.pki import builder

    return (issuing.not_valid_after_utc - builder.now()).days


def _audit_line(subject: str, planned: _Leaf | WsctlError, result: Entry | WsctlError) -> dict[str, Any]:
    """The audit line of one request of `_issue_each`: what was asked, and how it ended."""
    action = "renew" if isinstance(planned, _Leaf) and planned.renewing is not None else "sign"
    if isinstance(result, WsctlError):
        return {"action": action, "subject": subject, "serial": None, "result": "error", "error": result.message}
    line: dict[str, Any] = {"action": action, "subject": subject, "serial": result.serial, "result": "ok"}
    if isinstance(planned, _Leaf) and planned.renewing is not None:
        line["replaces"] = format_serial(planned.renewing.serial)
    return line


class NotRenewable(StoreError):
    """The certificate a renewal would replace was revoked: a revocation is never undone by renewing."""


def _check_issuable(live: dict[str, Entry], leaf: _Leaf) -> None:
    """Checked under the store lock: what a caller saw before taking it may be stale."""
    current = live.get(leaf.spec.name)
    # an expired certificate is no obstacle: nobody can use it, so issuing anew
    # (an operator's `certs issue`, an enrollment code) supersedes it
    if leaf.renewing is None and current is not None and current.effective_status() == "valid":
        raise StoreError(
            f"{current.kind} {leaf.spec.name!r} already exists (serial {format_serial(current.serial)})",
            hint="renew it with 'wsctl certs renew', or revoke it first",
        )
    if leaf.renewing is None:
        return
    if current is None or current.serial != leaf.renewing.serial:
        raise StoreError(f"{leaf.spec.name} changed while renewing; try again")
    # the newest record of the name, but revoked since the caller looked (`certs revoke` won the lock)
    if current.status != "valid":
        raise NotRenewable(
            f"{current.kind} {current.name} (serial {format_serial(current.serial)}) is {current.status}"
            f"{f' ({current.reason})' if current.reason else ''}; issue a new certificate instead of renewing it"
        )


class LeafIssuing:
    """Mixin of `Store`: issue, issue several devices, sign a CSR, renew."""

    def issue_device(
        self,
        name: str,
        *,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        days: int = 365,
        password: bytes,
        key_password: bytes | None,
        key_type: str = keys.DEFAULT_KEY_TYPE,
    ) -> Entry:
        spec = self.device_spec(name, dns, ips, days)
        return self._issue(spec, password=password, key_password=key_password, key_type=key_type)

    def issue_devices(
        self,
        specs: Sequence[builder.LeafSpec],
        *,
        password: bytes,
        key_password: bytes | None,
        key_type: str = keys.DEFAULT_KEY_TYPE,
    ) -> list[Entry]:
        """Issue several device certificates (`device_spec` each) in one operation.

        One lock, one read of the index, one unlock of the CA key and one
        commit for all of them, so issuing N costs O(N) instead of N rewrites of
        an index that grows each time; all of them are issued or none (the
        commit is journaled like every other), with one audit line each.
        """
        leaves = [_Leaf(spec) for spec in specs]
        if not leaves:
            raise InvalidInput("no device names given")
        twice = sorted({s.name for s in specs if sum(o.name == s.name for o in specs) > 1})
        if twice:
            raise InvalidInput(f"device name(s) given twice: {', '.join(twice)}")
        subject = "device:" + ",".join(spec.name for spec in specs)
        return self._issue_all(
            leaves, "issue", subject, password=password, key_password=key_password, key_type=key_type
        )

    def issue_operator(
        self,
        name: str,
        *,
        role: str,
        days: int = 30,
        password: bytes,
        key_password: bytes | None,
        key_type: str = keys.DEFAULT_KEY_TYPE,
        allow_custom_role: bool = False,
    ) -> Entry:
        from wsctl.pki import builder

        spec = builder.LeafSpec(
            kind="operator",
            name=names.check_name(name),
            role=names.check_role(role, allow_custom=allow_custom_role),
            days=names.check_days(days),
        )
        return self._issue(spec, password=password, key_password=key_password, key_type=key_type)

    def device_spec(self, name: str, dns: Sequence[str], ips: Sequence[str], days: int) -> builder.LeafSpec:
        from wsctl.pki import builder

        names.check_name(name)
        dns_names = tuple(dict.fromkeys(names.check_dns(d) for d in dns))
        addresses = tuple(dict.fromkeys(names.check_ip(str(a)) for a in ips))
        if not dns_names and not addresses:
            raise InvalidInput(f"device {name!r} needs at least one --dns or --ip: clients verify the name they dial")
        return builder.LeafSpec(kind="device", name=name, dns=dns_names, ips=addresses, days=names.check_days(days))

    def sign_csr(
        self,
        csr_data: bytes,
        *,
        kind: str,
        name: str | None = None,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
        role: str | None = None,
        days: int | None = None,
        password: bytes,
        allow_custom_role: bool = False,
    ) -> Entry:
        """Certify a CSR's public key for the names approved here; the CSR's own extensions are ignored."""
        from cryptography import x509

        from wsctl.pki import builder
        from wsctl.pki.csr import load_csr

        csr = load_csr(csr_data)
        names.check_kind(kind)
        if name is None:
            cns = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            if not cns:
                raise InvalidInput("the CSR has no common name; pass --name")
            name = str(cns[0].value)
        keys.check_public_key(csr.public_key())
        if kind == "device":
            spec = self.device_spec(name, dns, ips, 365 if days is None else days)
        else:
            spec = builder.LeafSpec(
                kind="operator",
                name=names.check_name(name),
                role=names.check_role(role, allow_custom=allow_custom_role),
                days=names.check_days(30 if days is None else days),
            )
        return self._issue(spec, password=password, key_password=None, public_key=csr.public_key(), action="sign")

    def renew(
        self,
        name_or_serial: str,
        *,
        days: int | None = None,
        rekey: bool = False,
        password: bytes,
        key_password: bytes | None = None,
    ) -> Entry:
        from wsctl.pki import builder

        old = self.find(name_or_serial)
        refusal = None
        if old.status == "revoked":
            refusal = f"{old.name} is revoked; issue a new certificate instead of renewing it"
        elif old.status == "superseded":
            refusal = f"serial {format_serial(old.serial)} was already renewed; renew {old.name} instead"
        elif rekey and not old.has_key:
            refusal = (
                f"the key of {old.name} lives on the device (signed from a CSR); "
                "make a new CSR there and 'wsctl certs sign' it"
            )
        if refusal:
            self.audit("renew", f"{old.kind}:{old.name}", old.serial, "error", error=refusal)
            raise StoreError(refusal)
        cert = self.leaf_cert(old)
        if days is None:
            lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc - builder.BACKDATE
            days = max(1, round(lifetime / dt.timedelta(days=1)))
        spec = builder.LeafSpec(
            kind=old.kind,
            name=old.name,
            dns=tuple(names.check_dns(d) for d in old.dns),
            ips=tuple(names.check_ip(i) for i in old.ips),
            role=old.role,
            days=names.check_days(days),
        )
        return self._issue(
            spec,
            password=password,
            key_password=key_password,
            key_type=old.key_type or "p256",
            public_key=None if rekey else cert.public_key(),
            renewing=old,
            keep_key=not rekey,
        )

    def _issue(
        self,
        spec: builder.LeafSpec,
        *,
        password: bytes,
        key_password: bytes | None,
        key_type: str = "p256",
        public_key=None,
        action: str | None = None,
        renewing: Entry | None = None,
        keep_key: bool = False,
    ) -> Entry:
        leaf = _Leaf(spec, public_key=public_key, renewing=renewing, keep_key=keep_key)
        action = action or ("renew" if renewing else "issue")
        subject = f"{spec.kind}:{spec.name}"
        (entry,) = self._issue_all(
            [leaf], action, subject, password=password, key_password=key_password, key_type=key_type
        )
        return entry

    def _issue_all(
        self,
        leaves: list[_Leaf],
        action: str,
        subject: str,
        *,
        password: bytes,
        key_password: bytes | None,
        key_type: str,
    ) -> list[Entry]:
        """Build every leaf, then write them all and the index in one commit (under one lock)."""
        with self._operation(action, subject) as outcome:
            index = self.load_index()
            live = _live_by_name(index)  # once: a batch of N into an index of n is O(N + n)
            for leaf in leaves:
                _check_issuable(live, leaf)
            issuing, issuing_key = self._issuing(password)
            remaining = _days_left(issuing)
            for leaf in leaves:
                if leaf.spec.days > remaining:
                    raise InvalidInput(f"--days {leaf.spec.days} outlives the issuing CA (expires in {remaining} days)")
            entries = self._commit_leaves(index, live, leaves, issuing, issuing_key, key_password, key_type)
            if len(entries) == 1:
                outcome["serial"] = entries[0].serial
                if leaves[0].renewing is not None:
                    outcome["extra"] = {"replaces": format_serial(leaves[0].renewing.serial)}
            else:
                outcome["each"] = [(f"{e.kind}:{e.name}", e.serial) for e in entries]
            return entries

    def _issue_each(
        self,
        plan: Callable[[dict[str, Entry]], list[tuple[str, _Leaf | WsctlError]]],
        subject: str,
        *,
        password: bytes,
    ) -> list[Entry | WsctlError]:
        """Certificates that stand or fall one by one, in one store operation.

        ``plan(live)`` gets the live entry of every name and returns, per
        request, its audit subject and the leaf to issue or the error that
        refuses it.  The refused ones get an audit line of their own; the rest
        are built and committed together with the index (one lock, one repair,
        one index read and write, one commit):
        a storm of N station renewals into a store of n certificates costs
        O(N + n), not N times O(n).  An error of the store itself (the lock, the
        passphrase, the disk) still fails them all.  Keys come from CSRs only.
        """
        with self._operation("sign", subject) as outcome:
            index = self.load_index()
            live = _live_by_name(index)
            planned = plan(live)
            issuing, issuing_key = self._issuing(password)
            remaining = _days_left(issuing)
            results: list[Entry | WsctlError] = []
            for _, item in planned:
                if not isinstance(item, WsctlError):
                    try:
                        _check_issuable(live, item)
                        if item.spec.days > remaining:
                            raise InvalidInput(f"{item.spec.days} days outlive the issuing CA ({remaining} left)")
                    except WsctlError as exc:
                        item = exc
                results.append(item)
            leaves = [r for r in results if isinstance(r, _Leaf)]
            entries = iter(
                self._commit_leaves(index, live, leaves, issuing, issuing_key, None, "p256") if leaves else ()
            )
            done: list[Entry | WsctlError] = [r if isinstance(r, WsctlError) else next(entries) for r in results]
            outcome["lines"] = [
                _audit_line(asked, item, result) for (asked, item), result in zip(planned, done, strict=True)
            ]
            return done

    def _commit_leaves(
        self,
        index: Index,
        live: dict[str, Entry],
        leaves: list[_Leaf],
        issuing,
        issuing_key,
        key_password: bytes | None,
        key_type: str,
    ) -> list[Entry]:
        """Build the leaves in memory, then write them, the superseded records and the index in one commit
        (``live``: `_live_by_name` of ``index``, which the caller checked the leaves against)."""
        built = [self._build_leaf(leaf, issuing, issuing_key, key_password, key_type) for leaf in leaves]
        with commit.Transaction(self.path) as txn:
            for leaf, (entry, files) in zip(leaves, built, strict=True):
                current = live.get(leaf.spec.name)
                if leaf.renewing is None and current is not None and current.status == "valid":
                    current.status = "superseded"  # issued anew past its expiry (`_check_issuable`)
                    current.superseded_by = entry.serial
                if leaf.renewing is not None:
                    replaced = index.by_serial(leaf.renewing.serial)
                    # the CRL lists "revoked" entries only: overwriting one would un-revoke it
                    if replaced.status != "revoked":
                        replaced.status = "superseded"
                    replaced.superseded_by = entry.serial
                index.entries.append(entry)
                for path, data in files.items():
                    if data is None:
                        txn.remove(path)
                    else:
                        txn.write(path, data)
            txn.write(self.index_path, index.to_bytes())
        return [entry for entry, _ in built]

    def _build_leaf(self, leaf: _Leaf, issuing, issuing_key, key_password: bytes | None, key_type: str):
        """(the index entry, {path: bytes to write, or None to remove}) for one leaf; nothing written yet."""
        from cryptography.hazmat.primitives.serialization import Encoding

        from wsctl.pki import builder
        from wsctl.pki.identity import fingerprint

        spec, renewing = leaf.spec, leaf.renewing
        public_key, new_key = leaf.public_key, None
        if public_key is None:
            new_key = keys.generate_key(key_type)
            public_key = new_key.public_key()
        cert = builder.build_leaf(spec, public_key, issuing, issuing_key)
        paths = self.leaf_paths(spec.kind, spec.name)
        has_key = new_key is not None or (leaf.keep_key and renewing is not None and renewing.has_key)
        entry = Entry(
            serial=cert.serial_number,
            name=spec.name,
            kind=spec.kind,
            role=spec.role,
            not_after=cert.not_valid_after_utc,
            status="valid",
            paths=paths,
            not_before=cert.not_valid_before_utc,
            dns=list(spec.dns),
            ips=[str(i) for i in spec.ips],
            fingerprint=fingerprint(cert.public_bytes(Encoding.DER)),
            key_type=keys.key_type_of(public_key),
            has_key=has_key,
            key_encrypted=(key_password is not None)
            if new_key is not None
            else bool(renewing and renewing.key_encrypted and has_key),
            issued_at=builder.now(),
        )
        files: dict[Path, bytes | None] = {paths.cert: _pem(cert), paths.chain: _pem(cert) + _pem(issuing)}
        if new_key is not None:
            files[paths.key] = keys.serialize_private_key(new_key, key_password)
        elif not has_key:
            # a re-issue from a CSR must not leave a previous key next to a cert it does not match
            files[paths.key] = None
        return entry, files
