"""The recording proxy end to end: client → proxy → device, real TLS everywhere."""

from __future__ import annotations

import functools
import signal

import pytest
import trio
from record_helpers import Process, echo_server, recorded

from wsctl.core.errors import ConnectionClosed, TLSError
from wsctl.core.exit_table import ExitCode
from wsctl.files.recording_reader import open_recording
from wsctl.net.api import open_device
from wsctl.net.proxy import RecordingProxy
from wsctl.net.recorder import Recorder
from wsctl.net.server import echo_handler, serve


def events_of(path):
    return list(open_recording(path))


async def start(nursery, plant, handler):
    return await nursery.start(functools.partial(serve, handler, host="127.0.0.1", port=0, **plant.server_kwargs()))


async def start_proxy(nursery, plant, upstream_url, path):
    rec = Recorder(path, url=upstream_url, source="proxy")
    relay = RecordingProxy(upstream_url, plant.client_kwargs(), rec)
    server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
    return rec, f"wss://localhost:{server.port}/"


async def test_both_directions_are_relayed_unchanged_and_recorded(plant, tmp_path):
    path = tmp_path / "proxy.jsonl"
    async with trio.open_nursery() as nursery:
        upstream = await start(nursery, plant, echo_handler)
        rec, url = await start_proxy(nursery, plant, f"wss://localhost:{upstream.port}/", path)
        async with open_device(url, **plant.client_kwargs()) as dev:
            await dev.send("héllo\r\n")
            assert await dev.receive(timeout=5) == "héllo\r\n"
            await dev.send(b"\x00\xff\x10")
            assert await dev.receive(timeout=5) == b"\x00\xff\x10"
        await recorded(path, lambda e: e.kind == "close")
        nursery.cancel_scope.cancel()
    rec.close()
    reader = open_recording(path)
    events = list(reader)
    assert reader.header.source == "proxy" and reader.header.fingerprints["device"].startswith("sha256:")
    assert [(e.kind, e.dir, e.data) for e in events] == [
        ("open", None, None),
        ("text", "out", "héllo\r\n"),
        ("text", "in", "héllo\r\n"),
        ("binary", "out", b"\x00\xff\x10"),
        ("binary", "in", b"\x00\xff\x10"),
        ("close", "out", None),
    ]
    assert events[0].info["peer"]["name"] == "alice" and events[-1].code == 1000
    assert len({e.conn for e in events}) == 1


async def test_close_codes_are_passed_both_ways(plant, tmp_path):
    seen = {}

    async def upstream_handler(conn):
        message = await conn.receive()
        seen.setdefault("received", []).append(message)
        if message == "close-me":
            await conn.close(4002, "device done")
            return
        try:
            await conn.receive()
        except ConnectionClosed as exc:
            seen["code"] = (exc.code, exc.reason)

    async with trio.open_nursery() as nursery:
        upstream = await start(nursery, plant, upstream_handler)
        rec, url = await start_proxy(nursery, plant, f"wss://localhost:{upstream.port}/", tmp_path / "codes.jsonl")
        async with open_device(url, **plant.client_kwargs()) as dev:
            await dev.send("close-me")
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=5)
        assert (info.value.code, info.value.reason) == (4002, "device done")
        async with open_device(url, **plant.client_kwargs()) as dev:
            await dev.send("stay")
            with trio.fail_after(10):  # relayed before the close goes after it
                while "stay" not in seen["received"]:
                    await trio.sleep(0.01)
            await dev.close(4001, "tool done")
        with trio.fail_after(5):
            while "code" not in seen:
                await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
    assert seen["code"] == (4001, "tool done")
    closes = [(e.conn, e.dir, e.code) for e in events_of(tmp_path / "codes.jsonl") if e.kind == "close"]
    assert closes == [(1, "in", 4002), (2, "out", 4001)]


async def test_upstream_refusing_closes_the_client_with_1011_bad_gateway_and_is_recorded(plant, tmp_path):
    path = tmp_path / "refused.jsonl"
    async with trio.open_nursery() as nursery:
        rec, url = await start_proxy(nursery, plant, "wss://127.0.0.1:1/", path)
        async with open_device(url, **plant.client_kwargs()) as dev:
            with pytest.raises(ConnectionClosed) as info:
                await dev.receive(timeout=10)
        assert info.value.code == 1011 and info.value.reason.startswith("bad gateway: ")
        nursery.cancel_scope.cancel()
    (event,) = events_of(path)
    assert event.kind == "error" and event.error.startswith("upstream:") and event.info["peer"]["name"] == "alice"


