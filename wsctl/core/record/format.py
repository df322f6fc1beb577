"""The recording format `wsctl-record/1`: JSON Lines, one header, one line per event.

Theory of operation.  A recording is a text file of JSON objects, one per
line.  The first line is the `Header`; every further line is an `Event`.  Lines
are independent, so a reader can stream a recording of any size, and a writer
that dies mid-line (``kill -9``, power cut) leaves every earlier line intact.
docs/record-format.md documents every field; this module is the code of that
document and nothing here does I/O.

Directions are from the tool's point of view: ``out`` is tool → device (what an
operator sent), ``in`` is device → tool.  The recording proxy writes what its
clients send upstream as ``out`` and what the device answers as ``in``, so a
proxy recording replays like a client recording.

Text keeps its exact characters (``\\r\\n``, non-BMP characters, even lone
surrogates, which JSON can escape); binary is base64 (``b64``), so both are
lossless.  Times: ``t`` seconds since the recording started on a monotonic clock
(the timing replay uses), ``wall`` the epoch time for humans and HAR.
"""

from __future__ import annotations

import base64
import binascii
import json
import json.encoder
import math
import re
from dataclasses import dataclass, field
from typing import Any

from wsctl.core.errors import InvalidInput, WsctlError
from wsctl.core.unicode_text import has_lone_surrogate

FORMAT_PREFIX = "wsctl-record/"
VERSION = 1
FORMAT = f"{FORMAT_PREFIX}{VERSION}"

KINDS = ("open", "text", "binary", "ping", "pong", "close", "error", "gap")
MESSAGE_KINDS = ("text", "binary")
DIRECTIONS = ("out", "in")
#: times (``t``, ``wall``, ``started``, ``delay``) beyond ±this many seconds
#: (the year 2286) are refused: every reader turns them into dates and sums
TIME_LIMIT = 1e10
#: how deep the extra fields of an event may nest (JSON that deep is an attack,
#: and would exhaust the recursion of whoever encodes it again)
MAX_DEPTH = 32
#: a format version as written after FORMAT_PREFIX
_VERSION_DIGITS = re.compile(r"[0-9]{1,9}")


class RecordFormatError(InvalidInput):
    """A line or file that is not (this version of) the recording format; exit 8."""

    cause = "record_format"


class RecordingError(WsctlError):
    """Writing a recording failed (disk full, I/O error); what was written is kept."""

    cause = "recording"


