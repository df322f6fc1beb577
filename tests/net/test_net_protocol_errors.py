"""Protocol errors end with a close frame that says why, on both sides
(issue 8, item 7): a hand-written peer sends what no library would, and reads
what comes back before EOF.

Before the fix, wsproto's parse failure reached trio-websocket as if the peer
had closed: the server logged the right code but the peer only saw EOF, and the
client reported "connection closed with code 1002" as if the device had closed.
"""

from __future__ import annotations

import pytest
import trio
from net_helpers import close_of, close_payload, frame, raw_client, raw_device, read_frames, read_to_eof

from wsctl.core.errors import ConnectionClosed
from wsctl.net.api import open_device

# (bad bytes from a client, close code the server must send, words in the reason)
CLIENT_ERRORS = {
    "invalid-utf8": (frame(0x1, b"ok \xff\xfe"), 1007, "utf-8"),
    "unmasked": (frame(0x1, b"hi", mask=False), 1002, "unmasked"),
    "reserved-opcode": (frame(0x3), 1002, "opcode"),
    "fragmented-ping": (frame(0x9, b"x", fin=False), 1002, "fragment"),
    "close-999": (frame(0x8, close_payload(999)), 1002, "invalid code"),
    "close-1004": (frame(0x8, close_payload(1004)), 1002, "code"),
    "close-1005": (frame(0x8, close_payload(1005)), 1002, "local-only"),
    "close-5000": (frame(0x8, close_payload(5000)), 1002, "invalid code"),
    "close-reason-utf8": (frame(0x8, close_payload(1000, b"\xc3")), 1007, "utf-8"),
    # a header announcing 1 TiB, and no payload: refused at once, not after the idle timeout
    "oversized-header": (frame(0x2, length=2**40), 1009, "1024"),
}


async def _wait_for(records, timeout=5):
    with trio.fail_after(timeout):
        while not records:
            await trio.sleep(0.01)
    return records[0]


@pytest.mark.parametrize("case", list(CLIENT_ERRORS))
async def test_server_answers_a_protocol_error_with_a_close_frame(case, start_server, pki):
    bad, code, words = CLIENT_ERRORS[case]
    records = []
    # idle and handshake timeouts far beyond the bounded wait below: the close
    # must come from the bad frame itself
    server = await start_server(
        access_log=records.append, max_message_size=1024, idle_timeout=600, handshake_timeout=60
    )
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(0x1, b"before"))
        while not read_frames(rest):
            rest += await tls.receive_some(4096)
        assert read_frames(rest) == [(0x1, b"before")]
        await tls.send_all(bad)
        data = await read_to_eof(tls)
    got = close_of(data)
    assert got is not None, f"no close frame before EOF: {data!r}"
    assert got[0] == code and words in got[1].lower(), got
    rec = await _wait_for(records)
    assert rec.close_code == code and rec.closed_by == "server", rec
    assert rec.error.startswith(f"server closed with {code}: the client sent"), rec.error
    if code == 1009:
        assert "--max-message-size" in rec.error and str(2**40) in rec.error


async def test_an_oversized_message_in_fragments_is_refused_by_its_headers(start_server, pki):
    records = []
    server = await start_server(access_log=records.append, max_message_size=1024, idle_timeout=600)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        # 1000 bytes arrive; the next fragment announces 100 more: over 1024 in all
        await tls.send_all(frame(0x2, b"x" * 1000, fin=False) + frame(0x0, length=100))
        assert close_of(await read_to_eof(tls, rest))[0] == 1009
    assert (await _wait_for(records)).close_code == 1009


async def test_a_client_close_frame_is_still_answered_normally(start_server, pki):
    records = []
    server = await start_server(access_log=records.append)
    with trio.fail_after(5):
        tls, rest = await raw_client(server.port, pki)
        await tls.send_all(frame(0x8, close_payload(4000, b"bye")))
        assert close_of(await read_to_eof(tls, rest)) == (4000, "bye")
    rec = await _wait_for(records)
    assert rec.close_code == 4000 and rec.closed_by == "client" and rec.error is None


# (bad bytes from a device, close code the client must send, words in its message)
DEVICE_ERRORS = {
    "masked": (frame(0x1, b"hi", mask=True), 1002, "masked"),
    "invalid-utf8": (frame(0x1, b"\xff", mask=False), 1007, "invalid UTF-8"),
    "reserved-opcode": (frame(0xB, mask=False), 1002, "opcode"),
    "oversized-header": (frame(0x1, mask=False, length=2**33), 1009, "--max-message-size"),
}


@pytest.mark.parametrize("case", list(DEVICE_ERRORS))
async def test_client_answers_a_device_protocol_error_with_a_close_frame(case, nursery, pki):
    bad, code, words = DEVICE_ERRORS[case]
    sent_by_client = []

    async def device(stream):
        await stream.send_all(frame(0x1, b"hello", mask=False) + bad)
        sent_by_client.append(await read_to_eof(stream))

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            assert await dev.receive(timeout=3) == "hello"
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=3)
        while not sent_by_client:
            await trio.sleep(0.01)
    message = str(info.value)
    assert info.value.code == code
    assert f"the client closed the connection with {code}" in message and "the device sent" in message, message
    assert words in message, message
    got = close_of(sent_by_client[0])
    assert got is not None and got[0] == code, sent_by_client


async def test_a_device_closing_is_reported_as_the_device_closing(nursery, pki):
    async def device(stream):
        await stream.send_all(frame(0x8, close_payload(1011, b"overheated"), mask=False))
        await read_to_eof(stream)

    url = await raw_device(nursery, pki, device)
    with trio.fail_after(5):
        async with open_device(url, ca=pki.root, close_timeout=3) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=3)
    assert "the device closed the connection with code 1011" in str(info.value) and "overheated" in str(info.value)
