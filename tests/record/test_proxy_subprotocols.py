"""The tool's offered subprotocols reach the device and the device's choice comes
back (issue 8, item 11): without --subprotocol/--profile an OCPP device used to
refuse, because the proxy offered it nothing."""

from __future__ import annotations

import functools

import trio

from wsctl.files.recording_reader import open_recording
from wsctl.net.api import open_device
from wsctl.net.proxy import RecordingProxy
from wsctl.net.recorder import Recorder
from wsctl.net.server import echo_handler, serve


async def session(plant, tmp_path, *, device_speaks, tool_offers, proxy_offers=()):
    offered_to_device: list = []
    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(
                serve,
                echo_handler,
                host="127.0.0.1",
                port=0,
                subprotocols=device_speaks,
                authorize=lambda request: offered_to_device.append(request.subprotocols),
                **plant.server_kwargs(),
            )
        )
        rec = Recorder(tmp_path / "sub.jsonl", source="proxy")
        kwargs = {**plant.client_kwargs(), "subprotocols": proxy_offers}
        relay = RecordingProxy(f"wss://localhost:{upstream.port}/", kwargs, rec)
        server = await nursery.start(
            functools.partial(relay.run, host="127.0.0.1", port=0, subprotocols=proxy_offers, **plant.server_kwargs())
        )
        async with open_device(
            f"wss://localhost:{server.port}/", subprotocols=tool_offers, **plant.client_kwargs()
        ) as dev:
            await dev.send("x")
            assert await dev.receive(timeout=5) == "x"
            chosen = dev.subprotocol
        nursery.cancel_scope.cancel()
    rec.close()
    (opened,) = [e for e in open_recording(tmp_path / "sub.jsonl") if e.kind == "open"]
    return offered_to_device, chosen, opened.info["subprotocol"]


async def test_the_tools_offer_reaches_the_device_and_its_choice_comes_back(plant, tmp_path):
    offered, chosen, recorded = await session(
        plant, tmp_path, device_speaks=("ocpp1.6",), tool_offers=("ocpp2.0.1", "ocpp1.6")
    )
    assert offered == [("ocpp2.0.1", "ocpp1.6")] and chosen == "ocpp1.6" and recorded == "ocpp1.6"


async def test_a_device_that_chooses_none_leaves_the_tool_without_one(plant, tmp_path):
    offered, chosen, recorded = await session(plant, tmp_path, device_speaks=(), tool_offers=("ocpp1.6",))
    assert offered == [("ocpp1.6",)] and chosen is None and recorded is None


async def test_with_configured_subprotocols_only_those_the_tool_offers_too_go_upstream(plant, tmp_path):
    offered, chosen, _ = await session(
        plant, tmp_path, device_speaks=("b", "a"), tool_offers=("a", "b", "c"), proxy_offers=("b", "a")
    )
    assert offered == [("a", "b")] and chosen == "b"  # the device's preference decides


async def test_a_device_connection_no_session_claims_is_closed(plant, tmp_path, monkeypatch):
    """The device connection is opened before the tool's upgrade is accepted; a
    tool that vanishes in between must not leave it open."""
    import ssl

    from wsctl.net import proxy as proxy_module

    monkeypatch.setattr(proxy_module, "CLAIM_TIMEOUT", 0.2)
    device_closed = trio.Event()

    async def device(conn):
        try:
            async for _ in conn:
                pass
        finally:
            device_closed.set()

    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        relay = RecordingProxy(
            f"wss://localhost:{upstream.port}/",
            plant.client_kwargs(),
            Recorder(tmp_path / "gone.jsonl", source="proxy"),
        )
        server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
        kw = plant.client_kwargs()
        ctx = ssl.create_default_context(cafile=kw["ca"])
        ctx.load_cert_chain(kw["cert"], kw["key"], password=kw["password"])
        stream = await trio.open_ssl_over_tcp_stream("localhost", server.port, ssl_context=ctx)
        await stream.send_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await trio.aclose_forcefully(stream)  # gone before the proxy could answer
        with trio.fail_after(10):
            await device_closed.wait()
            while relay._pending:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
