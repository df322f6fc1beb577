"""Data frames out and the masking XOR (RFC 6455 5.2, 5.3), in C where it can be.

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

import importlib.machinery
import importlib.util
import os
import struct
from collections.abc import Callable

_XOR_TABLE = [bytes(a ^ b for a in range(256)) for b in range(256)]


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
        out[i::4] = out[i::4].translate(_XOR_TABLE[key[i]])
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


class Masker:
    """wsproto's masker interface (``process``) over `mask`: a frame's payload
    arrives in pieces, so the key turns by what each piece used."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes | bytearray) -> None:
        self._key = bytes(key)

    def process(self, data: bytes | bytearray) -> bytes:
        if not data:
            return b""
        key = self._key
        out = mask(data, key)
        turn = len(data) % 4
        if turn:
            self._key = key[turn:] + key[:turn]
        return out


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
    if type(message) is str:
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
