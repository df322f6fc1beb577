"""Message-path benchmark: wsctl vs bare trio-websocket vs python-websockets.

    .venv/bin/python bench/bench_roundtrip.py [--quick]

Everything runs in one process over loopback with mutual TLS (a throwaway PKI
made by wsctl.pki): the trio peers share the main thread's trio loop, the
python-websockets peers run in an asyncio loop in a second thread.  Absolute
numbers on shared machines are noise; the ratios are the result.

Rows:
  wsctl         open_device() <-> serve(echo_handler)
  trio-ws tuned open_websocket_url <-> serve_websocket, same queue/buffer sizes
                as wsctl (what wsctl wraps: the 10 % budget is measured against it)
  trio-ws dflt  the same with trio-websocket's defaults (queue 1, 4 KiB reads)
  websockets    python-websockets 17 asyncio client <-> server
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import trio
import trio_websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsctl.net import connect as _c  # noqa: E402
from wsctl.net.api import echo_handler, open_device, serve  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402

QUICK = "--quick" in sys.argv
REPEAT = 1 if QUICK else 3
CASES = [  # (name, size, count, pipelined)
    ("64 B serial", 64, 1000 if QUICK else 4000, False),
    ("64 B pipelined", 64, 3000 if QUICK else 20000, True),
    ("64 KiB serial", 65536, 200 if QUICK else 800, False),
    ("64 KiB pipelined", 65536, 200 if QUICK else 800, True),
]
HANDSHAKES = 50 if QUICK else 200


def make_pki(base: Path):
    store = Store(base / "pki")
    store.init(name="Bench CA", key_type="p256", password=b"pw")
    store.issue_device("bench", dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
    store.issue_operator("bench-op", role="engineer", days=2, password=b"pw", key_password=None)
    return store, store.leaf_paths("device", "bench"), store.leaf_paths("operator", "bench-op")


async def bare_echo(request):
    """The bare trio-websocket echo handler wsctl's serve(echo_handler) is measured against."""
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass


# ---- one workload, three client APIs -------------------------------------


async def run_case(send, receive, size, count, pipelined) -> float:
    """Messages (round trips) per second."""
    payload = b"x" * size
    start = time.perf_counter()
    if pipelined:
        async with trio.open_nursery() as n:

            async def sender():
                for _ in range(count):
                    await send(payload)

            n.start_soon(sender)
            for _ in range(count):
                await receive()
    else:
        for _ in range(count):
            await send(payload)
            await receive()
    return count / (time.perf_counter() - start)


def ws_client_ctx(store, op) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(store.root_cert_path))
    ctx.load_cert_chain(op.chain, op.key)
    return ctx


def ws_server_ctx(store, dev) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(dev.chain, dev.key)
    ctx.load_verify_locations(store.root_cert_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def trio_side(store, dev, op, results):
    kw = dict(ca=store.root_cert_path, cert=op.chain, key=op.key)
    async with trio.open_nursery() as nursery:
        wsctl_server = await nursery.start(
            functools.partial(serve, echo_handler, cert_chain=dev.chain, key=dev.key, ca=store.root_cert_path)
        )

        tuned = dict(message_queue_size=_c.MESSAGE_QUEUE_SIZE, receive_buffer_size=_c.RECEIVE_BUFFER_SIZE)
        bare_servers = {}
        for label, opts in (("trio-ws tuned", tuned), ("trio-ws dflt", {})):
            bare_servers[label] = await nursery.start(
                functools.partial(
                    trio_websocket.serve_websocket,
                    bare_echo,
                    "127.0.0.1",
                    0,
                    ws_server_ctx(store, dev),
                    handler_nursery=nursery,
                    **opts,
                )
            )

        for name, size, count, pipelined in CASES:
            for _ in range(REPEAT):
                async with open_device(wsctl_server.url, **kw) as d:
                    results.setdefault(("wsctl", name), []).append(
                        await run_case(d.send, d.receive, size, count, pipelined)
                    )
                for label, opts in (("trio-ws tuned", tuned), ("trio-ws dflt", {})):
                    url = f"wss://127.0.0.1:{bare_servers[label].port}/"
                    async with trio_websocket.open_websocket_url(url, ws_client_ctx(store, op), **opts) as ws:
                        results.setdefault((label, name), []).append(
                            await run_case(ws.send_message, ws.get_message, size, count, pipelined)
                        )

        for _ in range(REPEAT):
            start = time.perf_counter()
            for _ in range(HANDSHAKES):
                async with open_device(wsctl_server.url, **kw):
                    pass
            results.setdefault(("wsctl", "mTLS handshakes"), []).append(HANDSHAKES / (time.perf_counter() - start))
            url = f"wss://127.0.0.1:{bare_servers['trio-ws tuned'].port}/"
            ctx = ws_client_ctx(store, op)
            start = time.perf_counter()
            for _ in range(HANDSHAKES):
                async with trio_websocket.open_websocket_url(url, ctx):
                    pass
            results.setdefault(("trio-ws tuned", "mTLS handshakes"), []).append(
                HANDSHAKES / (time.perf_counter() - start)
            )
        nursery.cancel_scope.cancel()


def websockets_side(store, dev, op, results):
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve as ws_serve

    async def echo(ws):
        async for msg in ws:
            await ws.send(msg)

    async def case(ws, size, count, pipelined):
        payload = b"x" * size
        start = time.perf_counter()
        if pipelined:

            async def sender():
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

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0, ssl=ws_server_ctx(store, dev), max_size=2**20) as server:
            url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            ctx = ws_client_ctx(store, op)
            for name, size, count, pipelined in CASES:
                for _ in range(REPEAT):
                    async with connect(url, ssl=ctx, max_size=2**20) as ws:
                        results.setdefault(("websockets", name), []).append(await case(ws, size, count, pipelined))
            for _ in range(REPEAT):
                start = time.perf_counter()
                for _ in range(HANDSHAKES):
                    async with connect(url, ssl=ctx):
                        pass
                results.setdefault(("websockets", "mTLS handshakes"), []).append(
                    HANDSHAKES / (time.perf_counter() - start)
                )

    asyncio.run(main())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, dev, op = make_pki(Path(tmp))
        results: dict[tuple[str, str], list[float]] = {}
        # one after the other, so the two event loops do not share the CPUs
        trio.run(trio_side, store, dev, op, results)
        thread = threading.Thread(target=websockets_side, args=(store, dev, op, results))
        thread.start()
        thread.join()
    rows = ["wsctl", "trio-ws tuned", "trio-ws dflt", "websockets"]
    cols = [c[0] for c in CASES] + ["mTLS handshakes"]
    best = {k: max(v) for k, v in results.items()}
    print(f"best of {REPEAT}, messages (or handshakes) per second; ratio = wsctl / row")
    print(f"{'':16}" + "".join(f"{c:>20}" for c in cols))
    for row in rows:
        cells = []
        for col in cols:
            v = best.get((row, col))
            if v is None:
                cells.append(f"{'-':>20}")
                continue
            w = best.get(("wsctl", col))
            ratio = f" ({w / v:4.2f})" if w and row != "wsctl" else ""
            cells.append(f"{v:>13,.0f}{ratio:>7}")
        print(f"{row:16}" + "".join(cells))
    spread = [statistics.pstdev(v) / statistics.mean(v) for v in results.values() if len(v) > 1]
    if spread:
        print(f"run-to-run spread (stdev/mean): median {statistics.median(spread):.0%}")


if __name__ == "__main__":
    main()
