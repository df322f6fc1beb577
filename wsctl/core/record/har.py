"""HAR 1.2 ↔ recordings, for the WebSocket messages browsers' DevTools show.

Export: one HAR entry per connection — the upgrade request, ``response.status``
101, ``"_resourceType": "websocket"`` and ``_webSocketMessages`` (``type``
send/receive, ``time`` epoch seconds, ``opcode`` 1 text / 2 binary (base64),
``data``), the format Chrome DevTools, Playwright and mitmproxy use.  HAR has
no place for close codes, pings or certificates: those go into a ``_wsctl``
object on the entry (ignored by other tools, read back by ours): the close,
the device fingerprint, the ``open`` event's other fields (the proxy's
``peer``: the tool's name, role, fingerprint) and the non-message events with
their fields.  The recording's header rides in ``log.comment``.

`to_har` is a generator of text chunks, so a large recording is converted
without holding it: the oldest open connection's messages are written as they
come (what is only known at its end — duration, close code — follows its
messages: JSON objects are unordered); only connections overlapping it are
held until it closes.  Sequential connections stream in constant memory.

Import (`from_har`): every entry with WebSocket messages becomes a
connection; a HAR wsctl wrote (``creator.name`` "wsctl") gets its original
header back from ``log.comment`` (profile, source, both fingerprints, start
time), any other gets a header built from its entries; times in milliseconds (some producers write them) are detected by
size and turned into seconds; events are ordered by time across entries.  A
HAR without WebSocket entries is an `InvalidInput`, not an empty recording.
Import takes the parsed document and sorts all events in memory: it is not
streamed (documented in docs/record-replay.md as a limit).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.record.compat import migrate_header
from wsctl.core.record.format import (
    EVENT_KEYS,
    Event,
    Header,
    RecordFormatError,
    event_from_dict,
    event_has_lone_surrogate,
    header_from_dict,
    parse_version,
    seconds,
    shown,
)
from wsctl.core.unicode_text import has_lone_surrogate

#: epoch values above this are milliseconds (1e11 s is the year 5138)
MS_THRESHOLD = 1e11


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None


class _Entry:
    __slots__ = (
        "conn",
        "started",
        "url",
        "subprotocol",
        "fingerprint",
        "messages",
        "sent",
        "close",
        "extra",
        "last",
        "open",
    )

    def __init__(self, conn: int, started: float, url: str | None) -> None:
        self.conn = conn
        self.started = started
        self.url = url
        self.subprotocol: str | None = None
        self.fingerprint: str | None = None
        self.messages: list[str] = []  # encoded messages held while another entry streams
        self.sent = 0  # messages already written out
        self.close: dict[str, Any] | None = None
        self.extra: list[dict[str, Any]] = []  # pings, pongs, errors, gaps (kept for the round trip)
        self.last = started
        self.open: dict[str, Any] = {}  # the open event's fields HAR has no place for (the proxy's peer ...)

    def head(self) -> str:
        """The entry up to and including ``"_webSocketMessages":[`` (known at its first event)."""
        headers = [{"name": "Upgrade", "value": "websocket"}, {"name": "Connection", "value": "Upgrade"}]
        response_headers = list(headers)
        if self.subprotocol:
            response_headers.append({"name": "Sec-WebSocket-Protocol", "value": self.subprotocol})
        entry = {
            "startedDateTime": _iso(self.started),
            "request": {
                "method": "GET",
                "url": self.url or "wss://unknown/",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": headers,
                "queryString": [],
                "headersSize": -1,
                "bodySize": 0,
            },
            "response": {
                "status": 101,
                "statusText": "Switching Protocols",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": response_headers,
                "content": {"size": 0, "mimeType": "x-unknown"},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": 0,
            },
            "cache": {},
            "timings": {"send": 0, "wait": 0, "receive": 0},
            "_resourceType": "websocket",
        }
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"_webSocketMessages":['

    def tail(self) -> str:
        """What is only known at the end (JSON objects are unordered, so it may come last)."""
        wsctl: dict[str, Any] = {"conn": self.conn}
        if self.close is not None:
            wsctl["close"] = self.close
        if self.fingerprint:
            wsctl["fingerprint"] = self.fingerprint
        if self.open:
            wsctl["open"] = self.open
        if self.extra:
            wsctl["events"] = self.extra
        return (
            '],"time":'
            + json.dumps(round((self.last - self.started) * 1000, 3))
            + ',"_wsctl":'
            + json.dumps(wsctl, ensure_ascii=False, separators=(",", ":"))
            + "}"
        )


def _message_json(event: Event, wall: float) -> str:
    """One message as a HAR `_webSocketMessages` item (binary data base64)."""
    binary = isinstance(event.data, bytes)
    data = base64.b64encode(event.data).decode("ascii") if binary else event.data  # type: ignore[arg-type]
    return json.dumps(
        {
            "type": "send" if event.dir == "out" else "receive",
            "time": round(wall, 6),
            "opcode": 2 if binary else 1,
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _extra_event(event: Event, wall: float) -> dict[str, Any]:
    """An event HAR has no field for (ping, error, reconnect, ...), kept in the entry's `_wsctl.events`."""
    extra: dict[str, Any] = {"kind": event.kind, "time": round(wall, 6)}
    for key in ("dir", "error", "delay", "attempt", "code", "reason"):
        if getattr(event, key) is not None:
            extra[key] = getattr(event, key)
    if event.info:
        extra["info"] = event.info
    return extra


def to_har(header: Header, events: Iterable[Event], *, creator_version: str = "") -> Iterator[str]:
    """The HAR document as text chunks (join or write them in order)."""
    creator = {"name": "wsctl", "version": creator_version or header.wsctl}
    comment = json.dumps({"recording": header.to_dict()}, ensure_ascii=False, separators=(",", ":"))
    yield (
        '{"log":{"version":"1.2","creator":'
        + json.dumps(creator)
        + ',"comment":'
        + json.dumps(comment, ensure_ascii=False)
        + ',"pages":[],"entries":['
    )
    # Entries by serial (a connection id could come back after its close).
    # The oldest unfinished entry streams: its messages are written as they
    # come; entries that overlap it are held until it is finished.
    entries: dict[int, _Entry] = {}
    current: dict[int, int] = {}  # conn id -> serial of its open entry
    order: list[int] = []  # unfinished serials, oldest first
    done: set[int] = set()
    streaming: int | None = None
    written = 0  # entries started in the output

    def advance() -> Iterator[str]:
        # finish the streaming entry if it is done, then start the next ones
        nonlocal streaming, written
        while order:
            serial = order[0]
            entry = entries[serial]
            if streaming != serial:
                yield ("," if written else "") + entry.head() + ",".join(entry.messages)
                entry.sent, entry.messages = len(entry.messages), []
                written += 1
                streaming = serial
            if serial not in done:
                return
            yield entry.tail()
            order.pop(0)
            entries.pop(serial)
            streaming = None

    serials = 0
    for event in events:
        wall = event.wall if event.wall is not None else header.started + event.t
        serial = current.get(event.conn)
        if serial is None:
            serials += 1
            serial = current[event.conn] = serials
            entries[serial] = _Entry(event.conn, wall, header.url)
            order.append(serial)
        entry = entries[serial]
        entry.last = wall
        info = event.info or {}
        if event.kind == "open":
            entry.url = info.get("url") or entry.url
            entry.subprotocol = info.get("subprotocol")
            entry.fingerprint = info.get("fingerprint")
            entry.open = {k: v for k, v in info.items() if k not in ("url", "subprotocol", "fingerprint")}
        elif event.is_message:
            text = _message_json(event, wall)
            if serial == streaming:
                yield ("," if entry.sent else "") + text
                entry.sent += 1
            else:
                entry.messages.append(text)
        elif event.kind == "close":
            entry.close = {"dir": event.dir, "code": event.code, "reason": event.reason, "time": round(wall, 6)}
            done.add(serial)
            del current[event.conn]
        else:
            entry.extra.append(_extra_event(event, wall))
        yield from advance()
    done.update(entries)
    yield from advance()
    yield "]}}\n"


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidInput(f"{where}: 'time' must be a number, got {shown(value)}")
    huge = isinstance(value, int) and not -(2**63) < value < 2**63  # dividing it would overflow a float
    when = None if huge else seconds(value / 1000 if value > MS_THRESHOLD else value, low=0.0)
    if when is None:
        raise InvalidInput(f"{where}: 'time' {shown(value)} is not epoch seconds or milliseconds")
    return when


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def original_header(log: Any) -> Header | None:
    """The header a wsctl export put in ``log.comment``; None for other
    producers, or a comment that is not (a readable version of) one."""
    creator = log.get("creator") if isinstance(log, dict) else None
    if not isinstance(creator, dict) or creator.get("name") != "wsctl" or not isinstance(log.get("comment"), str):
        return None
    try:
        recording = json.loads(log["comment"]).get("recording")
        version = parse_version(recording)
        if version is None:
            return None
        header = header_from_dict(migrate_header(dict(recording), version), version=version)
    except (ValueError, AttributeError, TypeError, RecursionError, RecordFormatError):
        return None  # a comment someone edited: the entries still make a recording
    # a lone surrogate: no file or output could hold the header (UTF-8), so as edited
    return None if has_lone_surrogate(header.to_dict()) else header


#: (when, order at equal times, event line, where it came from) of one imported event
Raw = tuple[float, int, dict[str, Any], str]


def _message(m: Any, conn: int, where: str) -> Raw:
    if not isinstance(m, dict):
        raise InvalidInput(f"{where}: not an object")
    when = _seconds(m.get("time"), where)
    kind, opcode, data = m.get("type"), m.get("opcode", 1), m.get("data", "")
    if kind not in ("send", "receive"):
        raise InvalidInput(f"{where}: type must be send or receive, got {shown(kind)}")
    if not isinstance(data, str):
        raise InvalidInput(f"{where}: data must be a string")
    line: dict[str, Any] = {"t": 0, "wall": when, "conn": conn, "dir": "out" if kind == "send" else "in"}
    if opcode == 2 and not isinstance(opcode, bool):
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{where}: opcode 2 but data is not base64") from None
        line.update(kind="binary", b64=data)
    elif opcode == 1 and not isinstance(opcode, bool):
        line.update(kind="text", data=data)
    else:
        raise InvalidInput(f"{where}: opcode {shown(opcode)} (only 1 text and 2 binary are messages)")
    return when, 1, line, where


def _entry(entry: dict[str, Any], n: int, source: str) -> tuple[list[Raw], str | None, str | None]:
    """The events of one HAR entry (a connection), its URL and its subprotocol."""
    where = f"{source}: entry {n}"
    wsctl = _table(entry.get("_wsctl"))
    conn = wsctl["conn"] if isinstance(wsctl.get("conn"), int) and not isinstance(wsctl.get("conn"), bool) else n
    url = _table(entry.get("request")).get("url")
    url = url if isinstance(url, str) else None
    headers = _list(_table(entry.get("response")).get("headers"))
    proto = next(
        (
            h["value"]
            for h in headers
            if isinstance(h, dict)
            and isinstance(h.get("value"), str)
            and str(h.get("name", "")).lower() == "sec-websocket-protocol"
        ),
        None,
    )
    messages = [_message(m, conn, f"{where}, message {i + 1}") for i, m in enumerate(entry["_webSocketMessages"])]
    started = _epoch(entry.get("startedDateTime"))
    if started is None:
        started = messages[0][0] if messages else 0.0
    fingerprint = wsctl.get("fingerprint") if isinstance(wsctl.get("fingerprint"), str) else None
    # the open event's other fields (the proxy's peer ...); never one that would change what the event is
    opened = {k: v for k, v in _table(wsctl.get("open")).items() if k not in EVENT_KEYS}
    raw: list[Raw] = [
        (
            started,
            0,
            {
                **opened,
                "t": 0,
                "kind": "open",
                "conn": conn,
                "wall": started,
                "url": url,
                "subprotocol": proto,
                "fingerprint": fingerprint,
            },
            where,
        )
    ]
    raw.extend(messages)
    for i, extra in enumerate(_list(wsctl.get("events"))):
        time = seconds(extra.get("time")) if isinstance(extra, dict) else None
        if time is not None and extra.get("kind") in ("ping", "pong", "error", "gap"):
            info = {k: v for k, v in _table(extra.get("info")).items() if k not in EVENT_KEYS}
            fields = {
                k: extra[k] for k in ("dir", "error", "delay", "attempt", "code", "reason") if extra.get(k) is not None
            }
            raw.append(
                (
                    time,
                    1,
                    {**info, **fields, "t": 0, "kind": extra["kind"], "conn": conn, "wall": time},
                    f"{where}, _wsctl.events[{i}]",
                )
            )
    close = wsctl.get("close")
    if isinstance(close, dict):
        time = seconds(close.get("time"))
        if time is None:
            time = messages[-1][0] if messages else started
        fields = {k: close[k] for k in ("dir", "code", "reason") if close.get(k) is not None}
        raw.append((time, 2, {**fields, "t": 0, "kind": "close", "conn": conn, "wall": time}, f"{where}, _wsctl.close"))
    return raw, url, proto


def _checked(line: dict[str, Any], where: str) -> Event:
    # the recording reader's own checks: an imported event is what a line of the same fields would be
    try:
        event = event_from_dict(line)
    except RecordFormatError as exc:
        raise InvalidInput(f"{where}: {exc.message}") from None
    if event_has_lone_surrogate(event):
        # JSON escapes one, UTF-8 cannot: the recording would be written and then refused by every reader
        raise InvalidInput(f"{where}: holds an unpaired surrogate (not valid Unicode)")
    return event


def from_har(doc: Any, *, source: str = "HAR") -> tuple[Header, list[Event]]:
    """A parsed HAR document → (header, events) of a recording, ordered by time."""
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) and isinstance(doc.get("log"), dict) else None
    if not isinstance(entries, list):
        raise InvalidInput(f"{source}: not a HAR file (no log.entries)")
    socket_entries = [e for e in entries if isinstance(e, dict) and isinstance(e.get("_webSocketMessages"), list)]
    if not socket_entries:
        raise InvalidInput(
            f"{source}: no WebSocket entries (no entry has _webSocketMessages)",
            hint="in DevTools, export the HAR after the WebSocket connection was open (Network tab, WS filter)",
        )
    raw: list[Raw] = []
    url = subprotocol = None
    for n, entry in enumerate(socket_entries, start=1):
        entry_events, entry_url, proto = _entry(entry, n, source)
        raw.extend(entry_events)
        url, subprotocol = url or entry_url, subprotocol or proto
    for _when, _, line, where in raw:
        _checked(line, where)  # before any arithmetic on the times
    raw.sort(key=lambda item: (item[0], item[1]))
    origin = raw[0][0]
    header = original_header(doc["log"])
    if header is not None and header.started <= origin:
        origin = header.started  # the original t = 0 (the first event may have come later)
    else:
        try:
            built = header_from_dict({"url": url, "subprotocol": subprotocol, "started": origin, "source": "har"})
        except RecordFormatError as exc:
            raise InvalidInput(f"{source}: {exc.message} (the first event's time)") from None
        header = built if header is None else dataclasses.replace(header, started=origin)
    events = [_checked({**line, "t": round(when - origin, 6)}, where) for when, _, line, where in raw]
    return header, events
