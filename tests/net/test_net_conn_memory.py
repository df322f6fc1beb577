"""What an idle connection holds (issue 14 goal 1, issue 11: a server holds
tens of thousands): no empty deque kept, common upgrade headers shared between
connections and never a secret among them, a session's last event not kept
alive while it waits for the next.  Real connections over mutual TLS."""

from __future__ import annotations

import gc
import json
import weakref

import trio
import trio.testing

from wsctl.files.profiles import load_profile
from wsctl.net import serverconn
from wsctl.net.api import open_device
from wsctl.net.serverconn import SHARED_PAIRS_MAX, decoded_headers
from wsctl.net.session import Session


async def test_common_header_pairs_are_shared_between_connections(start_server, alice_kw):
    seen = []

    async def handler(conn):
        seen.append(conn.headers)
        await conn.send("ok")
        await conn.receive()

    server = await start_server(handler)
    headers = {"User-Agent": "charger-fw/1.2", "Authorization": "Bearer not-to-be-kept", "X-Station": "CP-1"}
    for _ in range(2):
        async with open_device(server.url, headers=headers, **alice_kw) as dev:
            assert await dev.receive(timeout=5) == "ok"
    first, second = ({pair[0]: pair for pair in h} for h in seen)
    assert first["user-agent"] is second["user-agent"]
    assert first["user-agent"] == ("user-agent", "charger-fw/1.2")
    # a secret is decoded per connection and never kept in the shared table
    assert first["authorization"] == second["authorization"] == ("authorization", "Bearer not-to-be-kept")
    assert first["authorization"] is not second["authorization"]
    assert first["x-station"] is not second["x-station"]  # not a header known to repeat
    assert not any(name == b"authorization" for name, _ in serverconn._shared_pairs)


def test_the_shared_header_table_is_bounded():
    for n in range(SHARED_PAIRS_MAX + 100):
        assert decoded_headers([(b"user-agent", f"agent/{n}".encode())]) == (("user-agent", f"agent/{n}"),)
    assert len(serverconn._shared_pairs) <= SHARED_PAIRS_MAX
    # still decoded right once the table is full
    assert decoded_headers([(b"origin", b"https://caf\xe9")]) == (("origin", "https://caf\xe9"),)


async def test_an_idle_connection_holds_no_deque_and_no_last_message(start_server, alice_kw):
    conns = []

    async def handler(conn):
        conns.append(conn)
        async for message in conn:
            await conn.send(message)

    server = await start_server(handler)
    async with open_device(server.url, **alice_kw) as dev:
        for n in range(3):
            await dev.send(f"m{n}")
            assert await dev.receive(timeout=5) == f"m{n}"
        ws = conns[0]._ws
        assert ws._messages is None  # drained: no deque (760 bytes) kept
        assert not hasattr(ws, "__dict__")  # slots only: no per-connection dict


async def test_a_session_does_not_keep_its_last_event_while_it_reads(start_server, alice_kw, nursery):
    async def handler(conn):
        await conn.send(json.dumps({"jsonrpc": "2.0", "method": "belt.telemetry", "params": {"speed": 1}}))
        await conn.receive()

    server = await start_server(handler)
    refs: list[weakref.ref] = []
    got = trio.Event()

    def on_event(item):
        refs.append(weakref.ref(item))
        got.set()

    async with open_device(server.url, **alice_kw) as dev:
        session = Session(dev, load_profile("conveyor"), on_event=on_event)
        nursery.start_soon(session.run)
        with trio.fail_after(5):
            await got.wait()
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)
        gc.collect()
        assert refs and refs[0]() is None  # the reader waits for the next message holding nothing of the last
        await dev.send("bye")
