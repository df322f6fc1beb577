"""`Session.call` without a `run` task reads the connection itself until its
reply is in (what `wsctl send` does per device): what arrives before the reply
is routed on the way (telemetry to ``on_event`` in order, or kept for
`events`), concurrent calls hand the reading over, a close ends every call at
once.  A real TLS server on port 0 plays a JSON-RPC conveyor."""

from __future__ import annotations

import json

import pytest
import trio

from wsctl.core.errors import ConnectionClosed
from wsctl.files.profiles import load_profile
from wsctl.net.api import open_device
from wsctl.net.session import Session

CONVEYOR = load_profile("conveyor")


def _telemetry(n: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "conveyor.telemetry", "params": {"speed": n}})


def _result(request: str, value) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": json.loads(request)["id"], "result": value})


async def test_a_call_without_a_reader_task_gets_its_reply_and_routes_what_came_before(start_server, alice_kw):
    async def handler(conn):
        request = await conn.receive()
        for n in range(3):
            await conn.send(_telemetry(n))
        await conn.send(_result(request, {"state": "running"}))
        await conn.send(_telemetry(99))  # after the reply: nobody reads it
        await conn.receive()

    server = await start_server(handler)
    seen: list = []
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            session = Session(dev, CONVEYOR, on_event=seen.append)
            reply = await session.call("status", timeout=5)
    assert reply.ok and reply.payload == {"state": "running"}
    assert [event.payload["speed"] for event in seen] == [0, 1, 2]


async def test_events_read_on_the_way_are_kept_for_events(start_server, alice_kw):
    async def handler(conn):
        request = await conn.receive()
        await conn.send(_telemetry(1))
        await conn.send(_result(request, "ok"))
        await conn.send(_telemetry(2))
        await conn.close(1000)

    server = await start_server(handler)
    with trio.fail_after(10):
        async with open_device(server.url, **alice_kw) as dev:
            session = Session(dev, CONVEYOR)
            assert (await session.call("status", timeout=5)).payload == "ok"
            speeds = [event.payload["speed"] async for event in session.events()]
    assert speeds == [1, 2]


async def test_concurrent_calls_without_a_reader_task_hand_the_reading_over(start_server, alice_kw):
    """The first call's reply comes first: its call stops reading, the other
    call takes over and gets the second reply (answered in reverse order too)."""

    async def handler(conn):
        first, second = await conn.receive(), await conn.receive()
        await conn.send(_result(first, "one"))
        await trio.sleep(0.2)
        await conn.send(_result(second, "two"))
        third, fourth = await conn.receive(), await conn.receive()
        await conn.send(_result(fourth, "four"))
        await trio.sleep(0.2)
        await conn.send(_result(third, "three"))
        await conn.receive()

    server = await start_server(handler)
    got: dict[str, object] = {}
    with trio.fail_after(15):
        async with open_device(server.url, **alice_kw) as dev:
            session = Session(dev, CONVEYOR)

            async def call(name: str) -> None:
                got[name] = (await session.call("status", timeout=5)).payload

            for pair in (("a", "b"), ("c", "d")):
                async with trio.open_nursery() as nursery:
                    for name in pair:
                        nursery.start_soon(call, name)
                        await trio.sleep(0.05)  # sent in this order
    assert got == {"a": "one", "b": "two", "c": "three", "d": "four"}


async def test_a_close_ends_every_waiting_call_at_once(start_server, alice_kw):
    async def handler(conn):
        await conn.receive()
        await conn.receive()
        await conn.close(4001, "going away")

    server = await start_server(handler)
    errors: list[BaseException] = []
    with trio.fail_after(10):  # the calls' own timeout is 60 s
        async with open_device(server.url, **alice_kw) as dev:
            session = Session(dev, CONVEYOR)

            async def call() -> None:
                with pytest.raises(ConnectionClosed) as info:
                    await session.call("status", timeout=60)
                errors.append(info.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await trio.sleep(0.05)
                nursery.start_soon(call)
    assert [error.code for error in errors] == [4001, 4001]
