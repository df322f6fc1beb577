"""The clients' watch (`client_open.watch_unattended`, one task per trio run):
a client that does not read still answers the server's pings, also after a
read ended; while a reader waits, its connection is not looked at instead of
waking every 0.1 s (it cost ~5 timers per device of a fan-out).  Real TLS
server on port 0."""

from __future__ import annotations

import trio

from wsctl.net import websocket
from wsctl.net.api import open_device


def _pinging_server(pings: list[float], go: trio.Event, done: trio.Event):
    async def handler(conn):
        await go.wait()
        pings.append(await conn.ping(timeout=5))  # answered only if the client's side reads for it
        await conn.send("after the ping")
        await done.wait()

    return handler


async def test_a_client_that_never_reads_answers_pings(start_server, alice_kw):
    pings: list[float] = []
    go, done = trio.Event(), trio.Event()
    server = await start_server(_pinging_server(pings, go, done))
    with trio.fail_after(15):
        async with open_device(server.url, **alice_kw) as dev:
            go.set()
            while not pings:
                await trio.sleep(0.05)  # the tool does something else; nobody calls receive
            assert await dev.receive(timeout=5) == "after the ping"
            done.set()
    assert len(pings) == 1


async def test_pings_are_answered_again_once_a_reader_stopped_waiting(start_server, alice_kw):
    pings: list[float] = []
    go, done = trio.Event(), trio.Event()

    async def handler(conn):
        await conn.send("first")
        await _pinging_server(pings, go, done)(conn)

    server = await start_server(handler)
    with trio.fail_after(15):
        async with open_device(server.url, **alice_kw) as dev:
            assert await dev.receive(timeout=5) == "first"  # a reader waited, then stopped
            await trio.sleep(0.3)
            go.set()
            while not pings:
                await trio.sleep(0.05)
            assert await dev.receive(timeout=5) == "after the ping"
            done.set()
    assert len(pings) == 1


async def test_the_watch_is_parked_while_a_reader_waits(start_server, alice_kw, monkeypatch):
    looked: list[float] = []
    plain = websocket.WebSocket.needs_reader

    def counted(self, now, after=websocket.UNATTENDED_AFTER):
        looked.append(now)
        return plain(self, now, after)

    monkeypatch.setattr(websocket.WebSocket, "needs_reader", counted)
    release = trio.Event()

    async def handler(conn):
        await release.wait()
        await conn.send("late")

    server = await start_server(handler)
    with trio.fail_after(15):
        async with open_device(server.url, **alice_kw) as dev:
            async with trio.open_nursery() as nursery:
                got: list[str] = []

                async def read() -> None:
                    got.append(await dev.receive(timeout=10))

                nursery.start_soon(read)
                await trio.sleep(0.3)  # the reader is waiting now
                before = len(looked)
                await trio.sleep(1.0)  # ten of the old watch's rounds
                during = len(looked) - before
                release.set()
            assert got == ["late"]
    # at most a look or two (TLS 1.3 session tickets end a read without a message);
    # the old watch looked every 0.1 s: ten times
    assert during <= 2, looked


def _task_names() -> list[str]:
    names: list[str] = []

    def walk(task) -> None:
        names.append(task.name)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    walk(trio.lowlevel.current_root_task())
    return names


async def test_one_watch_for_all_the_client_connections_of_a_run(start_server, alice_kw):
    import contextlib

    server = await start_server()
    with trio.fail_after(15):
        async with contextlib.AsyncExitStack() as stack:
            devices = [await stack.enter_async_context(open_device(server.url, **alice_kw)) for _ in range(3)]
            names = _task_names()
            # one task of the run's, not a watch task per connection (each cost a task, an
            # event, two timers and a cancellation per device of a fan-out)
            assert names.count("wsctl client watch") == 1, names
            assert not [n for n in names if "watch_unattended" in n], names
            for dev in devices:
                await dev.send("still answers")
                assert await dev.receive(timeout=5) == "still answers"
