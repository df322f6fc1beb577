"""mTLS handshake cost of wsctl's own layers, side by side (CPU time per handshake).

    .venv/bin/python bench/bench_handshake.py

Four pairings in one process, same certificates and the same TLS contexts
(wsctl's server context, CRL check included, on both servers; wsctl's client
context for the bare client), 6 interleaved, rotated rounds of 100 connect + upgrade +
close: wsctl client/server against bare trio-websocket client/server.  Ratio =
bare->bare CPU / pairing CPU (1.0 = no overhead; the budget is >= 0.9).
"wsctl" clients resume the TLS session of their previous connection, as a
process that talks to a device again does (net/tls_sessions.py); "wsctl-full"
forgets it before each connection, a full handshake as a new process makes.
bench_roundtrip.py's handshake row compares against a bare server without a
CRL and with a default client context, so it also counts what wsctl checks on
purpose.
"""

from __future__ import annotations

import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
import trio_websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from wsctl.net import tls_sessions  # noqa: E402
from wsctl.net.api import echo_handler, open_device, serve  # noqa: E402
from wsctl.net.tls import client_context, server_context  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402


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


ROUNDS = 6
CONNECTIONS = 100


async def measure(store, dev, op) -> dict[str, float]:
    """Median CPU milliseconds per handshake for each client->server pairing."""
    kw = dict(ca=str(store.root_cert_path), cert=str(op.chain), key=str(op.key))
    async with trio.open_nursery() as nursery:
        wsctl_server = await nursery.start(
            functools.partial(
                serve,
                echo_handler,
                host="127.0.0.1",
                port=0,
                cert_chain=str(dev.chain),
                key=str(dev.key),
                ca=str(store.root_cert_path),
                crl=str(store.crl_pem_path),
            )
        )
        # the bare server gets wsctl's own server context: like for like, CRL included
        sctx = server_context(
            cert_chain=str(dev.chain), key=str(dev.key), ca=str(store.root_cert_path), crl=str(store.crl_pem_path)
        )
        bare_server = await nursery.start(
            functools.partial(trio_websocket.serve_websocket, bare_echo, "127.0.0.1", 0, sctx, handler_nursery=nursery)
        )
        cctx = client_context(**kw)

        async def wsctl_client(url):
            async with open_device(url, **kw):
                pass

        async def wsctl_full_client(url):
            tls_sessions.forget()
            async with open_device(url, **kw):
                pass

        async def bare_client(url):
            async with trio_websocket.open_websocket_url(url, cctx):
                pass

        bare_url = f"wss://127.0.0.1:{bare_server.port}/"
        pairings = {
            "wsctl->wsctl": (wsctl_client, wsctl_server.url),
            "wsctl-full->wsctl": (wsctl_full_client, wsctl_server.url),
            "bare->wsctl": (bare_client, wsctl_server.url),
            "wsctl->bare": (wsctl_client, bare_url),
            "wsctl-full->bare": (wsctl_full_client, bare_url),
            "bare->bare": (bare_client, bare_url),
        }
        samples: dict[str, list[float]] = {name: [] for name in pairings}
        order = list(pairings)
        for round_number in range(ROUNDS):
            # interleaved and rotated, so neither drift nor position in a round
            # (caches, the garbage collector) favours one pairing
            rotation = round_number % len(order)
            for name in order[rotation:] + order[:rotation]:
                connect, url = pairings[name]
                cpu = time.process_time()
                for _ in range(CONNECTIONS):
                    await connect(url)
                samples[name].append((time.process_time() - cpu) / CONNECTIONS * 1000)
        nursery.cancel_scope.cancel()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, dev, op = make_pki(Path(tmp))
        medians = trio.run(measure, store, dev, op)
    for name, ms in medians.items():
        print(f"{name:18} cpu/handshake {ms:.2f} ms  ratio vs bare {medians['bare->bare'] / ms:.3f}")


if __name__ == "__main__":
    main()
