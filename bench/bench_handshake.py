"""mTLS handshake cost of wsctl's own layers, side by side (CPU time per handshake).

    .venv/bin/python bench/bench_handshake.py

Four pairings in one process, same certificates and the same TLS contexts
(wsctl's server context, CRL check included, on both servers; wsctl's client
context for the bare client), 4 interleaved rounds of 100 connect + upgrade +
close: wsctl client/server against bare trio-websocket client/server.  Ratio =
bare->bare CPU / pairing CPU (1.0 = no overhead; the budget is >= 0.9).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import trio  # noqa: E402
import trio_websocket  # noqa: E402

from wsctl.net.api import echo_handler, open_device, serve  # noqa: E402
from wsctl.net.tls import client_context, server_context  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402

base = Path(tempfile.mkdtemp())
store = Store(base/"pki"); store.init(name="B", password=b"pw")
store.issue_device("d", dns=["localhost"], ips=["127.0.0.1"], password=b"pw", key_password=None)
store.issue_operator("o", role="engineer", password=b"pw", key_password=None)
dev = store.leaf_paths("device","d"); op = store.leaf_paths("operator","o")
kw = dict(ca=str(store.root_cert_path), cert=str(op.chain), key=str(op.key))
N=100
async def bare_echo(request):
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass
async def main():
    async with trio.open_nursery() as n:
        wsrv = await n.start(functools.partial(serve, echo_handler, host="127.0.0.1", port=0, cert_chain=str(dev.chain), key=str(dev.key), ca=str(store.root_cert_path), crl=str(store.crl_pem_path)))
        sctx = server_context(cert_chain=str(dev.chain), key=str(dev.key), ca=str(store.root_cert_path), crl=str(store.crl_pem_path))
        bsrv = await n.start(functools.partial(trio_websocket.serve_websocket, bare_echo, "127.0.0.1", 0, sctx, handler_nursery=n))
        cctx = client_context(**kw)
        async def wsctl_client(url):
            async with open_device(url, **kw): pass
        async def bare_client(url):
            async with trio_websocket.open_websocket_url(url, cctx): pass
        combos = {"wsctl->wsctl": (wsctl_client, wsrv.url), "bare->wsctl": (bare_client, wsrv.url),
                  "wsctl->bare": (wsctl_client, f"wss://127.0.0.1:{bsrv.port}/"), "bare->bare": (bare_client, f"wss://127.0.0.1:{bsrv.port}/")}
        res = {k: [] for k in combos}
        for rnd in range(4):
            for k,(fn,url) in combos.items():
                c=time.process_time()
                for _ in range(N): await fn(url)
                res[k].append((time.process_time()-c)/N*1000)
        for k,v in res.items(): print(f"{k:14} cpu/handshake {statistics.median(v):.2f} ms  ratio vs bare {statistics.median(res['bare->bare'])/statistics.median(v):.3f}")
        n.cancel_scope.cancel()
if __name__ == "__main__":
    trio.run(main)
