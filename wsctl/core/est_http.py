"""The HTTP side of EST (RFC 7030) that needs no I/O: routes, headers, bodies.

Everything a client sends passes through one of these parsers before anything
else looks at it, so each one is total: it returns a value or raises
`EstRequestError` with the HTTP status the client gets, never anything else.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re

#: RFC 7030 section 3.2.2: the operations this server answers, with their method
OPERATIONS = {"cacerts": "GET", "csrattrs": "GET", "simpleenroll": "POST", "simplereenroll": "POST"}
PREFIX = "/.well-known/est/"
#: a label is one path segment; kept to what is also a safe file and log token
LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
#: the content types of RFC 7030 sections 4.1.3, 4.2.1, 4.5.2
PKCS10 = "application/pkcs10"
PKCS7_CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"
CSRATTRS = "application/csrattrs"


class EstRequestError(Exception):
    """A request refused before it reaches the CA: the status and one line for the client."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclasses.dataclass(frozen=True)
class Route:
    label: str | None
    operation: str


def parse_route(target: bytes) -> Route:
    """`/.well-known/est/[LABEL/]OPERATION` (a query string is ignored); 404 otherwise."""
    try:
        path = target.split(b"?", 1)[0].decode("ascii")
    except UnicodeDecodeError:
        raise EstRequestError(404, "not an EST path") from None
    if not path.startswith(PREFIX):
        raise EstRequestError(404, f"not an EST path: EST lives under {PREFIX}")
    parts = path[len(PREFIX) :].split("/")
    if len(parts) == 1:
        label, operation = None, parts[0]
    elif len(parts) == 2:
        label, operation = parts
        if not LABEL_RE.match(label) or label in OPERATIONS:
            raise EstRequestError(404, "not an EST label")
    else:
        raise EstRequestError(404, "not an EST path")
    if operation not in OPERATIONS:
        raise EstRequestError(404, f"unknown EST operation; this server answers {', '.join(OPERATIONS)}")
    return Route(label, operation)


def check_method(route: Route, method: bytes) -> None:
    allowed = OPERATIONS[route.operation]
    if method.decode("ascii", "replace") != allowed:
        raise EstRequestError(405, f"{route.operation} takes {allowed}", (("Allow", allowed),))


def media_type(value: bytes | None) -> str | None:
    """The type/subtype of a Content-Type header, lower case, parameters dropped."""
    if value is None:
        return None
    return value.split(b";", 1)[0].strip().decode("latin-1").lower()


def check_pkcs10(content_type: bytes | None) -> None:
    found = media_type(content_type)
    if found != PKCS10:
        raise EstRequestError(415, f"an enrollment request is {PKCS10} (base64), not {found or 'untyped'}")


def parse_basic(value: bytes) -> tuple[str, str]:
    """(user, password) of an `Authorization: Basic` header; 401 if it is anything else."""
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        raise EstRequestError(401, "only HTTP Basic authorization is understood here")
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise EstRequestError(401, "the Basic credentials are not base64 of UTF-8 user:password") from None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise EstRequestError(401, "the Basic credentials have no user:password")
    return user, password


_PEM_LINE = re.compile(rb"^-----(BEGIN|END) [A-Z0-9 ]+-----$")


def decode_base64_body(body: bytes, *, what: str = "request") -> bytes:
    """The DER inside a base64 body (RFC 7030 / RFC 8951: always base64, line breaks allowed).

    PEM armour is tolerated (some device stacks send their CSR as PEM); anything
    that is not base64 is a 400.
    """
    lines = [line.strip() for line in body.splitlines()]
    text = b"".join(line for line in lines if line and not _PEM_LINE.match(line))
    if not text:
        raise EstRequestError(400, f"the {what} body is empty: expected a base64 PKCS#10 request")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EstRequestError(400, f"the {what} body is not base64") from None


def encode_base64_body(der: bytes) -> bytes:
    """Base64 in 64-character lines ending in LF: what `base64 -d` and `openssl base64 -d`
    both read (GNU base64 refuses the CR of CRLF lines)."""
    text = base64.b64encode(der)
    return b"".join(text[i : i + 64] + b"\n" for i in range(0, len(text), 64))


_DURATION_RE = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in `90s`, `15m`, `1h`, `7d`; ValueError otherwise (or if zero)."""
    found = _DURATION_RE.match(text.strip())
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 1h or 7d")
    return int(found.group(1)) * _UNIT[found.group(2)]
