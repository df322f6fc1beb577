"""The public API under a caller's cancellation, bad arguments and odd handlers
(review s13/api): real servers on port 0, real sockets."""

from __future__ import annotations

import functools
import socket
import ssl

import pytest
import trio

from wsctl.core.backoff import Backoff
from wsctl.core.errors import ConnectionClosed, HandshakeRejected, InvalidInput, UsageError
from wsctl.net.api import open_device, serve
from wsctl.net.reconnect import run_with_reconnect


@pytest.fixture
async def upgrade_never_answered(pki, nursery):
    """A device that finishes TLS and never answers the upgrade; ``.eof`` is set when the client hangs up."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    state = type("State", (), {})()
    state.eof = trio.Event()

    async def stall(tcp):
        tls = trio.SSLStream(tcp, ctx, server_side=True)
        try:
            while await tls.receive_some(4096):
                pass
        except trio.BrokenResourceError:
            pass
        state.eof.set()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    nursery.start_soon(functools.partial(trio.serve_listeners, stall, listeners))
    state.url = f"wss://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
    return state


async def test_a_cancel_during_the_upgrade_closes_the_socket_at_once(upgrade_never_answered, pki):
    kept = []
    with trio.move_on_after(0.3):
        try:
            async with open_device(upgrade_never_answered.url, ca=pki.root, tls_server_name="localhost"):
                pass
        except trio.Cancelled as exc:
            kept.append(exc)  # its traceback holds the stream: only an explicit close ends it
            raise
    assert kept
    with trio.fail_after(2):
        await upgrade_never_answered.eof.wait()


async def test_the_callers_cancel_in_the_body_comes_out_as_cancelled(start_server, alice_kw):
    server = await start_server()
    caught = []
    with trio.move_on_after(0.3) as scope:
        try:
            async with open_device(f"wss://127.0.0.1:{server.port}/", ping_interval=5, **alice_kw):
                await trio.sleep(5)
        except trio.Cancelled:
            caught.append("body")
            raise
    assert scope.cancelled_caught and caught == ["body"]


async def test_the_callers_cancel_during_tcp_connect_comes_out_as_cancelled():
    backlog = socket.socket()
    backlog.bind(("127.0.0.1", 0))
    backlog.listen(0)
    filled = []
    for _ in range(4):  # a full accept queue: the next SYN is dropped and connect hangs
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(backlog.getsockname())
        filled.append(s)
    caught = []
    try:
        with trio.move_on_after(0.5):
            try:
                async with open_device(f"wss://127.0.0.1:{backlog.getsockname()[1]}/", insecure=True):
                    pass
            except trio.Cancelled:
                caught.append("connect")
                raise
            except BaseException as exc:
                caught.append(type(exc).__name__)
                raise
    finally:
        for s in [*filled, backlog]:
            s.close()
    assert caught == ["connect"]


async def test_a_bodys_own_exception_group_is_not_flattened(start_server, alice_kw):
    server = await start_server()
    group = ExceptionGroup("user group", [ExceptionGroup("nested", [KeyError("k")])])
    with pytest.raises(ExceptionGroup) as raised:
        async with open_device(f"wss://127.0.0.1:{server.port}/", ping_interval=5, **alice_kw):
            raise group
    assert raised.value.message == "user group"  # not its leaf, nor wrapped again
    (nested,) = raised.value.exceptions
    assert nested.message == "nested" and isinstance(nested.exceptions[0], KeyError)
    with pytest.raises(KeyError):  # and a lone exception is still itself
        async with open_device(f"wss://127.0.0.1:{server.port}/", ping_interval=5, **alice_kw):
            raise KeyError("k")


async def test_slow_failed_connects_do_not_reset_the_backoff(silent_port):
    gaps = []

    async def on_gap(gap):  # an async on_gap is awaited
        await trio.sleep(0)
        gaps.append(round(gap.delay, 3))

    with trio.fail_after(5), pytest.raises(Exception, match="connect timeout"):  # it retried at the first step for ever
        await run_with_reconnect(
            lambda: open_device(f"wss://127.0.0.1:{silent_port}/", insecure=True, connect_timeout=0.2),
            lambda dev: trio.sleep(0),
            backoff=Backoff(initial=0.01, maximum=1, jitter="none", max_attempts=4),
            reset_after=0.2,  # no longer than each failed connect takes
            on_gap=on_gap,
        )
    assert gaps == [0.01, 0.02, 0.04, 0.08]


def test_backoff_parameters_are_bounded():
    assert Backoff(multiplier=1e6).cap(70) == 30.0  # no OverflowError
    for bad in (dict(initial=float("nan")), dict(maximum=float("inf")), dict(initial=1, maximum=1e9)):
        with pytest.raises(InvalidInput):
            Backoff(**bad)


@pytest.mark.parametrize(
    "url, kw",
    [
        ("wss://127.0.0.1:0/", {}),
        ("wss://" + "a" * 64 + ".example/", {}),
        ("wss://127.0.0.1:1/", dict(headers={"X-A": "€"})),
        ("wss://127.0.0.1:1/", dict(headers={"X A": "b"})),
        ("wss://127.0.0.1:1/", dict(headers={"X-A": "a\r\nInjected: 1"})),
        ("wss://127.0.0.1:1/", dict(tls_server_name=".")),
        ("wss://127.0.0.1:1/", dict(tls_server_name="a\x00b")),
        ("wss://127.0.0.1:1/", dict(connect_timeout=float("nan"))),
        ("wss://127.0.0.1:1/", dict(ping_interval=-1)),
    ],
)
def test_bad_arguments_are_usage_errors_from_the_call(url, kw):
    with pytest.raises(UsageError):
        open_device(url, insecure=True, **kw)  # raised by the call: nothing was opened


async def test_a_known_devices_path_that_is_a_directory_is_invalid_input(start_server, alice_kw, tmp_path):
    server = await start_server()
    with pytest.raises(InvalidInput, match="known-devices file"):
        async with open_device(f"wss://127.0.0.1:{server.port}/", known_devices=tmp_path, **alice_kw):
            pass
    with trio.fail_after(2):
        while server.connections:  # the stream was closed: the server saw it go
            await trio.sleep(0.02)


@pytest.mark.parametrize("port", [-1, 65536, 70000])
async def test_serve_refuses_a_port_out_of_range(pki, port):
    with trio.fail_after(2), pytest.raises(InvalidInput, match="port"):  # 70000 listened on 4464
        await serve(lambda conn: trio.sleep(0), port=port, cert_chain=pki.device.chain, key=pki.device.key)


async def test_a_handler_that_hangs_after_the_peer_closed_is_cancelled(start_server, alice_kw):
    ended = []

    async def hang(conn):
        try:
            await trio.sleep_forever()  # not reading: the close is seen by the server's sweep
        finally:
            ended.append(trio.current_time())

    records = []
    server = await start_server(hang, close_timeout=0.5, access_log=records.append)
    async with open_device(f"wss://127.0.0.1:{server.port}/", **alice_kw):
        pass
    left = trio.current_time()
    with trio.fail_after(4):
        while server.connections or not records:
            await trio.sleep(0.05)
    assert ended and ended[0] - left < 0.5 + 1.5  # close_timeout, plus a sweep or two
    assert records[0].outcome != "handler-error"


async def test_a_handlers_system_exit_fails_only_its_connection(start_server, alice_kw):
    async def exits(conn):
        if conn.path == "/exit":
            raise SystemExit(3)
        await conn.send("still serving")

    server = await start_server(exits)
    async with open_device(f"wss://127.0.0.1:{server.port}/exit", **alice_kw) as dev:
        with pytest.raises(ConnectionClosed) as closed:
            await dev.receive(timeout=5)
    assert closed.value.code == 1011
    async with open_device(f"wss://127.0.0.1:{server.port}/", **alice_kw) as dev:
        assert await dev.receive(timeout=5) == "still serving"


async def test_a_handlers_exception_group_is_logged_with_its_sub_exceptions(start_server, alice_kw):
    async def raise_key():
        raise KeyError("missing-key")

    async def handler(conn):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raise_key)
            await trio.sleep_forever()

    records = []
    server = await start_server(handler, access_log=records.append)
    async with open_device(f"wss://127.0.0.1:{server.port}/", **alice_kw) as dev:
        with pytest.raises(ConnectionClosed):
            await dev.receive(timeout=5)
    with trio.fail_after(2):
        while not records:
            await trio.sleep(0.02)
    assert (
        records[0].outcome == "handler-error" and "KeyError" in records[0].error and "missing-key" in records[0].error
    )


async def test_an_authorize_returning_something_else_is_a_handler_error(start_server, alice_kw):
    records = []
    server = await start_server(authorize=lambda request: 42, access_log=records.append)
    with pytest.raises(HandshakeRejected) as rejected:
        async with open_device(f"wss://127.0.0.1:{server.port}/", **alice_kw):
            pass
    assert rejected.value.status == 500
    with trio.fail_after(2):
        while not records:
            await trio.sleep(0.02)
    assert records[0].outcome == "handler-error" and "42" in records[0].error
