"""OpenSSL's memory per server-side TLS connection, with and without a client certificate.

    .venv/bin/python bench/tls_memory.py                 # mtls, tls, mtls-notickets; 300 connections each

The part of a connection's RSS that is not Python's (bench/hub_memory.py
--malloc-only gives the same for the whole hub).  In one process, no
sockets: each pair is a server and a client `ssl.SSLObject` on memory BIOs, as
trio's `SSLStream` uses them, with the server context wsctl's servers use
(`wsctl.net.tls.server_context_from_files`, P-256 PKI of bench_roundtrip.py).
After the handshake and one 64-byte record each way, malloc's bytes in use
(glibc ``mallinfo2``) are read; then the clients are freed and they are read
again: the growth per connection is the server side's.  ``mtls-notickets``:
TLS 1.3 session tickets off on the server (``num_tickets = 0``).
"""

from __future__ import annotations

import ctypes
import gc
import ssl
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_roundtrip import make_pki  # noqa: E402

from wsctl.net.tls import server_context_from_files  # noqa: E402

N = 300


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
    ]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _MallInfo2


def in_use() -> int:
    gc.collect()
    info = _libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


End = tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]


def _pump(a: End, b: End) -> None:
    moved = True
    while moved:
        moved = False
        for src, dst in ((a, b), (b, a)):
            data = src[2].read()
            if data:
                dst[1].write(data)
                moved = True


def _step(end: End) -> None:
    try:
        end[0].do_handshake()
    except ssl.SSLWantReadError:
        pass


def _read(end: End) -> None:
    try:
        end[0].read()
    except ssl.SSLWantReadError:
        pass  # what came were session tickets


def pair(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[End, End]:
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = (server_ctx.wrap_bio(s_in, s_out, server_side=True), s_in, s_out)
    client = (client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost"), c_in, c_out)
    for _ in range(10):
        _step(client)
        _step(server)
        _pump(client, server)
    client[0].write(b"x" * 64)
    _pump(client, server)
    _read(server)
    server[0].write(b"y" * 64)
    _pump(client, server)
    _read(client)
    return server, client


def measure(mode: str, pki: dict[str, str]) -> tuple[float, float]:
    mtls = mode.startswith("mtls")
    server_ctx, _ = server_context_from_files(
        pki["dev_chain"], pki["dev_key"], None, pki["root"], None, "required" if mtls else "none"
    )
    if mode.endswith("notickets"):
        server_ctx.num_tickets = 0
    client_ctx = ssl.create_default_context(cafile=pki["root"])
    if mtls:
        client_ctx.load_cert_chain(pki["op_chain"], pki["op_key"])
    pair(server_ctx, client_ctx)  # first-use allocations
    before = in_use()
    pairs = [pair(server_ctx, client_ctx) for _ in range(N)]
    both = in_use()
    servers = [p[0] for p in pairs]
    del pairs  # the clients go
    server_only = in_use()
    del servers
    return (server_only - before) / N, (both - before) / N


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        for mode in sys.argv[1:] or ["mtls", "tls", "mtls-notickets"]:
            server, both = measure(mode, pki)
            print(f"{mode}: server side {server / 1024:.1f} KiB per connection (both sides {both / 1024:.1f})")


if __name__ == "__main__":
    main()
