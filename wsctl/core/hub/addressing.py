"""Where a device dials in and where an operator finds it, as path templates.

A device's path carries its id (OCPP-J: ``/ocpp/<chargeBoxId>``); the template
comes from ``--device-path`` or the profile's ``[transport] path`` — written
with ``{id}`` (``/ocpp/{id}``), or, as the shipped charger profiles do, as one
example path (``/ocpp/CP-0001``) whose last segment is the id.  Operators
always address a device as ``/devices/<id>``; who is a device and who is an
operator is decided by the credentials, never by the path, so one template
may equal the other.

Ids are matched as one whole path segment: no percent-decoding (an encoded
``/`` could otherwise smuggle a second segment), and the query string is not
part of the id.
"""

from __future__ import annotations

from dataclasses import dataclass

from wsctl.core.errors import InvalidInput

PLACEHOLDER = "{id}"
OPERATOR_TEMPLATE = "/devices/{id}"


@dataclass(frozen=True)
class PathTemplate:
    """``prefix`` + id + ``suffix``; the id is one non-empty segment."""

    prefix: str
    suffix: str = ""

    @property
    def text(self) -> str:
        return f"{self.prefix}{PLACEHOLDER}{self.suffix}"

    def match(self, path: str) -> str | None:
        """The raw id in ``path`` (query string ignored), or None."""
        path = path.split("?", 1)[0]
        if not (path.startswith(self.prefix) and path.endswith(self.suffix)):
            return None
        raw = path[len(self.prefix) : len(path) - len(self.suffix)]
        if not raw or "/" in raw:
            return None
        return raw

    def path_for(self, device_id: str) -> str:
        return f"{self.prefix}{device_id}{self.suffix}"


def template(text: str) -> PathTemplate:
    """Parse a template with exactly one ``{id}`` that is a whole segment."""
    if not text.startswith("/"):
        raise InvalidInput(f"device path template {text!r} must start with '/'")
    if text.count(PLACEHOLDER) != 1:
        raise InvalidInput(f"device path template {text!r} must contain {PLACEHOLDER} exactly once")
    prefix, suffix = text.split(PLACEHOLDER)
    if not prefix.endswith("/") or (suffix and not suffix.startswith("/")):
        raise InvalidInput(f"device path template {text!r}: {PLACEHOLDER} must be a whole path segment")
    if "{" in prefix + suffix or "}" in prefix + suffix:
        raise InvalidInput(f"device path template {text!r}: only {PLACEHOLDER} may be in braces")
    return PathTemplate(prefix, suffix)


def device_template(profile_path: str | None, override: str | None = None) -> PathTemplate:
    """The template devices of a profile dial: ``override``, the profile's own
    template, or the profile's example path with its last segment as the id."""
    if override:
        return template(override)
    if profile_path and PLACEHOLDER in profile_path:
        return template(profile_path)
    parent = (profile_path or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[0]
    if parent:
        return template(f"{parent}/{PLACEHOLDER}")
    # "/rpc", "/": no segment says where the id goes; /{id} would take any path
    return template(OPERATOR_TEMPLATE)


OPERATOR = template(OPERATOR_TEMPLATE)
