"""WebSocket frames after the upgrade, both ways (RFC 6455 5), and the masking XOR.

`FrameReader` parses a peer's frames, `data_frame`, `control_frame` and
`close_frame` make ours (docs/design.md, "Network layer": why not wsproto's).

Every frame a client sends is masked and every frame a server receives is
unmasked: in pure Python (wsproto's four strided ``translate`` calls) that is
~2 ns a byte, 131 us for a 64 KiB message on each side, more than the TLS
record costs.  python-websockets ships the same operation as a C function
(``websockets.speedups.apply_mask``, 2 us for 64 KiB); it is loaded here from
its file, without importing the ``websockets`` package, whose ``__init__``
costs ~40 ms (``importlib.metadata`` for its version) that a one-shot command
must not pay.  Without websockets, or without its compiled part (a platform
with no wheel), the pure-Python XOR is used.
"""

from __future__ import annotations

import codecs
import functools
import importlib.machinery
import importlib.util
import os
import struct
from collections.abc import Callable
from typing import Any

from wsctl.net.ws_failures import Failure, message_too_big


@functools.cache
def _xor_table(byte: int) -> bytes:
    return bytes(a ^ byte for a in range(256))


def python_mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """``data`` XOR the 4-byte ``key`` repeated from its first byte."""
    if len(data) < 256:
        # one big-int XOR beats four slices for small payloads
        size = len(data)
        if not size:
            return b""
        whole = key * ((size + 3) // 4)
        return (int.from_bytes(data, "little") ^ int.from_bytes(whole[:size], "little")).to_bytes(size, "little")
    out = bytearray(data)
    for i in range(4):
        out[i::4] = out[i::4].translate(_xor_table(key[i]))
    return bytes(out)


def _compiled() -> Callable[[bytes | bytearray | memoryview, bytes], bytes] | None:
    """websockets' ``apply_mask`` from its extension module, or None."""
    if os.environ.get("WSCTL_PURE_MASK"):
        return None
    try:
        spec = importlib.util.find_spec("websockets")  # finds, does not import, a top-level package
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "speedups" + suffix)
            if os.path.exists(path):
                try:
                    loader = importlib.machinery.ExtensionFileLoader("websockets.speedups", path)
                    module_spec = importlib.util.spec_from_file_location("websockets.speedups", path, loader=loader)
                    if module_spec is None:
                        return None
                    module = importlib.util.module_from_spec(module_spec)
                    loader.exec_module(module)
                    apply_mask: Callable[[bytes | bytearray | memoryview, bytes], bytes] = module.apply_mask
                except (ImportError, OSError, AttributeError):
                    return None
                return apply_mask
    return None


_apply = _compiled()
#: "C (websockets.speedups)" or "Python": which XOR this process uses
IMPLEMENTATION = "Python" if _apply is None else "C (websockets.speedups)"


def mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """``data`` masked (or unmasked) with ``key``, starting at the key's first byte."""
    if _apply is None:
        return python_mask(data, key)
    return _apply(data, key)  # any buffer: bytes, bytearray, memoryview


_TEXT = 0x81  # FIN + opcode 1
_BINARY = 0x82  # FIN + opcode 2
_PACK_16 = struct.Struct("!BBH").pack
_PACK_64 = struct.Struct("!BBQ").pack


def data_frame(message: str | bytes | bytearray, key: bytes | None) -> bytes:
    """One whole message as one frame (FIN set, no extensions: wsctl offers
    none), masked with ``key`` when a client sends it (``key`` from
    `os.urandom` by the caller, fresh per frame), unmasked (None) from a server.

    Byte-for-byte what wsproto's ``FrameProtocol.send_data(message, True)``
    makes with that key (tests/net/test_ws_frames.py), with one copy of the
    payload instead of five."""
    if isinstance(message, str):  # a StrEnum member too
        payload: bytes | bytearray = message.encode("utf-8")
        first = _TEXT
    elif isinstance(message, (bytes, bytearray, memoryview)):
        payload = message
        first = _BINARY
    else:
        raise TypeError("Must provide bytes or text")
    size = len(payload)
    masked = 0x80 if key is not None else 0
    if size <= 125:
        header = bytes((first, masked | size))
    elif size <= 0xFFFF:
        header = _PACK_16(first, masked | 126, size)
    else:
        header = _PACK_64(first, masked | 127, size)
    if key is None:
        return header + payload
    return b"".join((header, key, mask(payload, key)))


# -- frames in ------------------------------------------------------------------------
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_NAMES = {TEXT: "TEXT", BINARY: "BINARY", CLOSE: "CLOSE", PING: "PING", PONG: "PONG"}
#: close codes a peer may send in 1000-2999 (RFC 6455 7.4.1 and the IANA registry)
_KNOWN_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
#: codes only an endpoint reports to itself, never sent in a frame (RFC 6455 7.4.1)
LOCAL_ONLY = frozenset({1005, 1006, 1015})


