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
from wsproto.frame_protocol import FrameProtocol, XorMaskerSimple

from wsctl.net import ws_frames

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


def _frame_bytes(opcode: int, payload: bytes, *, fin: bool, rsv: int, key: bytes | None, wide: int) -> bytes:
    """Any frame, valid or not: ``wide`` forces a 2- or 8-byte length (not the shortest form)."""
    size = len(payload)
    if wide == 8 or size > 0xFFFF:
        length = bytes([127]) + size.to_bytes(8, "big")
    elif wide == 2 or size > 125:
        length = bytes([126]) + size.to_bytes(2, "big")
    else:
        length = bytes([size])
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    length = bytes([length[0] | (0x80 if key else 0)]) + length[1:]
    return bytes([first]) + length + (key + ws_frames.python_mask(payload, key) if key else payload)


PAYLOADS = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20).map(lambda t: t.encode("utf-8")),
    st.sampled_from([b"\xff", b"ok \xc3", b"\xe2\x82", b"\x03\xe8bye", b"\x03\xe8\xc3", b"\x01"]),
    # close codes around every boundary wsproto checks (1014 apart: below)
    st.sampled_from([999, 1000, 1004, 1005, 1006, 1012, 1013, 1015, 1016, 2999, 3000, 4999, 5000]).map(
        lambda code: code.to_bytes(2, "big")
    ),
    st.integers(126, 300).map(lambda n: b"y" * n),
)


@st.composite
def frames(draw, *, server: bool) -> bytes:  # noqa: ANN001
    """Mostly well-formed frames, one in a few broken in one way or another."""
    opcode = draw(st.sampled_from([0x0, 0x1, 0x2, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3, 0xB]))
    usual_key = os.urandom(4) if server else None
    return _frame_bytes(
        opcode,
        draw(PAYLOADS),
        fin=draw(st.sampled_from([True, True, True, False])),
        rsv=draw(st.sampled_from([0, 0, 0, 0, 0, 1, 4])),
        key=draw(st.sampled_from([usual_key] * 9 + [None if server else b"\x01\x02\x03\x04"])),
        wide=draw(st.sampled_from([0] * 12 + [2, 8])),
    )


def _wsproto_view(wire: bytes, server: bool) -> list[tuple]:
    """What wsproto's own frame decoder makes of ``wire``: whole messages,
    control frames, and the close code of a refused frame."""
    from wsproto.frame_protocol import Opcode, ParseFailed

    proto = FrameProtocol(client=not server, extensions=[])
    proto.receive_bytes(wire)
    out: list[tuple] = []
    parts: list = []
    try:
        for frame in proto.received_frames():
            if frame.opcode is Opcode.CLOSE:
                out.append(("close", int(frame.payload[0]), frame.payload[1]))
            elif frame.opcode in (Opcode.PING, Opcode.PONG):
                out.append((int(frame.opcode), bytes(frame.payload)))
            else:
                parts.append(frame.payload)
                if frame.message_finished:
                    out.append(("message", type(parts[0])().join(parts)))
                    parts = []
    except ParseFailed as failed:
        out.append(("refused", int(failed.code)))
    return out


def _our_view(wire: bytes, server: bool, chunk: int) -> list[tuple]:
    reader = ws_frames.FrameReader(server=server, max_message_size=2**62)
    out: list[tuple] = []
    parts: list = []
    for start in range(0, len(wire), chunk):
        events, refused = reader.read(wire[start : start + chunk])
        for kind, payload, finished in events:
            if kind == ws_frames.CLOSE:
                out.append(("close", *payload))
            elif kind in (ws_frames.PING, ws_frames.PONG):
                out.append((kind, payload))
            else:
                parts.append(payload)
                if finished:
                    out.append(("message", type(parts[0])().join(parts)))
                    parts = []
        if refused is not None:
            out.append(("refused", refused.code))
            break
    return out


@settings(max_examples=400, deadline=None)
@given(data=st.data(), server=st.booleans(), chunk=st.integers(1, 700))
def test_the_reader_makes_of_any_frames_what_wsproto_makes(data, server: bool, chunk: int) -> None:  # noqa: ANN001
    """Differential fuzz against wsproto's decoder: the same messages, control
    frames and refusals (by close code), whatever the read sizes."""
    wire = b"".join(data.draw(st.lists(frames(server=server), max_size=8)))
    assert _our_view(wire, server, chunk) == _wsproto_view(wire, server)


@settings(max_examples=300, deadline=None)
@given(wire=st.binary(max_size=400), server=st.booleans(), chunk=st.integers(1, 64))
def test_arbitrary_bytes_are_refused_or_held_never_raised(wire: bytes, server: bool, chunk: int) -> None:
    reader = ws_frames.FrameReader(server=server, max_message_size=1000)
    for start in range(0, len(wire), chunk):
        _events, refused = reader.read(wire[start : start + chunk])
        if refused is not None:
            assert refused.code in (1002, 1007, 1009)
            assert len(refused.reason.encode()) <= 123
            break


def test_close_code_1014_bad_gateway_is_accepted() -> None:
    """Registered with IANA (RFC 6455 7.4.2's registry) after wsproto's table
    was written, which refuses it: the one place wsctl reads a frame
    differently, on purpose."""
    reader = ws_frames.FrameReader(server=False, max_message_size=1000)
    events, refused = reader.read(_frame_bytes(0x8, b"\x03\xf6upstream", fin=True, rsv=0, key=None, wide=0))
    assert refused is None and events == [(ws_frames.CLOSE, (1014, "upstream"), True)]


def test_a_header_over_the_limit_is_refused_before_its_payload() -> None:
    reader = ws_frames.FrameReader(server=True, max_message_size=100)
    first = _frame_bytes(0x1, b"a" * 60, fin=False, rsv=0, key=b"abcd", wide=0)
    events, refused = reader.read(first)
    assert events == [(ws_frames.TEXT, "a" * 60, False)] and refused is None
    # the continuation's header alone: 60 + 41 > 100
    events, refused = reader.read(_frame_bytes(0x0, b"b" * 41, fin=True, rsv=0, key=b"abcd", wide=0)[:6])
    assert events == [] and refused is not None and refused.code == 1009
    assert "101 bytes" in refused.detail


def test_a_large_frame_in_small_pieces_is_joined_once_and_arrives_whole() -> None:
    payload = os.urandom(200_000)
    wire = ws_frames.data_frame(payload, b"wxyz")
    reader = ws_frames.FrameReader(server=True, max_message_size=2**20)
    got = []
    for start in range(0, len(wire), 16384):
        events, refused = reader.read(wire[start : start + 16384])
        assert refused is None
        got.extend(events)
    assert got == [(ws_frames.BINARY, payload, True)]


@settings(max_examples=100, deadline=None)
@given(
    code=st.one_of(st.none(), st.sampled_from([1000, 1001, 1005, 1006, 1008, 1011, 1015, 3000, 4999])),
    reason=st.text(max_size=200),
    client=st.booleans(),
)
def test_a_close_frame_is_the_bytes_wsproto_makes(code: int | None, reason: str, client: bool) -> None:
    if code is None:
        reason = ""
    key = b"\x09\x08\x07\x06" if client else None
    proto = FrameProtocol(client=client, extensions=[])
    with mock.patch("wsproto.frame_protocol.os.urandom", return_value=key):
        # an int 1005 is a code only an endpoint may report: wsproto sends 1000 instead
        expected = bytes(proto.close(code, reason or None))
    assert ws_frames.close_frame(code, reason or None, key) == expected


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
