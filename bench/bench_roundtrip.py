"""Message-path benchmark, client and server in separate processes.

    .venv/bin/python bench/bench_roundtrip.py [--quick] [--reps N]

Loopback, mutual TLS (a throwaway P-256 PKI made by wsctl.pki).  One server
process per implementation stays up for the whole run; each repetition runs,
for every case and every implementation in a rotated order, a fresh client
process against the server of the same implementation.  Two figures: the rate
(messages, or round trips for serial, per second) and the CPU per message of
both processes together (client process time + the server's utime+stime from
/proc over the client's run): on a loaded machine the rate is mostly the
scheduler's, the CPU is the code's.  Ratios are paired within a repetition
(wsctl / anchor for rates, anchor / wsctl for CPU: > 1 is wsctl better) and
reported as median [min-max]; the load average is printed with them.

Implementations (the same one on both sides):
  wsctl       open_device() <-> serve(echo_handler)
  raw-tls     a raw trio TLS stream echo (no WebSocket: the floor of trio + TLS)
  trio-ws     bare trio-websocket (queue 256, 64 KiB reads)
  wsproto     wsproto driven inline on a trio SSLStream (echo per read chunk)
  websockets  python-websockets (asyncio)
"""

from __future__ import annotations

import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMPLS = ["wsctl", "raw-tls", "trio-ws", "wsproto", "websockets"]
ANCHORS = IMPLS[1:]


def cases(quick: bool) -> list[tuple[str, int, int, bool]]:
    """(name, size, count, pipelined)"""
    return [
        ("64 B serial", 64, 1000 if quick else 4000, False),
        ("64 B pipelined", 64, 4000 if quick else 20000, True),
        ("64 KiB serial", 65536, 200 if quick else 800, False),
    ]


# ---- TLS contexts ----------------------------------------------------------------


