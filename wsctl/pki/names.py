"""Validation of everything a certificate names: store names, DNS names, IPs, roles.

Checked before any key is generated, so bad input never reaches the store.
"""

from __future__ import annotations

import ipaddress
import re

from wsctl.core.errors import InvalidInput

#: OPC UA's well-known role names (Part 3 / Part 18), the vocabulary profiles use
ROLES = ("observer", "operator", "engineer", "supervisor", "configure-admin", "security-admin")

KINDS = ("device", "operator")

# a store name becomes a directory and part of a URN, so: no separators, no dots first;
# `match` with \Z, never `$`, which also matches before a final newline
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
# custom roles still land in an OU and in profiles' role lists: keep them tame
_ROLE_RE = re.compile(r"[a-z][a-z0-9-]{0,63}\Z")


def is_name(name: object) -> bool:
    """Is ``name`` a store name (what `check_name` accepts)?"""
    return isinstance(name, str) and _NAME_RE.match(name) is not None


def check_name(name: str) -> str:
    if not is_name(name):
        raise InvalidInput(
            f"invalid name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"invalid kind {kind!r}: device or operator")
    return kind


def check_dns(host: str) -> str:
    """A DNS name as it goes into a SAN: lower-case A-labels, optional leading '*.' wildcard."""
    original = host
    host = host.strip().rstrip(".")
    if not host or len(host) > 253:
        raise InvalidInput(f"invalid DNS name {original!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise InvalidInput(f"{original!r} is an IP address; pass it with --ip, not --dns")
    labels = host.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        labels = labels[1:]
        if len(labels) < 2:
            raise InvalidInput(f"invalid DNS name {original!r}: a wildcard needs at least two labels after '*.'")
    out = []
    for label in labels:
        try:
            ascii_label = label.encode("idna").decode("ascii").lower() if not label.isascii() else label.lower()
        except UnicodeError:
            raise InvalidInput(f"invalid DNS name {original!r}: label {label!r} is not a valid IDN") from None
        if not _LABEL_RE.match(ascii_label):
            raise InvalidInput(f"invalid DNS name {original!r}: label {label!r} (letters, digits, '-'; 1-63 chars)")
        out.append(ascii_label)
    if all(label.isdigit() for label in out):
        raise InvalidInput(f"invalid DNS name {original!r}")
    return ".".join((["*"] if wildcard else []) + out)


def check_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidInput(f"invalid IP address {text!r}") from None


def check_role(role: str | None, *, allow_custom: bool = False) -> str:
    if not role:
        raise InvalidInput(f"an operator certificate needs a role: one of {', '.join(ROLES)}")
    if role in ROLES:
        return role
    if allow_custom and _ROLE_RE.match(role):
        return role
    if allow_custom:
        raise InvalidInput(f"invalid role {role!r}: lower-case letters, digits and '-', starting with a letter")
    raise InvalidInput(
        f"unknown role {role!r}: one of {', '.join(ROLES)} (or --allow-custom-role for a site-specific one)"
    )


def check_days(days: int, *, what: str = "validity") -> int:
    if not isinstance(days, int) or days < 1 or days > 36500:
        raise InvalidInput(f"invalid {what} {days!r} days: between 1 and 36500")
    return days


def host_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching: exact, or one left-most '*' label covering exactly one label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == host:
        return True
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return False
