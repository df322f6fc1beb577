"""The tool's identity for the device behind the recording proxy, as a header.

The device sees the proxy's operator certificate; with ``record proxy
--forward-client-cert`` the proxy also tells it who the real tool is, in
Envoy's ``x-forwarded-client-cert`` (XFCC) form, so the device's audit log
can name the tool and not only the proxy's operator:

    x-forwarded-client-cert: Hash=5e…;Subject="CN=bob,OU=operator,O=Plant";URI=urn:wsctl:operator:bob;Role=operator

``Hash`` is the SHA-256 of the tool certificate (DER, hex), ``Subject`` its
subject (RFC 4514), ``URI`` its wsctl URN when it has one, ``Role`` (wsctl's
addition; Envoy has no such key) the role read from it.  A value with
``,;="`` is double-quoted with ``\\`` escaping ``"`` and ``\\``; characters
outside printable ASCII (and ``%``) are percent-encoded as UTF-8, because an
HTTP header carries no other text safely.  The proxy never passes on a header
of this name that a tool sent (it passes on no tool header at all): only the
proxy writes it.
"""

from __future__ import annotations

from typing import Any

HEADER = "x-forwarded-client-cert"


def _encode(value: str) -> str:
    out = []
    for char in value:
        if char == "%" or not " " <= char <= "~":
            out.append("".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass")))
        else:
            out.append(char)
    text = "".join(out)
    if any(c in text for c in ',;="'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def header_value(identity: Any) -> str:
    """The XFCC element for one tool certificate (`wsctl.pki.identity.Identity`)."""
    fields = [("Hash", identity.fingerprint.removeprefix("sha256:")), ("Subject", identity.subject)]
    if identity.uri:
        fields.append(("URI", identity.uri))
    if identity.role:
        fields.append(("Role", identity.role))
    return ";".join(f"{key}={_encode(value)}" for key, value in fields)