def server_ctx(pki: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["dev_chain"], pki["dev_key"])
    ctx.load_verify_locations(pki["root"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ctx(pki: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["root"])
    ctx.load_cert_chain(pki["op_chain"], pki["op_key"])
    return ctx


# ---- servers (one process each) ------------------------------------------------------


def run_server(impl: str, pki: dict[str, str]) -> None:
    if impl == "websockets":
        return _websockets_server(pki)
    import trio

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port = await _trio_server(impl, pki, nursery)
            print(port, flush=True)
            await trio.sleep_forever()

    trio.run(main)


async def _trio_server(impl: str, pki: dict[str, str], nursery) -> int:  # noqa: ANN001
    import functools

    import trio

    if impl == "wsctl":
        from wsctl.net.api import echo_handler, serve

        server = await nursery.start(
            functools.partial(serve, echo_handler, cert_chain=pki["dev_chain"], key=pki["dev_key"], ca=pki["root"])
        )
        return server.port
    if impl == "trio-ws":
        import trio_websocket

        async def echo(request):  # noqa: ANN001, ANN202
            ws = await request.accept()
            try:
                while True:
                    await ws.send_message(await ws.get_message())
            except trio_websocket.ConnectionClosed:
                pass

        server = await nursery.start(
            functools.partial(
                trio_websocket.serve_websocket,
                echo,
                "127.0.0.1",
                0,
                server_ctx(pki),
                handler_nursery=nursery,
                message_queue_size=256,
                receive_buffer_size=65536,
            )
        )
        return server.port
    handler = _raw_echo if impl == "raw-tls" else _wsproto_echo
    listeners = await nursery.start(
        functools.partial(trio.serve_ssl_over_tcp, _guarded(handler), 0, server_ctx(pki), host="127.0.0.1")
    )
    return listeners[0].transport_listener.socket.getsockname()[1]


def _guarded(handler):  # noqa: ANN001, ANN202
    import trio

    async def run(stream) -> None:  # noqa: ANN001
        try:
            await handler(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    return run


async def _raw_echo(stream) -> None:  # noqa: ANN001
    while data := await stream.receive_some(65536):
        await stream.send_all(data)


async def _wsproto_echo(stream) -> None:  # noqa: ANN001
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request

    ws = WSConnection(ConnectionType.SERVER)
    while data := await stream.receive_some(65536):
        ws.receive_data(data)
        out = bytearray()
        for event in ws.events():
            if isinstance(event, Request):
                out += ws.send(AcceptConnection())
            elif isinstance(event, BytesMessage):
                out += ws.send(BytesMessage(data=event.data, message_finished=event.message_finished))
            elif isinstance(event, Ping):
                out += ws.send(event.response())
            elif isinstance(event, CloseConnection):
                await stream.send_all(out + ws.send(event.response()))
                return
        if out:
            await stream.send_all(out)


def _websockets_server(pki: dict[str, str]) -> None:
    import asyncio

    from websockets.asyncio.server import serve

    async def echo(ws):  # noqa: ANN001, ANN202
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, ssl=server_ctx(pki), max_size=2**20) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()

    asyncio.run(main())


# ---- clients (a fresh process per repetition) ---------------------------------------------


def run_client(impl: str, port: int, pki: dict[str, str], quick: bool, case: str) -> None:
    (selected,) = [c for c in cases(quick) if c[0] == case]
    cpu = time.process_time()
    if impl == "websockets":
        rate = _websockets_client(port, pki, selected)
    else:
        import trio

        rate = trio.run(_trio_client, impl, port, pki, selected)
    print(json.dumps({"rate": rate, "cpu": time.process_time() - cpu}), flush=True)


async def _measure(send, receive, size: int, count: int, pipelined: bool) -> float:  # noqa: ANN001
    import trio

    payload = b"x" * size
    start = time.perf_counter()
    if pipelined:
        async with trio.open_nursery() as nursery:

            async def sender() -> None:
                for _ in range(count):
                    await send(payload)

            nursery.start_soon(sender)
            for _ in range(count):
                await receive()
    else:
        for _ in range(count):
            await send(payload)
            await receive()
    return count / (time.perf_counter() - start)


async def _trio_client(impl: str, port: int, pki: dict[str, str], case: tuple) -> float:
    _name, size, count, pipelined = case
    async with _trio_connection(impl, port, pki, size) as (send, receive):
        return await _measure(send, receive, size, count, pipelined)


def _trio_connection(impl: str, port: int, pki: dict[str, str], size: int):  # noqa: ANN202
    import contextlib

    import trio

    url = f"wss://127.0.0.1:{port}/"

    @contextlib.asynccontextmanager
    async def opened():  # noqa: ANN202
        if impl == "wsctl":
            from wsctl.net.api import open_device

            async with open_device(url, ca=pki["root"], cert=pki["op_chain"], key=pki["op_key"]) as dev:
                yield dev.send, dev.receive
        elif impl == "trio-ws":
            import trio_websocket

            async with trio_websocket.open_websocket_url(
                url, client_ctx(pki), message_queue_size=256, receive_buffer_size=65536
            ) as ws:
                yield ws.send_message, ws.get_message
        else:
            stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=client_ctx(pki))
            await stream.do_handshake()
            if impl == "raw-tls":
                yield stream.send_all, _raw_receiver(stream, size)
            else:
                send, receive = await _wsproto_client(stream, port)
                yield send, receive
            await stream.aclose()

    return opened()


def _raw_receiver(stream, size: int):  # noqa: ANN001, ANN202
    pending = 0

    async def receive() -> None:
        nonlocal pending
        while pending < size:
            pending += len(await stream.receive_some(65536))
        pending -= size

    return receive


async def _wsproto_client(stream, port: int):  # noqa: ANN001, ANN202
    from collections import deque

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, BytesMessage, Request

    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host=f"127.0.0.1:{port}", target="/")))
    messages: deque[bytes] = deque()
    parts: list[bytes] = []
    accepted = False

    async def pump() -> None:
        nonlocal accepted
        ws.receive_data(await stream.receive_some(65536))
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                accepted = True
            elif isinstance(event, BytesMessage):
                parts.append(event.data)
                if event.message_finished:
                    messages.append(b"".join(parts))
                    parts.clear()

    while not accepted:
        await pump()

    async def send(payload: bytes) -> None:
        await stream.send_all(ws.send(BytesMessage(data=payload)))

    async def receive() -> bytes:
        while not messages:
            await pump()
        return messages.popleft()

    return send, receive


