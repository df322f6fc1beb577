"""An operator that stops reading: its answers are held within a bound, it is
closed when it reads none, and neither it nor its disconnection takes the hub
down.  A real hub, a real charger connection, and a raw TLS + wsproto operator
that never reads from its socket."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct

import trio
import wsproto
from hub_helpers import client_tls, hub_url, running_hub
from test_hub_hostile import answers, charger_conn
from wsproto.events import AcceptConnection, Request, TextMessage

from wsctl.core.errors import WsctlError
from wsctl.net.api import open_device
from wsctl.net.hub import operator_link

CSMS = "ocpp16"
BOOT = '[2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]'


async def stalled_operator(hub, pki, leaf=None, path="/devices/CP-1"):
    """A client (an operator, unless ``leaf`` says otherwise) upgraded on
    ``path`` that, from then on, only writes: it reads nothing, not even a close."""
    leaf = leaf or pki.alice
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.load_cert_chain(str(leaf.chain), str(leaf.key))
    port = hub.server.port
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, ctx, server_hostname="localhost")
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host="localhost", target=path, subprotocols=["ocpp1.6"])))
    with trio.fail_after(10):
        while True:
            ws.receive_data(await stream.receive_some(65536))
            if any(isinstance(e, AcceptConnection) for e in ws.events()):
                break
    return stream, ws


async def alive(hub, pki, dev):
    """The hub still serves the device, and another operator (an unknown action: the hub answers it)."""
    assert (await answers(dev, [BOOT]))[0][0] == 3
    async with open_device(hub_url(hub, "/devices/CP-1"), subprotocols=["ocpp1.6"], **client_tls(pki, pki.olga)) as op:
        (error,) = await answers(op, ['[2, "u1", "NoSuchAction", {}]'])
        assert error[0] == 4 and error[1] == "u1"


async def device_talks(dev, count: int) -> None:
    """The device sends ``count`` 60 kB DataTransfers, each answered by the hub
    and copied to every operator watching it."""
    data = "x" * 60000
    for n in range(count):
        await dev.send(json.dumps([2, f"d{n}", "DataTransfer", {"vendorId": "acme", "data": data}]))
        with trio.fail_after(10):
            await dev.receive()


async def test_an_operator_that_reads_nothing_is_closed_and_the_hub_carries_on(hub_pki, registry, caplog):
    registry.add_device("CP-1", profile=CSMS)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger_conn(hub, hub_pki) as dev:
                await answers(dev, [BOOT])
                stream, ws = await stalled_operator(hub, hub_pki)
                await device_talks(dev, 120)  # each message copied to the operator, who reads none
                # its own calls, answered by the hub at once (an unknown action): more than the bound
                calls = operator_link.MAX_UNSENT_ANSWERS + operator_link.WATCH_BUFFER + 20
                with trio.move_on_after(10):
                    try:
                        for n in range(calls):
                            await stream.send_all(ws.send(TextMessage(json.dumps([2, f"o{n}", "NoSuchAction", {}]))))
                    except trio.BrokenResourceError:
                        pass  # the hub closed it: what this test waits for
                with trio.fail_after(10):
                    while not any("reads none of its answers" in r.getMessage() for r in caplog.records):
                        await trio.sleep(0.05)
                with contextlib.suppress(trio.BrokenResourceError):
                    await stream.aclose()
                await trio.sleep(0.2)
                await alive(hub, hub_pki, dev)
            nursery.cancel_scope.cancel()


async def test_an_operator_that_drops_while_answers_wait_takes_nothing_down(hub_pki, registry):
    """The crash the fallback send made: a task in the hub's nursery, writing to
    the closed channel of an operator that had gone."""
    registry.add_device("CP-1", profile=CSMS)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry) as hub:
            async with charger_conn(hub, hub_pki) as dev:
                await answers(dev, [BOOT])
                stream, ws = await stalled_operator(hub, hub_pki)
                await device_talks(dev, operator_link.WATCH_BUFFER + 150)  # its channel full, and its socket
                with trio.move_on_after(5):
                    for n in range(40):
                        await stream.send_all(ws.send(TextMessage(json.dumps([2, f"o{n}", "NoSuchAction", {}]))))
                await trio.sleep(0.5)
                tcp = stream.transport_stream
                tcp.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                await tcp.aclose()  # a reset, as a killed tool's
                await trio.sleep(0.5)
                await alive(hub, hub_pki, dev)
            nursery.cancel_scope.cancel()


async def test_a_registry_held_by_another_process_past_the_busy_timeout_does_not_stop_the_hub(
    hub_pki, tmp_path, monkeypatch, caplog
):
    import sqlite3

    from wsctl.net.hub import hub as hub_module
    from wsctl.registry import Registry, db

    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.2)  # seconds a write waits for the lock
    monkeypatch.setattr(hub_module, "EXPIRY_PERIOD", 0.1)  # the hub's periodic write
    reg = Registry.open(tmp_path / "hub.db")
    reg.add_device("CP-1", profile=CSMS)
    try:
        async with trio.open_nursery() as nursery:
            async with running_hub(nursery, hub_pki, reg) as hub:
                other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
                other.execute("BEGIN IMMEDIATE")  # another process's long write (a backup, an editor)
                await trio.sleep(1.0)
                other.execute("ROLLBACK")
                other.close()
                async with charger_conn(hub, hub_pki) as dev:
                    assert (await answers(dev, [BOOT]))[0][0] == 3
                nursery.cancel_scope.cancel()
    finally:
        reg.close()
    assert any("queued commands not expired this time" in r.getMessage() for r in caplog.records)


async def test_two_reconnections_at_once_leave_one_connection_which_the_hub_knows(hub_pki, registry):
    """A charger reconnects twice while its old connection does not answer the
    hub's close: both new ones wait for it; afterwards exactly one is open and
    it is the one in the registry (the other was replaced, not left behind)."""
    registry.add_device("CP-1", profile=CSMS)
    async with trio.open_nursery() as nursery:
        async with running_hub(nursery, hub_pki, registry, serve_kwargs={"close_timeout": 1.0}) as hub:
            old = await stalled_operator(hub, hub_pki, hub_pki.chargers["CP-1"], "/ocpp/CP-1")  # kept: not collected
            with trio.fail_after(10):
                while "CP-1" not in hub.links:
                    await trio.sleep(0.01)
            async with charger_conn(hub, hub_pki) as b, charger_conn(hub, hub_pki) as c:
                await trio.sleep(3.0)  # the old one's close times out (1 s), then the two settle
                open_ones = []
                for conn in (b, c):
                    try:
                        if (await answers(conn, ['[2, "h", "Heartbeat", {}]']))[0][0] == 3:
                            open_ones.append(conn)
                    except WsctlError:
                        pass  # closed by the hub: replaced
                assert len(open_ones) == 1, open_ones
                link = hub.links["CP-1"]
                await open_ones[0].close()
                with trio.fail_after(10):
                    while hub.links.get("CP-1") is link:
                        await trio.sleep(0.05)  # the open one was the hub's: its going is seen
                assert not registry.device("CP-1").online
            await old[0].aclose()
            nursery.cancel_scope.cancel()