class _Bad(Exception):
    """A frame this side refuses: the connection is failed with ``failure``."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure


def _protocol(why: str, code: int = 1002) -> _Bad:
    what = "invalid UTF-8" if code == 1007 else "an invalid frame"
    return _Bad(Failure(code, _truncate(f"invalid frame: {why}", 123), f"sent {what} ({why})"))


def close_payload(data: bytes) -> tuple[int, str]:
    """The code and reason of a peer's close frame (1005 for none), checked."""
    if not data:
        return 1005, ""
    if len(data) == 1:
        raise _protocol("CLOSE with 1 byte payload")
    code = (data[0] << 8) | data[1]
    if code < 1000 or code > 4999:
        raise _protocol("CLOSE with invalid code")
    if code in LOCAL_ONLY:
        raise _protocol("remote CLOSE with local-only reason")
    if code <= 2999 and code not in _KNOWN_CODES:
        raise _protocol("CLOSE with unknown reserved code")
    try:
        return code, data[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _protocol(f"Error decoding CLOSE reason: {exc}", 1007) from None


def _check_control(opcode: int, fin: int, length: int) -> None:
    if opcode < CLOSE or opcode > PONG:
        raise _protocol(f"Invalid opcode {opcode:#x}")
    if not fin:
        raise _protocol("Invalid attempt to fragment control frame")
    if length > 125:
        raise _protocol("Control frame with payload len > 125")


class FrameReader:
    """Frames from a peer, as they come in chunks of any size (RFC 6455 5).

    `read` returns the events of every frame completed by a chunk, in order —
    ``(TEXT or BINARY, str or bytes, message_finished)`` for data (a fragment
    carries its message's opcode), ``(PING or PONG, payload, True)``,
    ``(CLOSE, (code, reason), True)`` — and the `Failure` that ends the
    connection when a frame is refused (the frames before it are still
    returned; nothing after it is parsed, nor after a close frame).  It refuses what wsproto refused,
    with its words: reserved bits (wsctl offers no extension), reserved
    opcodes, fragmented or long control frames, lengths not in their shortest
    form, masking the wrong way round, continuation out of place, invalid UTF-8
    (as early as the fragment that has it), close codes a peer may not send;
    and, before the payload arrives, a data frame whose header makes its
    message longer than ``max_message_size`` (1009).

    A frame is handed out whole: until its last byte arrives the pieces wait
    in a list, joined once (no copy per piece of a 1 MiB message), bounded by
    the size limit checked on its header.
    """

    __slots__ = ("_server", "_limit", "_pieces", "_held", "_need", "_opcode", "_declared", "_utf8", "_closed")

    def __init__(self, *, server: bool, max_message_size: int, initial: bytes = b"") -> None:
        self._server = server
        self._limit = max_message_size
        self._pieces: list[bytes] | None = [bytes(initial)] if initial else None
        self._held = len(initial)
        self._need = 1  # bytes the frame under way needs before parsing is worth it
        self._opcode = 0  # the fragmented message under way (TEXT/BINARY), 0 when none
        self._declared = 0  # its length so far, from the headers
        self._utf8: Any = None  # the incremental decoder of a fragmented text message
        self._closed = False  # a close frame came: nothing after it is read (RFC 6455 5.5.1)

    @property
    def held(self) -> int:
        """Bytes of a frame not complete yet: they count towards what the
        connection holds for the peer (``max_buffered_bytes``)."""
        return self._held if self._pieces is not None else 0

    def drop(self) -> None:
        """Forget the frame under way and read nothing more (the connection failed)."""
        self._pieces = None
        self._held = 0
        self._closed = True

    def read(self, data: bytes) -> tuple[list[tuple[int, Any, bool]], Failure | None]:
        if self._closed:
            return [], None
        pieces = self._pieces
        if pieces is not None:
            pieces.append(data)
            self._held += len(data)
            if self._held < self._need:
                return [], None
            buf = b"".join(pieces)
            self._pieces = None
        else:
            buf = data
        events: list[tuple[int, Any, bool]] = []
        try:
            pos = self._frames(buf, events)
        except _Bad as bad:
            self._pieces = None
            return events, bad.failure
        if pos < len(buf) and not self._closed:
            rest = buf[pos:]
            self._pieces = [rest]
            self._held = len(rest)
        return events, None

    def _frames(self, buf: bytes, events: list[tuple[int, Any, bool]]) -> int:
        """Parse whole frames from ``buf`` into ``events``; where the first incomplete one starts."""
        pos, end = 0, len(buf)
        self._need = 1
        while end - pos >= 2:
            header = self._header(buf, pos, end)
            if header is None:
                break
            opcode, fin, head, length = header
            declared = self._data_header(opcode, length) if opcode < CLOSE else 0
            if end - head < length:
                self._need = head - pos + length
                break
            payload = buf[head : head + length]
            if self._server:
                payload = mask(payload, buf[head - 4 : head])
            pos = head + length
            if opcode == CLOSE:
                events.append((CLOSE, close_payload(payload), True))
                self._closed = True
                return end
            if opcode > CLOSE:
                events.append((opcode, payload, True))
            else:
                events.append(self._data(opcode, payload, fin, declared))
        return pos

    def _header(self, buf: bytes, pos: int, end: int) -> tuple[int, int, int, int] | None:
        """(opcode, fin, where the payload starts, its length) of the frame at
        ``pos``, checked; None while the header is incomplete."""
        first, second = buf[pos], buf[pos + 1]
        opcode = first & 0x0F
        fin = first & 0x80
        length = second & 0x7F
        head = pos + 2
        if opcode > BINARY:
            _check_control(opcode, fin, length)
        if length == 126:
            if end - head < 2:
                return None
            length = (buf[head] << 8) | buf[head + 1]
            head += 2
            if length <= 125:
                raise _protocol("Payload length used 2 bytes when 1 would have sufficed")
        elif length == 127:
            if end - head < 8:
                return None
            length = int.from_bytes(buf[head : head + 8], "big")
            head += 8
            if length <= 0xFFFF:
                raise _protocol("Payload length used 8 bytes when 2 would have sufficed")
            if length >> 63:
                raise _protocol("8-byte payload length with non-zero MSB")
        if first & 0x70:
            raise _protocol("Reserved bit set unexpectedly")
        if second & 0x80:
            if not self._server:
                raise _protocol("client received unexpected masked frame")
            head += 4
        elif self._server:
            raise _protocol("server received unexpected unmasked frame")
        return opcode, fin, head, length

    def _data_header(self, opcode: int, length: int) -> int:
        """A data frame's header, checked against the message under way; its message's length."""
        if opcode == CONTINUATION:
            if not self._opcode:
                raise _protocol("unexpected CONTINUATION")
            declared = self._declared + length
        else:
            if self._opcode:
                raise _protocol(f"expected CONTINUATION, got <Opcode.{_NAMES[opcode]}: {opcode}>")
            declared = length
        if declared > self._limit:
            raise _Bad(message_too_big(self._limit, declared))
        return declared

    def _data(self, opcode: int, payload: bytes, fin: int, declared: int) -> tuple[int, Any, bool]:
        kind = opcode or self._opcode
        data: str | bytes = payload
        if kind == TEXT:
            try:
                if fin and self._utf8 is None:
                    data = payload.decode("utf-8")
                else:
                    if self._utf8 is None:
                        self._utf8 = codecs.getincrementaldecoder("utf-8")()
                    data = self._utf8.decode(payload, bool(fin))
            except UnicodeDecodeError as exc:
                raise _protocol(str(exc), 1007) from None
        if fin:
            self._opcode = 0
            self._declared = 0
            self._utf8 = None
        else:
            self._opcode = kind
            self._declared = declared
        return kind, data, bool(fin)


# -- control frames out -----------------------------------------------------------------
def _truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, on a character boundary."""
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def control_frame(opcode: int, payload: bytes, key: bytes | None) -> bytes:
    """A ping, pong or close frame (payload ≤ 125 bytes), masked with ``key`` from a client."""
    size = len(payload)
    if size > 125:
        raise ValueError("payload too long for control frame")
    if key is None:
        return bytes((0x80 | opcode, size)) + payload
    return bytes((0x80 | opcode, 0x80 | size)) + key + mask(payload, key)


def close_code_problem(code: object) -> str | None:
    """Why ``code`` may not be sent in our close frame, or None: the rule a peer's
    close is refused by (`close_payload`), so that we never send what we would
    refuse.  The codes only an endpoint reports (1005, 1006, 1015) pass: they go
    out as 1000 (`close_frame`)."""
    if not isinstance(code, int) or isinstance(code, bool):
        return f"not an integer ({type(code).__name__})"
    if code in LOCAL_ONLY:
        return None
    if code < 1000 or code > 4999:
        return "close codes are 1000-4999 (RFC 6455 7.4)"
    if code <= 2999 and code not in _KNOWN_CODES:
        return "not a registered code (1000-2999 are reserved; applications use 3000-4999)"
    return None


def close_frame(code: int | None, reason: str | None, key: bytes | None) -> bytes:
    """Our close frame: no status for None (the answer to a peer's empty close),
    1000 for the codes only an endpoint may report (1005, 1006, 1015), the
    reason cut to 123 bytes — as wsproto made it for an int code."""
    if code is None:
        if reason:
            raise TypeError("cannot specify a reason without a code")
        return control_frame(CLOSE, b"", key)
    if code in LOCAL_ONLY:
        code = 1000
    payload = struct.pack("!H", code)
    if reason:
        payload += _truncate(reason, 123).encode("utf-8")
    return control_frame(CLOSE, payload, key)