def _websockets_client(port: int, pki: dict[str, str], case: tuple) -> float:
    import asyncio

    from websockets.asyncio.client import connect

    async def measure(ws, size: int, count: int, pipelined: bool) -> float:  # noqa: ANN001
        payload = b"x" * size
        start = time.perf_counter()
        if pipelined:

            async def sender() -> None:
                for _ in range(count):
                    await ws.send(payload)

            task = asyncio.create_task(sender())
            for _ in range(count):
                await ws.recv()
            await task
        else:
            for _ in range(count):
                await ws.send(payload)
                await ws.recv()
        return count / (time.perf_counter() - start)

    async def main() -> float:
        _name, size, count, pipelined = case
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_ctx(pki), max_size=2**20) as ws:
            return await measure(ws, size, count, pipelined)

    return asyncio.run(main())


# ---- the run -------------------------------------------------------------------------------


def make_pki(base: Path) -> dict[str, str]:
    from wsctl.pki.store import Store

    store = Store(base / "pki")
    store.init(name="Bench CA", key_type="p256", password=b"pw")
    store.issue_device("bench", dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
    store.issue_operator("bench-op", role="engineer", days=2, password=b"pw", key_password=None)
    dev, op = store.leaf_paths("device", "bench"), store.leaf_paths("operator", "bench-op")
    return {
        "root": str(store.root_cert_path),
        "dev_chain": str(dev.chain),
        "dev_key": str(dev.key),
        "op_chain": str(op.chain),
        "op_key": str(op.key),
    }


def main() -> None:
    quick = "--quick" in sys.argv
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else (1 if quick else 5)
    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        pki_file = Path(tmp) / "pki.json"
        pki_file.write_text(json.dumps(pki))
        servers, ports = {}, {}
        for impl in IMPLS:
            servers[impl] = subprocess.Popen([*me, "--serve", impl, str(pki_file)], stdout=subprocess.PIPE, text=True)
            ports[impl] = int(servers[impl].stdout.readline())
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results: list[dict[str, dict[str, dict[str, float]]]] = []
        try:
            for rep in range(reps):
                order = IMPLS[rep % len(IMPLS) :] + IMPLS[: rep % len(IMPLS)]
                round_: dict[str, dict[str, dict[str, float]]] = {}
                for name, _size, count, _pipelined in cases(quick):
                    for impl in order:
                        args = [*me, "--client", impl, str(ports[impl]), str(pki_file), name]
                        server_cpu = cpu_seconds(servers[impl].pid)
                        out = subprocess.run(
                            args + (["--quick"] if quick else []),
                            capture_output=True,
                            text=True,
                            timeout=300,
                            check=True,
                        )
                        got = json.loads(out.stdout.strip().splitlines()[-1])
                        got["cpu_us"] = (got["cpu"] + cpu_seconds(servers[impl].pid) - server_cpu) / count * 1e6
                        round_.setdefault(impl, {})[name] = got
                results.append(round_)
        finally:
            for proc in servers.values():
                proc.terminate()
                proc.wait(timeout=10)
    report(results, quick)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(results: list[dict[str, dict[str, dict[str, float]]]], quick: bool) -> None:
    names = [c[0] for c in cases(quick)]
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {len(results)} repetitions")
    for key, title, fmt, better_high in (
        ("rate", "messages (round trips for serial) per second", "{:>18,.0f}", True),
        ("cpu_us", "CPU per message, client + server process, microseconds", "{:>18,.1f}", False),
    ):
        print(f"{title}, median of repetitions")
        print(f"{'':12}" + "".join(f"{n:>18}" for n in names))
        for impl in IMPLS:
            print(
                f"{impl:12}" + "".join(fmt.format(statistics.median(r[impl][n][key] for r in results)) for n in names)
            )
        print(f"{'wsctl / anchor' if better_high else 'anchor / wsctl'} paired per repetition: median [min-max]")
        for anchor in ANCHORS:
            cells = []
            for n in names:
                pairs = [(r["wsctl"][n][key], r[anchor][n][key]) for r in results]
                ratios = [w / a if better_high else a / w for w, a in pairs]
                cells.append(f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]".rjust(18))
            print(f"{anchor:12}" + "".join(cells))


if __name__ == "__main__":
    if "--serve" in sys.argv:
        i = sys.argv.index("--serve")
        run_server(sys.argv[i + 1], json.loads(Path(sys.argv[i + 2]).read_text()))
    elif "--client" in sys.argv:
        i = sys.argv.index("--client")
        pki = json.loads(Path(sys.argv[i + 3]).read_text())
        run_client(sys.argv[i + 1], int(sys.argv[i + 2]), pki, "--quick" in sys.argv, sys.argv[i + 4])
    else:
        main()
