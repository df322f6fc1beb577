"""Our API never sends a close code that our own reader would refuse from a
peer (1002): codes below 1000 or above 4999, unregistered ones in 1000-2999.
`Channel.close` refuses them with `InvalidInput` before anything is sent — the
connection stays open — where 999, 1004, 2000 and 5000 went out on the wire
and 70000 raised `struct.error` from a method documented never to raise.
1005/1006/1015 (only an endpoint reports them) still go out as 1000.  A real
TLS server (its handler reports what its client sent), wsctl's client."""

from __future__ import annotations

import pytest
import trio

from wsctl.core.errors import ConnectionClosed, InvalidInput
from wsctl.net.api import open_device
from wsctl.net.websocket import WebSocket


@pytest.mark.parametrize("code", [0, 999, 1004, 1016, 2000, 2999, 5000, 70000, -1, "1000", True])
async def test_an_invalid_close_code_is_refused_before_anything_is_sent(start_server, alice_kw, code):
    server = await start_server()
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            with pytest.raises(InvalidInput, match="cannot close with code"):
                await dev.close(code)
            await dev.send("still open")
            assert await dev.receive() == "still open"


@pytest.mark.parametrize(("code", "sent"), [(3000, 3000), (4999, 4999), (1014, 1014), (1006, 1000), (1015, 1000)])
async def test_valid_and_local_only_codes(start_server, alice_kw, code, sent):
    seen: list[int] = []

    async def handler(conn) -> None:
        try:
            await conn.receive()
        except ConnectionClosed as exc:
            seen.append(exc.code)

    server = await start_server(handler)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.close(code, "bye")
        while not seen:
            await trio.sleep(0.01)
    assert seen == [sent]


async def test_a_server_handler_with_an_invalid_code_logs_nothing_sent(start_server, alice_kw):
    records: list = []
    outcome: list[BaseException] = []

    async def handler(conn) -> None:
        try:
            await conn.close(5000)
        except InvalidInput as exc:
            outcome.append(exc)
        await conn.close(4000, "fine")

    server = await start_server(handler, access_log=records.append)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive()
        while not records:
            await trio.sleep(0.01)
    assert info.value.code == 4000
    assert isinstance(outcome[0], InvalidInput)
    assert records[0].close_code == 4000


async def test_the_library_connection_raises_value_error(start_server, alice_kw):
    server = await start_server()
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            ws = dev._ws
            assert isinstance(ws, WebSocket)
            with pytest.raises(ValueError, match="invalid close code 999"):
                await ws.aclose(999)
            assert ws.closed is None
