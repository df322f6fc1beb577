"""Who may connect to a hub, decided from what the upgrade request shows.

Two steps, both pure.  `claim` reads a request: an operator certificate makes
an operator (the device id from ``/devices/<id>``); a device certificate, or
no certificate but HTTP Basic credentials, makes a device (the id from the
device path template).  `decide` then judges the claim against the device's
registry record, with the password check done by the caller (it needs the
registry's hash):

* security profile 3 (mTLS): the certificate's identity — its wsctl device
  name, or its CN as vendor PKIs write the charge box id — must equal the id
  in the path, or the upgrade is refused with 403 (OCPP requires the binding);
* security profile 2 (TLS + Basic): user = the device id, password = the
  device's secret; a device registered for profile 3 is never admitted with a
  password;
* security profile 1 (plain ws + Basic): only on the plaintext listener, only
  for devices registered for profile 1 (which may also log in over TLS: a
  device may move up a profile, never down);
* unknown devices are refused, or admitted as *pending* when the hub runs in
  approval mode; blocked devices are refused.

Refusals say why in one line (HTTP body, access log) and carry a
``Wsctl-Refusal`` header so wsctl's own clients can map them to exit codes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.addressing import OPERATOR, PathTemplate
from wsctl.core.hub.ids import check_device_id

#: header naming the kind of refusal for wsctl clients (exit codes)
REFUSAL_HEADER = "Wsctl-Refusal"
BASIC_CHALLENGE = ("WWW-Authenticate", 'Basic realm="wsctl hub", charset="UTF-8"')


@dataclass(frozen=True)
class Claim:
    """What a connection says it is, before the registry is asked."""

    kind: str  # "device" | "operator"
    device_id: str
    #: operator name / certificate identity, for the log
    who: str
    role: str | None = None
    #: the security profile the credentials correspond to (3: certificate, 2/1: Basic)
    security_profile: int = 3
    password: str | None = None


@dataclass(frozen=True)
class Refuse:
    status: int
    reason: str
    kind: str
    headers: tuple[tuple[str, str], ...] = ()

    def all_headers(self) -> tuple[tuple[str, str], ...]:
        return ((REFUSAL_HEADER, self.kind), *self.headers)


@dataclass(frozen=True)
class AdmitDevice:
    device_id: str
    security_profile: int
    #: a new device: the caller registers it as pending (approval mode)
    register_pending: bool = False
    pending: bool = False
    #: with register_pending, of the password a profile 1 or 2 device presented:
    #: approving the device approves that password (set by the hub, which hashes)
    secret_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AdmitOperator:
    device_id: str
    operator: str
    role: str | None


Decision = AdmitDevice | AdmitOperator | Refuse


def basic_credentials(headers: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, None without one
    or when it does not decode (one rule: undecodable = absent)."""
    values = [v for k, v in headers if k.lower() == "authorization"]
    if len(values) != 1:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def claim(
    identity: Any,
    path: str,
    headers: tuple[tuple[str, str], ...],
    device_paths: Sequence[PathTemplate],
    *,
    plaintext: bool,
) -> Claim | Refuse:
    """Read a request; ``identity`` is the verified client certificate's (or
    None); ``device_paths`` are the templates devices may dial, first match wins."""
    found = _claim(identity, path, headers, device_paths, plaintext=plaintext)
    if isinstance(found, Claim):
        try:
            check_device_id(found.device_id)
        except InvalidInput as exc:
            return Refuse(400, f"bad device id in the path: {exc.message}", "not-found")
    return found


def _claim(
    identity: Any,
    path: str,
    headers: tuple[tuple[str, str], ...],
    device_paths: Sequence[PathTemplate],
    *,
    plaintext: bool,
) -> Claim | Refuse:
    if identity is not None and getattr(identity, "kind", None) == "operator":
        device_id = OPERATOR.match(path)
        if device_id is None:
            return Refuse(404, f"operators address a device as {OPERATOR.text}, not {path}", "not-found")
        return Claim("operator", device_id, identity.name, role=identity.role)
    device_id = next((found for t in device_paths if (found := t.match(path)) is not None), None)
    if device_id is None:
        known = ", ".join(t.text for t in device_paths)
        return Refuse(404, f"devices dial {known}, not {path}", "not-found")
    if identity is not None:
        return Claim("device", device_id, _cert_name(identity) or "?", security_profile=3)
    creds = basic_credentials(headers)
    if creds is None:
        return Refuse(
            401,
            f"{device_id}: a client certificate (security profile 3) or HTTP Basic credentials (profile 2) are needed",
            "credentials",
            (BASIC_CHALLENGE,),
        )
    user, password = creds
    if user != device_id:
        return Refuse(403, f"{device_id}: Basic user {user!r} is not the device id in the path", "identity-mismatch")
    return Claim("device", device_id, user, security_profile=1 if plaintext else 2, password=password)


def _cert_name(identity: Any) -> str | None:
    return getattr(identity, "name", None) or getattr(identity, "common_name", None)


def cert_names(identity: Any) -> set[str]:
    """The names a device certificate may bind: wsctl's device name and the CN."""
    return {n for n in (getattr(identity, "name", None), getattr(identity, "common_name", None)) if n}


def decide(
    found: Claim,
    record: Any,
    *,
    identity: Any = None,
    secret_ok: bool = False,
    approval: bool = False,
) -> Decision:
    """Judge a claim against the device's registry record (None: unknown)."""
    if found.kind == "operator":
        if record is None:
            return Refuse(404, f"no device {found.device_id} in this hub's registry", "unknown-device")
        return AdmitOperator(found.device_id, found.who, found.role)
    if found.security_profile == 3 and found.device_id not in cert_names(identity):
        names = ", ".join(sorted(cert_names(identity))) or "no name"
        return Refuse(403, f"certificate names {names}, not {found.device_id}", "identity-mismatch")
    if record is None:
        if approval:
            return AdmitDevice(found.device_id, found.security_profile, register_pending=True, pending=True)
        return Refuse(403, f"unknown device {found.device_id} (register it: wsctl hub devices add)", "unknown-device")
    if record.status == "blocked":
        return Refuse(403, f"device {found.device_id} is blocked", "blocked")
    if found.security_profile < 3:
        if record.security_profile == 3:
            return Refuse(
                403, f"{found.device_id} is registered for security profile 3: a certificate is needed", "credentials"
            )
        if found.security_profile < record.security_profile:
            # a device may move up (plain ws -> TLS), never down
            return Refuse(
                403,
                f"{found.device_id} is registered for security profile {record.security_profile}, "
                f"not {found.security_profile}",
                "credentials",
            )
        if not secret_ok:
            return Refuse(401, f"{found.device_id}: wrong password", "credentials", (BASIC_CHALLENGE,))
    return AdmitDevice(found.device_id, found.security_profile, pending=record.status == "pending")
