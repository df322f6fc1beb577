"""EST labels (RFC 7030 section 3.2.2): one enrollment policy per `/.well-known/est/LABEL/`.

A label says what it issues (device or operator certificates), which first-
enrollment proofs it accepts, whether a person approves each request, and the
names it certifies when the proof itself carries none (a bootstrap certificate
or a Basic account proves who asks, not which DNS names that device has).
The first label given also answers the unlabelled `/.well-known/est/`.
"""

from __future__ import annotations

import dataclasses

from wsctl.core.errors import InvalidInput
from wsctl.core.est_http import LABEL_RE, OPERATIONS
from wsctl.pki import names

#: first-enrollment proofs: a manufacturer (IDevID) certificate, a standing
#: HTTP Basic account, a one-time enrollment code (sent as the Basic password)
AUTH_MODES = ("bootstrap", "basic", "code")
SPEC_KEYS = ("kind", "auth", "domain", "role", "days", "approve")


@dataclasses.dataclass(frozen=True)
class Label:
    name: str
    kind: str = "device"
    auth: tuple[str, ...] = ("code",)
    approve: bool = False
    #: devices enrolled by bootstrap certificate or Basic account get DNS NAME.DOMAIN
    domain: str | None = None
    #: the role of operators enrolled by bootstrap certificate or Basic account
    role: str | None = None
    days: int | None = None

    def names_for(self, name: str) -> tuple[tuple[str, ...], str | None]:
        """(DNS names, role) this label certifies for NAME without an operator's say."""
        dns = (f"{name}.{self.domain}",) if self.domain and self.kind == "device" else ()
        return dns, self.role if self.kind == "operator" else None

    def needs_person(self) -> bool:
        """Whether a bootstrap or Basic enrollment must wait for `wsctl certs approve`."""
        if self.approve:
            return True
        return (self.kind == "device" and not self.domain) or (self.kind == "operator" and not self.role)


def parse_label(spec: str) -> Label:
    """`LABEL[:key=value,...]`, e.g. `device:auth=bootstrap+code,domain=plant.local`
    or `operators:kind=operator,auth=basic,role=observer,approve`."""
    label, _, options = spec.partition(":")
    if not LABEL_RE.match(label) or label in OPERATIONS:
        raise InvalidInput(
            f"invalid EST label {label!r}: lower-case letters, digits and '-' (1-63), not an operation name"
        )
    fields: dict[str, object] = {}
    for item in filter(None, options.split(",")):
        key, sep, value = item.partition("=")
        if key not in SPEC_KEYS:
            raise InvalidInput(f"EST label {label}: unknown setting {key!r}; known: {', '.join(SPEC_KEYS)}")
        if key == "approve":
            if sep:
                raise InvalidInput(f"EST label {label}: 'approve' takes no value")
            fields["approve"] = True
        elif not value:
            raise InvalidInput(f"EST label {label}: {key} needs a value ({key}=...)")
        else:
            fields[key] = _setting(label, key, value)
    return check_label(Label(name=label, **fields))  # type: ignore[arg-type]


def _setting(label: str, key: str, value: str) -> object:
    if key == "kind":
        return names.check_kind(value)
    if key == "auth":
        modes = tuple(dict.fromkeys(value.split("+")))
        unknown = [m for m in modes if m not in AUTH_MODES]
        if unknown:
            raise InvalidInput(f"EST label {label}: unknown auth {unknown[0]!r}; choose from {', '.join(AUTH_MODES)}")
        return modes
    if key == "domain":
        return names.check_dns(value)
    if key == "role":
        return names.check_role(value)
    if not value.isdigit():
        raise InvalidInput(f"EST label {label}: days must be a whole number")
    return names.check_days(int(value))


def check_label(label: Label) -> Label:
    if label.role is not None and label.kind != "operator":
        raise InvalidInput(f"EST label {label.name}: role= is for kind=operator")
    if label.domain is not None and label.kind != "device":
        raise InvalidInput(f"EST label {label.name}: domain= is for kind=device")
    return label


def check_labels(labels: list[Label]) -> list[Label]:
    """Distinct names; at least one label (the default one when none is given)."""
    if not labels:
        return [Label(name="default")]
    seen = [lb.name for lb in labels]
    duplicate = next((n for n in seen if seen.count(n) > 1), None)
    if duplicate:
        raise InvalidInput(f"EST label {duplicate} is given twice")
    return labels
