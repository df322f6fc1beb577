"""What a device says reaches the terminal escaped: its close reason and its
rejection body are quoted in the per-device error line of `send`/`watch`
(`cli.support.outcome.emit_outcome`), and a hostile device could retitle or
clear the terminal or forge a second ``wsctl:`` line with them.  Real
connections to raw TLS devices; the line is printed as the CLI prints it."""

from __future__ import annotations

import io

import pytest
import trio
from net_helpers import device_listener, frame, raw_device

from wsctl.cli.support.env import Environment
from wsctl.cli.support.fleet import Outcome
from wsctl.cli.support.outcome import emit_outcome
from wsctl.core.errors import ConnectionClosed, HandshakeRejected
from wsctl.net.api import open_device

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE\nwsctl: ok: all good\r"


def _printed(error, *, fleet: bool) -> str:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ={})
    emit_outcome(env, Outcome("belt-1", False, 0.1, error=error), fleet=fleet, fields=dict, human=str)
    return out.getvalue() + err.getvalue()


def _assert_one_safe_line(text: str) -> None:
    assert text.count("\n") == 1 and text.endswith("\n"), text
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text, text
    assert "\\x1b" in text  # escaped, still visible


@pytest.mark.parametrize("fleet", [False, True])
async def test_a_close_reason_is_escaped(nursery, pki, alice_kw, fleet):
    async def closes(stream: trio.SSLStream) -> None:
        await stream.send_all(frame(0x8, b"\x03\xf3" + HOSTILE.encode(), mask=False))
        await trio.sleep(1)

    url = await raw_device(nursery, pki, closes)
    with trio.fail_after(10):
        async with open_device(url, **alice_kw) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive()
    assert HOSTILE in info.value.message  # the library keeps the text; the terminal line escapes it
    _assert_one_safe_line(_printed(info.value, fleet=fleet))


@pytest.mark.parametrize("fleet", [False, True])
async def test_a_rejection_body_is_escaped(nursery, pki, alice_kw, fleet):
    body = HOSTILE.encode()

    async def rejects(stream: trio.SSLStream, request: bytes) -> None:
        await stream.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await trio.sleep(1)

    url = await device_listener(nursery, pki, rejects)
    with trio.fail_after(10):
        with pytest.raises(HandshakeRejected) as info:
            async with open_device(url, **alice_kw):
                pass
    _assert_one_safe_line(_printed(info.value, fleet=fleet))
