"""TLS close_notify on a normal close, on both sides (issue 8, item 16):
OpenSSL 3 peers log "unexpected eof while reading" when a connection ends
without one.  The peers here are ``openssl s_client`` and ``openssl s_server``.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import trio
from net_helpers import UPGRADE, _accept_key, close_payload, frame

from wsctl.core.errors import ConnectError
from wsctl.net.api import open_device

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")


async def _openssl(*args: str) -> trio.Process:
    return await trio.lowlevel.open_process(
        ["openssl", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


async def _read_until(stream, data: bytes, done) -> bytes:
    while not done(data):
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    return data


async def _finish(proc: trio.Process) -> bytes:
    """Wait for the process to exit by itself; its stderr."""
    errors = b""
    while chunk := await proc.stderr.receive_some(65536):
        errors += chunk
    await proc.wait()
    return errors


async def test_wsctl_server_closes_with_close_notify(start_server, pki):
    server = await start_server()
    # -quiet: no session dump, and s_client keeps reading until the server hangs up
    proc = await _openssl(
        "s_client",
        "-connect",
        f"127.0.0.1:{server.port}",
        "-CAfile",
        str(pki.root),
        "-cert",
        str(pki.alice.cert),
        "-cert_chain",
        str(pki.alice.chain),
        "-key",
        str(pki.alice.key),
        "-quiet",
    )
    try:
        with trio.fail_after(20):
            await proc.stdin.send_all(UPGRADE)
            seen = await _read_until(proc.stdout, b"", lambda d: b"\r\n\r\n" in d)
            assert seen.startswith(b"HTTP/1.1 101"), seen
            await proc.stdin.send_all(frame(0x8, close_payload(1000)))
            seen = await _read_until(proc.stdout, seen, lambda d: False)  # to EOF: the server hung up
            errors = await _finish(proc)
    finally:
        proc.kill()
    assert seen.endswith(b"\x88\x02\x03\xe8")  # the server's close frame came back
    assert b"unexpected eof" not in errors, errors.decode()


async def test_wsctl_client_closes_with_close_notify(pki):
    import socket

    with socket.socket() as probe:  # s_server prints no port for :0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # openssl s_server as the device: its stdout is what the client sent, its
    # stdin what the device answers (the 101, then its close frame)
    proc = await _openssl(
        "s_server",
        "-accept",
        f"127.0.0.1:{port}",
        "-naccept",
        "1",
        "-cert",
        str(pki.device.cert),
        "-cert_chain",
        str(pki.device.chain),
        "-key",
        str(pki.device.key),
        "-quiet",
    )
    seen = b""

    async def device():
        nonlocal seen
        seen = await _read_until(proc.stdout, seen, lambda d: b"\r\n\r\n" in d)
        await proc.stdin.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(seen) + b"\r\n\r\n"
        )
        head = len(seen)  # then the client's close frame: 2 + 4 (mask) + 2 (code) bytes
        seen = await _read_until(proc.stdout, seen, lambda d: len(d) >= head + 8)
        await proc.stdin.send_all(frame(0x8, close_payload(1000), mask=False))
        seen = await _read_until(proc.stdout, seen, lambda d: False)

    try:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(device)
                for _ in range(200):
                    try:
                        async with open_device(f"wss://127.0.0.1:{port}/", ca=pki.root, close_timeout=5):
                            break
                    except ConnectError:  # s_server is not listening yet
                        await trio.sleep(0.05)
            errors = await _finish(proc)
    finally:
        proc.kill()
    assert b"GET / HTTP/1.1" in seen and seen[-8] == 0x88  # the upgrade, and our close frame
    assert b"unexpected eof" not in errors, errors.decode()
