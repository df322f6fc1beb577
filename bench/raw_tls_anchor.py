"""The floor of a new client's latency: trio + OpenSSL with no WebSocket and no wsctl.

    python bench/raw_tls_anchor.py PORT CERTS          # serve until killed

A trio TLS server with the TLS context `wsctl serve --certs CERTS --device hub`
gets (the hub's chain and key, the store's root and issuing CA, its CRL,
client certificates required), which answers one read with the same bytes
and closes.  bench/hub_operator.py measures it for ``tls://`` URLs: connect,
the mutual-TLS handshake, 64 bytes there and back, close — the part of a
wsctl command that is not wsctl.  bench/bench_serve_scale.py runs it beside
the loaded and the unloaded `wsctl serve`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from wsctl.net.tls import client_context, server_context  # noqa: E402

PAYLOAD = b"x" * 64


def store_server_context(certs: str):  # noqa: ANN201
    return server_context(
        cert_chain=f"{certs}/devices/hub/chain.pem",
        key=f"{certs}/devices/hub/key.pem",
        ca=[f"{certs}/ca/root.crt", f"{certs}/ca/issuing.crt"],
        crl=f"{certs}/ca/crl.pem",
    )


def operator_context(certs: str):  # noqa: ANN201
    return client_context(
        ca=f"{certs}/ca/root.crt", cert=f"{certs}/operators/op/chain.pem", key=f"{certs}/operators/op/key.pem"
    )


async def serve(port: int, certs: str) -> None:
    ctx = store_server_context(certs)

    async def echo_once(tcp: trio.SocketStream) -> None:
        tls = trio.SSLStream(tcp, ctx, server_side=True)
        try:
            with trio.fail_after(10):
                await tls.do_handshake()
                await tls.send_all(await tls.receive_some(65536))
                await tls.receive_some(65536)  # the client's close
        except (trio.BrokenResourceError, trio.TooSlowError):
            pass
        finally:
            await trio.aclose_forcefully(tls)

    await trio.serve_tcp(echo_once, port, host="127.0.0.1")


async def once(port: int, ctx) -> None:  # noqa: ANN001
    """One raw client: connect, handshake, 64 B echo, close."""
    tls = trio.SSLStream(await trio.open_tcp_stream("127.0.0.1", port), ctx, server_hostname="127.0.0.1")
    try:
        await tls.do_handshake()
        await tls.send_all(PAYLOAD)
        got = b""
        while len(got) < len(PAYLOAD):
            chunk = await tls.receive_some(65536)
            if not chunk:
                raise RuntimeError("the raw anchor closed before echoing")
            got += chunk
    finally:
        await tls.aclose()


if __name__ == "__main__":
    trio.run(serve, int(sys.argv[1]), sys.argv[2])
