"""`record --listen` takes the server's handshake limits (issue 8, item 5): tools
stalled in their handshake do not lock an operator out of the proxy."""

from __future__ import annotations

import trio
from record_helpers import Process

from wsctl.net.api import open_device


async def test_stalled_handshakes_do_not_lock_a_tool_out_of_the_proxy(plant, echo, tmp_path):
    proxy = await trio.to_thread.run_sync(
        lambda: Process(
            "record",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            echo.url,
            "-o",
            str(tmp_path / "limits.jsonl"),
            "--certs",
            str(plant.certs),
            "--device",
            "dev",
            "--operator",
            "alice",
            "--max-connections",
            "3",
            "--max-handshakes",
            "3",
            "--max-handshakes-per-source",
            "2",
        )
    )
    stalled = []
    try:
        port = int(proxy.url.rsplit(":", 1)[1].strip("/"))
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            for _ in range(3):  # more than any limit: they cannot finish a handshake
                stalled.append(await trio.open_tcp_stream("127.0.0.1", port, local_address=source))
        with trio.fail_after(10):
            async with open_device(proxy.url.replace("127.0.0.1", "localhost"), **plant.client_kwargs()) as dev:
                await dev.send("through")
                assert await dev.receive(timeout=5) == "through"
    finally:
        for stream in stalled:
            await stream.aclose()
        await trio.to_thread.run_sync(proxy.kill)