@dataclass(frozen=True, slots=True)
class Header:
    """The first line of every recording file (and of every rotated part)."""

    #: the device URL (client recordings) or the upstream URL (proxy)
    url: str | None = None
    #: subprotocol negotiated on the first connection
    subprotocol: str | None = None
    #: profile id the session spoke, when known (decoding in `record show`)
    profile: str | None = None
    #: sha256 fingerprints: {"tool": our client certificate, "device": the device's}
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    #: epoch seconds at t = 0
    started: float = 0.0
    #: wsctl version that wrote the file
    wsctl: str = ""
    #: "client" (record capture, watch/connect --record), "proxy", "hub" (wsctl hub --record-dir), "har" (imported)
    source: str = "client"
    #: 0 for FILE, n for the rotated part FILE.n
    part: int = 0
    #: the format version the file was written in (migrated files keep their origin here)
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": f"{FORMAT_PREFIX}{VERSION}",
            "wsctl": self.wsctl,
            "url": self.url,
            "subprotocol": self.subprotocol,
            "profile": self.profile,
            "fingerprints": dict(self.fingerprints),
            "started": self.started,
            "source": self.source,
            "part": self.part,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened on a connection.

    ``data`` is ``str`` for text, ``bytes`` for binary (and for ping/pong
    payloads), else None.  ``error`` carries the message of an ``error`` or
    ``gap`` event; ``delay``/``attempt`` say how long a ``gap`` waited and which
    retry followed.  ``info`` holds the extra fields of an ``open`` event (peer
    identity, fingerprint, subprotocol, url) and round-trips any key a newer
    minor writer added.
    """

    t: float
    kind: str
    dir: str | None = None
    conn: int = 0
    wall: float | None = None
    data: str | bytes | None = None
    code: int | None = None
    reason: str | None = None
    error: str | None = None
    delay: float | None = None
    attempt: int | None = None
    info: dict[str, Any] | None = None

    @property
    def is_message(self) -> bool:
        return self.kind in MESSAGE_KINDS

    @property
    def size(self) -> int:
        data = self.data
        if data is None:
            return 0
        return len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))


def _dumps(obj: dict[str, Any]) -> str:
    # ensure_ascii=False keeps text readable in the file; a lone surrogate
    # (only possible from Python callers, never from the wire) cannot be
    # written as UTF-8, so that line alone falls back to \u escapes
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text


def encode_header(header: Header) -> str:
    """The header as one line, newline included."""
    return _dumps(header.to_dict()) + "\n"


def event_to_dict(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"t": round(event.t, 6)}
    if event.wall is not None:
        out["wall"] = round(event.wall, 6)
    out["conn"] = event.conn
    if event.dir is not None:
        out["dir"] = event.dir
    out["kind"] = event.kind
    data = event.data
    if isinstance(data, (bytes, bytearray, memoryview)):
        out["b64"] = base64.b64encode(bytes(data)).decode("ascii")
    elif data is not None:
        out["data"] = data
    for key in ("code", "reason", "error", "delay", "attempt"):
        value = getattr(event, key)
        if value is not None:
            out[key] = value
    if event.info:
        for key, value in event.info.items():
            out.setdefault(key, value)
    return out


# the C string encoder json.dumps uses: one call per message on the hot path
_quote = json.encoder.encode_basestring


def encode_message(t: float, wall: float, conn: int, direction: str, message: str | bytes) -> str:
    """The line of a text or binary message event, built directly (the
    recorder's hot path: ~3x faster than `encode_event`, same meaning)."""
    if isinstance(message, str):
        return f'{{"t":{t:.6f},"wall":{wall:.6f},"conn":{conn},"dir":"{direction}","kind":"text","data":{_quote(message)}}}\n'
    b64 = base64.b64encode(message).decode("ascii")
    return f'{{"t":{t:.6f},"wall":{wall:.6f},"conn":{conn},"dir":"{direction}","kind":"binary","b64":"{b64}"}}\n'


def message_head(conn: int, direction: str, binary: bool) -> str:
    """The part of a message event's line between its ``wall`` and its data
    (the same for every message of one connection, direction and kind)."""
    if binary:
        return f',"conn":{conn},"dir":"{direction}","kind":"binary","b64":'
    return f',"conn":{conn},"dir":"{direction}","kind":"text","data":'


def _b64_quoted(message: bytes) -> str:
    return '"' + base64.b64encode(message).decode("ascii") + '"'


def _wall_of(item: tuple[float, float, str, str | bytes]) -> float:
    return item[1]


def encode_messages(batch: list[tuple[float, float, str, str | bytes]], t0: float) -> list[str]:
    """The lines of a batch of messages, each ``(clock, wall, head, message)``
    (``head`` from `message_head`, ``t`` = clock - ``t0``): the recorder
    encodes a batch when it writes it, in one go.  Each line is exactly what
    `encode_message` gives for that message.

    Formatting an epoch time (16 digits) to 6 decimals is the dearest part
    of a line (float formatting falls back to big-number arithmetic past 14
    digits), so when the batch's walls lie within one window of 100 s, as a
    batch of 0.2 s does, each line formats only ``wall - base`` for a base that
    is a multiple of 100 and prints the base's leading digits before it.
    That is the same text: ``wall - base`` is exact (Sterbenz: the two are
    within a factor of 2), so rounding it to 6 decimals rounds ``wall``."""
    quote, b64 = _quote, _b64_quoted
    walls = list(map(_wall_of, batch))
    if walls:
        low, high, total = min(walls), max(walls), sum(walls)
        if 200.0 <= low and high < TIME_LIMIT and total - total == 0.0:  # finite (min, max skip a NaN)
            base = float(int(low) // 100 * 100)
            if high - base < 99.5:  # two digits before the point, never a carry into the base
                digits = str(int(base) // 100)
                return [
                    f'{{"t":{clock - t0:.6f},"wall":{digits}{wall - base:09.6f}{head}{quote(m) if type(m) is str else b64(m)}}}\n'  # type: ignore[arg-type]
                    for clock, wall, head, m in batch
                ]
    return [
        f'{{"t":{clock - t0:.6f},"wall":{wall:.6f}{head}{quote(m) if type(m) is str else b64(m)}}}\n'  # type: ignore[arg-type]
        for clock, wall, head, m in batch
    ]


def encode_event(event: Event) -> str:
    """The event as one line, newline included."""
    return _dumps(event_to_dict(event)) + "\n"


EVENT_KEYS = frozenset(
    ("t", "wall", "conn", "dir", "kind", "data", "b64", "code", "reason", "error", "delay", "attempt")
)


def seconds(value: Any, *, low: float = -TIME_LIMIT) -> float | None:
    """``value`` as seconds when it is a number within ``low`` … `TIME_LIMIT`, else None
    (NaN, infinities and integers too large for a float included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not -(2**63) < value < 2**63:
        return None  # float() of a 400-digit JSON integer overflows
    number = float(value)
    return number if math.isfinite(number) and low <= number <= TIME_LIMIT else None


def _number(doc: dict[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = doc.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordFormatError(f"'{key}' must be a number, got {shown(value)}")
    number = seconds(value)
    if number is None:
        raise RecordFormatError(f"'{key}' must be seconds within ±{TIME_LIMIT:g}, got {shown(value)}")
    return number


def shown(value: Any) -> str:
    """A bad value for an error line: short, and never a crash (a value may be
    NaN, a huge integer or nested deeply)."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (ValueError, TypeError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def event_has_lone_surrogate(event: Event) -> bool:
    """True when any string of ``event`` (its text, reason, error, extra fields) holds an unpaired surrogate."""
    if isinstance(event.data, str) and has_lone_surrogate(event.data):
        return True
    if event.reason is None and event.error is None and not event.info:
        return False  # every message event: its text was all there was to look at
    return has_lone_surrogate([event.reason, event.error, event.info])


def _depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests no deeper than ``limit`` lists and objects."""
    if isinstance(value, dict):
        return limit > 0 and all(_depth(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return limit > 0 and all(_depth(v, limit - 1) for v in value)
    return True


def event_from_dict(doc: Any) -> Event:
    """Check and convert a parsed event line (current version)."""
    if not isinstance(doc, dict):
        raise RecordFormatError("an event line must be a JSON object")
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise RecordFormatError(f"unknown event kind {shown(kind)}")
    t = _number(doc, "t")
    direction = doc.get("dir")
    if direction is not None and direction not in DIRECTIONS:
        raise RecordFormatError(f'\'dir\' must be "out" or "in", got {shown(direction)}')
    conn = doc.get("conn", 0)
    if isinstance(conn, bool) or not isinstance(conn, int):
        raise RecordFormatError(f"'conn' must be an integer, got {shown(conn)}")
    data: str | bytes | None = None
    if "b64" in doc:
        try:
            data = base64.b64decode(doc["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise RecordFormatError("'b64' is not valid base64") from None
    elif "data" in doc:
        data = doc["data"]
        if not isinstance(data, str):
            raise RecordFormatError("'data' must be a string (binary goes in 'b64')")
    if kind == "text" and not isinstance(data, str):
        raise RecordFormatError("a text event needs 'data'")
    if kind == "binary" and not isinstance(data, bytes):
        raise RecordFormatError("a binary event needs 'b64'")
    if direction is None and kind in MESSAGE_KINDS:
        raise RecordFormatError(f'a {kind} event needs \'dir\' ("out" or "in")')
    code = doc.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise RecordFormatError(f"'code' must be an integer, got {shown(code)}")
    attempt = doc.get("attempt")
    extra = {k: v for k, v in doc.items() if k not in EVENT_KEYS}
    if not _depth(extra, MAX_DEPTH + 1):
        raise RecordFormatError(f"fields nested deeper than {MAX_DEPTH} levels")
    return Event(
        t=t,  # type: ignore[arg-type]
        kind=kind,
        dir=direction,
        conn=conn,
        wall=_number(doc, "wall", optional=True),
        data=data,
        code=code,
        reason=_opt_str(doc, "reason"),
        error=_opt_str(doc, "error"),
        delay=_number(doc, "delay", optional=True),
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
        info=extra or None,
    )


def _opt_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise RecordFormatError(f"'{key}' must be a string")
    return value


def parse_version(doc: Any) -> int | None:
    """The version number of a header document, None when it is not a header."""
    if not isinstance(doc, dict):
        return None
    fmt = doc.get("format")
    if not isinstance(fmt, str) or not fmt.startswith(FORMAT_PREFIX):
        return None
    number = fmt[len(FORMAT_PREFIX) :]
    # ASCII digits only, and few: str.isdigit() takes '²' and '١' (int() reads
    # the one as 1, fails on the other), and int() refuses over 4300 digits
    if not _VERSION_DIGITS.fullmatch(number):
        raise RecordFormatError(f"unreadable format version {shown(fmt)}")
    return int(number)


def header_from_dict(doc: dict[str, Any], *, version: int = VERSION) -> Header:
    """Check and convert a header document already migrated to the current version."""
    fingerprints = doc.get("fingerprints") or {}
    if not isinstance(fingerprints, dict) or not all(v is None or isinstance(v, str) for v in fingerprints.values()):
        raise RecordFormatError("'fingerprints' must be an object of strings")
    started = doc.get("started", 0.0)
    if seconds(started, low=0.0) is None:
        raise RecordFormatError(f"'started' must be epoch seconds, got {shown(started)}")
    part = doc.get("part", 0)
    for key in ("url", "subprotocol", "profile", "wsctl", "source"):
        _opt_str(doc, key)
    return Header(
        url=doc.get("url"),
        subprotocol=doc.get("subprotocol"),
        profile=doc.get("profile"),
        fingerprints={str(k): v for k, v in fingerprints.items()},
        started=float(started),
        wsctl=doc.get("wsctl") or "",
        source=doc.get("source") or "client",
        part=part if isinstance(part, int) and not isinstance(part, bool) else 0,
        version=version,
    )


def decode_line(line: str | bytes) -> Header | Event:
    """One line of the current version → `Header` or `Event` (RecordFormatError if neither).

    Older versions go through `wsctl.core.record.reader`, which migrates them.
    """
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise RecordFormatError(f"not JSON: {str(exc)[:80]}") from None
    version = parse_version(doc)
    if version is not None:
        if version != VERSION:
            raise RecordFormatError(f"format {doc['format']} is not {FORMAT}")
        return header_from_dict(doc)
    return event_from_dict(doc)