async def test_upstream_dropping_closes_the_client_with_1011(plant, tmp_path):
    path = tmp_path / "dropped.jsonl"
    device = echo_server(plant)  # a real process, killed without a close frame
    try:
        async with trio.open_nursery() as nursery:
            rec, url = await start_proxy(nursery, plant, device.url.replace("127.0.0.1", "localhost"), path)
            async with open_device(url, **plant.client_kwargs()) as dev:
                await dev.send("before")
                assert await dev.receive(timeout=5) == "before"
                device.proc.send_signal(signal.SIGKILL)
                with pytest.raises(ConnectionClosed) as info:
                    await dev.receive(timeout=10)
            assert info.value.code == 1011
            await recorded(path, lambda e: e.kind == "close")
            nursery.cancel_scope.cancel()
    finally:
        device.kill()
    kinds = [(e.kind, e.dir, e.code) for e in events_of(path)]
    assert kinds[-2:] == [("error", None, None), ("close", "in", 1006)]


async def test_a_bad_client_does_not_stop_the_proxy(plant, tmp_path):
    async with trio.open_nursery() as nursery:
        upstream = await start(nursery, plant, echo_handler)
        rec, url = await start_proxy(nursery, plant, f"wss://localhost:{upstream.port}/", tmp_path / "bad.jsonl")
        with pytest.raises(TLSError):
            async with open_device(url, ca=plant.root, connect_timeout=5) as dev:  # no client certificate
                await dev.receive(timeout=5)
        async with open_device(url, **plant.client_kwargs()) as dev:
            await dev.send("still here")
            assert await dev.receive(timeout=5) == "still here"
        nursery.cancel_scope.cancel()


async def test_record_proxy_command_end_to_end(plant, echo, tmp_path):
    path = tmp_path / "cli-proxy.jsonl"
    proxy = await trio.to_thread.run_sync(
        lambda: Process(
            "record",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            echo.url,
            "-o",
            str(path),
            "--certs",
            str(plant.certs),
            "--device",
            "dev",
            "--operator",
            "alice",
        )
    )
    try:
        assert proxy.first["event"] == "listening" and proxy.first["upstream"] == echo.url
        url = proxy.url.replace("127.0.0.1", "localhost")
        async with open_device(url, **plant.client_kwargs()) as dev:
            await dev.send("through")
            assert await dev.receive(timeout=5) == "through"
        await proxy.wait_for_line("proxy-closed")  # the proxy is done with the connection
        code, lines, err = await trio.to_thread.run_sync(proxy.stop)
    finally:
        proxy.kill()
    assert code == ExitCode.TERMINATED, err
    assert [line["event"] for line in lines] == ["proxy-opened", "proxy-closed", "recorded"]
    assert [(e.kind, e.dir, e.data) for e in events_of(path) if e.is_message] == [
        ("text", "out", "through"),
        ("text", "in", "through"),
    ]


async def test_disk_full_closes_every_tool_with_1011_and_the_proxy_fails(plant, tmp_path):
    from test_record_writer import FillingDisk

    from wsctl.core.record.format import RecordingError

    disk = FillingDisk(room=1500)
    rec = Recorder(tmp_path / "full.jsonl", source="proxy", opener=lambda name: disk)
    outcome = {}

    async def run_proxy(upstream_url, task_status=trio.TASK_STATUS_IGNORED):
        relay = RecordingProxy(upstream_url, plant.client_kwargs(), rec)
        try:
            await relay.run(host="127.0.0.1", port=0, task_status=task_status, **plant.server_kwargs())
        except RecordingError as exc:
            outcome["error"] = exc

    async with trio.open_nursery() as nursery:
        upstream = await start(nursery, plant, echo_handler)
        server = await nursery.start(run_proxy, f"wss://localhost:{upstream.port}/")
        url = f"wss://localhost:{server.port}/"
        with trio.fail_after(15):
            async with (
                open_device(url, **plant.client_kwargs()) as idle,
                open_device(url, **plant.client_kwargs()) as busy,
            ):
                with pytest.raises(ConnectionClosed) as busy_closed:
                    for _ in range(100):
                        await busy.send("x" * 200)
                        await busy.receive(timeout=5)
                with pytest.raises(ConnectionClosed) as idle_closed:
                    await idle.receive(timeout=5)
            while "error" not in outcome:
                await trio.sleep(0.02)
        nursery.cancel_scope.cancel()
    # both tools heard why, none saw a bare connection loss (1006)
    assert (busy_closed.value.code, busy_closed.value.reason) == (1011, "recording failed")
    assert (idle_closed.value.code, idle_closed.value.reason) == (1011, "recording failed")
    assert "disk full" in outcome["error"].message and outcome["error"].exit_code != 0
    assert disk.buf.endswith(b"\n")
