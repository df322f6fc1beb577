"""wsctl.net.ws_frames: data frames and the masking XOR, against wsproto's own.

wsproto stays the reference: every frame `data_frame` makes must be the bytes
wsproto's ``FrameProtocol.send_data(message, True)`` makes with the same key,
and every unmasking the C function does must match wsproto's pure-Python one,
whatever the payload and however it is split across reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.events import BytesMessage, TextMessage
from wsproto.frame_protocol import FrameProtocol, XorMaskerSimple

from wsctl.net import ws_frames
from wsctl.net.ws_failures import LimitedFrameDecoder

# lengths around the 7-bit / 16-bit / 64-bit header boundaries, and a mask's 4
SIZES = st.one_of(
    st.integers(0, 9),
    st.sampled_from([124, 125, 126, 127, 255, 256, 257, 65534, 65535, 65536, 65537, 70001]),
)
KEYS = st.binary(min_size=4, max_size=4)


def _wsproto_frame(message: str | bytes, key: bytes | None) -> bytes:
    proto = FrameProtocol(client=key is not None, extensions=[])
    with mock.patch("wsproto.frame_protocol.os.urandom", return_value=key):
        return bytes(proto.send_data(message, True))


@settings(max_examples=150, deadline=None)
@given(size=SIZES, key=st.one_of(st.none(), KEYS), text=st.booleans(), data=st.data())
def test_a_data_frame_is_the_bytes_wsproto_makes(size: int, key: bytes | None, text: bool, data) -> None:  # noqa: ANN001
    if text:
        message: str | bytes = data.draw(st.text(min_size=size, max_size=size)) if size < 300 else "é" * size
    else:
        message = os.urandom(size)
    assert ws_frames.data_frame(message, key) == _wsproto_frame(message, key)


def test_a_bytearray_is_sent_as_binary_and_other_types_are_refused() -> None:
    key = b"\x01\x02\x03\x04"
    assert ws_frames.data_frame(bytearray(b"abc"), key) == _wsproto_frame(b"abc", key)
    with pytest.raises(TypeError, match="bytes or text"):
        ws_frames.data_frame(42, key)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(payload=st.one_of(st.binary(max_size=600), st.sampled_from([b"x" * 65536, os.urandom(70001)])), key=KEYS)
def test_the_xor_matches_wsproto_in_c_and_in_python(payload: bytes, key: bytes) -> None:
    expected = bytes(XorMaskerSimple(key).process(bytearray(payload)))
    assert ws_frames.mask(payload, key) == expected
    assert ws_frames.mask(bytearray(payload), key) == expected
    assert ws_frames.mask(memoryview(payload), key) == expected
    assert ws_frames.python_mask(payload, key) == expected
    assert ws_frames.mask(expected, key) == payload  # its own inverse


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=3000), key=KEYS, cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_a_payload_unmasked_in_pieces_is_unmasked_as_one(payload: bytes, key: bytes, cuts: list[int]) -> None:
    masker = ws_frames.Masker(key)
    bounds = sorted({0, len(payload), *(c for c in cuts if c <= len(payload))})
    pieces = [payload[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert b"".join(masker.process(p) for p in pieces) == bytes(XorMaskerSimple(key).process(bytearray(payload)))


@settings(max_examples=100, deadline=None)
@given(
    messages=st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=100)), min_size=1, max_size=6),
    big=st.booleans(),
    chunk=st.integers(1, 4096),
)
def test_the_server_decodes_masked_frames_read_in_any_chunks(messages: list, big: bool, chunk: int) -> None:  # noqa: ANN001
    """The decoder wsctl's connections use (C unmasking swapped into wsproto's)
    gives back every message whatever the read sizes."""
    from wsproto import ConnectionType
    from wsproto.connection import Connection

    if big:
        messages = [*messages, os.urandom(70001)]
    wire = b"".join(ws_frames.data_frame(m, os.urandom(4)) for m in messages)
    server = Connection(ConnectionType.SERVER)
    server._proto._frame_decoder = LimitedFrameDecoder(False, [], 2**20)
    got: list[str | bytes] = []
    parts: list[str | bytes] = []
    for start in range(0, len(wire), chunk):
        server.receive_data(wire[start : start + chunk])
        for event in server.events():
            assert isinstance(event, (BytesMessage, TextMessage))
            parts.append(event.data)
            if event.message_finished:
                got.append(type(parts[0])().join(parts))  # type: ignore[arg-type]
                parts = []
    assert got == messages


def test_the_c_xor_is_used_when_websockets_is_installed() -> None:
    """websockets is a dependency for its C XOR; a layout change in it must
    fail here, not silently slow every connection down 60 times."""
    assert ws_frames.IMPLEMENTATION == "C (websockets.speedups)"


def test_without_the_c_xor_the_python_one_is_used() -> None:
    code = (
        "from wsctl.net import ws_frames as f; import sys;"
        "print(f.IMPLEMENTATION, f.mask(b'abcdef', b'\\x01\\x02\\x03\\x04').hex(), 'websockets' in sys.modules)"
    )
    env = {**os.environ, "WSCTL_PURE_MASK": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60)
    assert out.stdout.split() == ["Python", "606060606464", "False"]


def test_loading_the_c_xor_does_not_import_websockets() -> None:
    """Its package ``__init__`` costs ~40 ms of start-up (importlib.metadata)."""
    code = "from wsctl.net import ws_frames as f; import sys; print(f.IMPLEMENTATION, 'websockets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split()[-1] == "False"
    assert out.stdout.startswith("C ")
