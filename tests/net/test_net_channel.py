"""One wrapper, one close rule (wsctl.net.channel): the client's `Device`, a
server handler's `ServerConnection`, a recorded device and a `Session` end
iteration on 1000/1001 and raise `ConnectionClosed` on any other close; all
send bytes-like objects as binary and refuse anything else the same way."""

from __future__ import annotations

import pytest
import trio

from wsctl.core.errors import ConnectionClosed, InvalidInput
from wsctl.core.profile.events import Received
from wsctl.net.api import open_device
from wsctl.net.recorder import Recorder
from wsctl.net.session import Session


async def _wait_for(records, predicate, timeout=5):
    with trio.fail_after(timeout):
        while not any(predicate(r) for r in records):
            await trio.sleep(0.01)
    return next(r for r in records if predicate(r))


def _iterating_handler(ends: list):
    """A handler that iterates and notes how its loop ended."""

    async def handler(conn):
        got = []
        try:
            async for message in conn:
                got.append(message)
        except ConnectionClosed as exc:
            ends.append(("raised", exc.code, got))
            raise
        ends.append(("ended", conn.closed[0], got))

    return handler


@pytest.mark.parametrize("code, how", [(1000, "ended"), (1001, "ended"), (4000, "raised"), (1011, "raised")])
async def test_a_server_handlers_iteration_follows_the_close_rule(start_server, alice_kw, code, how):
    ends: list = []
    records: list = []
    server = await start_server(_iterating_handler(ends), access_log=records.append)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.send("one")
            await dev.close(code, "bye")
        rec = await _wait_for(records, lambda r: r.outcome != "open")
    assert ends == [(how, code, ["one"])]
    # a ConnectionClosed escaping the handler is the peer leaving, not a handler failure
    assert rec.outcome == "closed" and rec.close_code == code


@pytest.mark.parametrize("code, how", [(1000, "ended"), (1001, "ended"), (4001, "raised")])
async def test_the_clients_iteration_follows_the_same_rule(start_server, alice_kw, code, how):
    async def handler(conn):
        await conn.send("hello")
        await conn.close(code, "done")

    server = await start_server(handler)
    got = []
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            try:
                async for message in dev:
                    got.append(message)
                ended = "ended"
            except ConnectionClosed as exc:
                assert exc.code == code and "the device closed the connection" in exc.message
                ended = "raised"
    assert (ended, got) == (how, ["hello"])


async def test_a_handler_whose_own_nursery_sees_the_peer_leave_is_not_a_failure(start_server, alice_kw):
    """The close rule raises on 1006/4xxx inside a handler's nursery: the server
    unwraps the group instead of logging a handler error and sending 1011."""

    async def handler(conn):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            async for _ in conn:
                pass
            nursery.cancel_scope.cancel()

    records: list = []
    server = await start_server(handler, access_log=records.append)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.close(4002, "going")
        rec = await _wait_for(records, lambda r: r.outcome != "open")
    assert rec.outcome == "closed" and rec.error is None and rec.close_code == 4002


async def test_bytes_like_messages_are_binary_on_both_sides_and_other_types_refused(start_server, alice_kw):
    seen: list = []

    async def handler(conn):
        message = await conn.receive()
        seen.append(message)
        await conn.send(bytearray(b"\x01back"))
        await conn.send(memoryview(b"\x02view"))
        try:
            await conn.send(42)
        except Exception as exc:  # noqa: BLE001 - checked below, outside the handler
            seen.append(f"{type(exc).__name__}: {exc}")
        await conn.receive()

    server = await start_server(handler)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            await dev.send(memoryview(b"\x00out"))
            assert await dev.receive(timeout=5) == b"\x01back"
            assert await dev.receive(timeout=5) == b"\x02view"
            with pytest.raises(InvalidInput, match="str or bytes, not int"):
                await dev.send(42)
            await dev.send("done")
    assert seen == [b"\x00out", "InvalidInput: can only send str or bytes, not int"]


async def test_a_recorded_device_and_a_session_follow_the_close_rule(start_server, alice_kw, tmp_path):
    async def handler(conn):
        await conn.send("a")
        await conn.send(b"b")
        await conn.close(1000)

    server = await start_server(handler)
    with trio.fail_after(10), Recorder(tmp_path / "r.jsonl") as rec:
        async with rec.open(server.url, **alice_kw) as dev:
            # without a profile every message is a Received event; a normal close ends them
            events = [item async for item in Session(dev).events()]
    assert events == [Received("a"), Received(b"b")]

    async def abrupt(conn):
        await conn.send(bytearray(b"x"))
        await conn.close(4003, "gone")

    server2 = await start_server(abrupt)
    with trio.fail_after(10), Recorder(tmp_path / "r2.jsonl") as rec:
        async with rec.open(server2.url, **alice_kw) as dev:
            got = []
            with pytest.raises(ConnectionClosed) as info:
                async for message in dev:
                    got.append(message)
            assert info.value.code == 4003 and got == [b"x"]


@pytest.mark.parametrize("code", [1000, 4004])
async def test_device_events_end_or_raise_by_the_close_rule(start_server, alice_kw, code):
    """Device.events() used to wait forever once the device had closed."""

    async def handler(conn):
        await conn.send('{"jsonrpc":"2.0","method":"conveyor.telemetry","params":{"speed":7}}')
        await conn.close(code, "bye")

    server = await start_server(handler, subprotocols=["conveyor.v1"])
    got = []
    with trio.fail_after(10):
        async with open_device(server.url, profile="conveyor", **alice_kw) as dev:
            if code == 1000:
                got = [event async for event in dev.events()]
            else:
                with pytest.raises(ConnectionClosed) as info:
                    async for event in dev.events():
                        got.append(event)
                assert info.value.code == code
    assert [(type(e).__name__, e.payload) for e in got] == [("Telemetry", {"speed": 7})]
