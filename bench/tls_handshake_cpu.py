"""CPU of one full mutual-TLS 1.3 handshake, client and server, in one process
with memory BIOs (no sockets, no scheduler: OpenSSL's own work), by how many
session tickets the server issues (2: OpenSSL's default, 1: wsctl's, 0: none),
and a handshake that resumes the session of the one before (what a wsctl
client's next connection to the same device makes: net/tls_sessions.py).

    .venv/bin/python bench/tls_handshake_cpu.py [--n 200]

The contexts are wsctl's own (`client_context`, `server_context`, the
throwaway P-256 PKI of bench_roundtrip.py); the ticket count is the only
difference, interleaved per repetition.
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_roundtrip import make_pki  # noqa: E402


def handshake(
    sctx: ssl.SSLContext, cctx: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> tuple[float, float, ssl.SSLObject]:
    """(client CPU, server CPU, the client) of one handshake, tickets included;
    resuming ``session`` if given."""
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cctx.wrap_bio(ci, co, server_hostname="127.0.0.1", session=session)
    server = sctx.wrap_bio(si, so, server_side=True)
    spent = [0.0, 0.0]
    done = [False, False]
    for _ in range(10):
        for k, (side, outbox, peer_in) in enumerate(((client, co, si), (server, so, ci))):
            t = time.process_time()
            try:
                side.do_handshake()
                done[k] = True
            except ssl.SSLWantReadError:
                pass
            spent[k] += time.process_time() - t
            peer_in.write(outbox.read())
        if all(done):
            break
    t = time.process_time()
    try:
        client.read(1)  # takes the tickets, as a client does
    except ssl.SSLWantReadError:
        pass
    spent[0] += time.process_time() - t
    return spent[0], spent[1], client


def main() -> None:
    from wsctl.net.tls import client_context, server_context

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        cctx = client_context(ca=pki["root"], cert=pki["op_chain"], key=pki["op_key"])
        servers = {}
        for tickets in (2, 1, 0):
            servers[tickets] = server_context(cert_chain=pki["dev_chain"], key=pki["dev_key"], ca=pki["root"])
            servers[tickets].num_tickets = tickets
        got: dict[int | str, list[tuple[float, float]]] = {t: [] for t in (*servers, "1, resumed")}
        for _ in range(10):
            for s in servers.values():
                handshake(s, cctx)
        for _ in range(a.n):
            for t, s in servers.items():
                c, sv, client = handshake(s, cctx)
                got[t].append((c, sv))
                if t == 1:  # what a client that keeps the session pays next time (net/tls_sessions.py)
                    c, sv, again = handshake(s, cctx, client.session)
                    assert again.session_reused
                    got["1, resumed"].append((c, sv))
    print(f"{a.n} mutual-TLS 1.3 handshakes per setting, P-256, {ssl.OPENSSL_VERSION}")
    base = statistics.median(s for _, s in got[2])
    for t, runs in got.items():
        c, s = statistics.median(c for c, _ in runs), statistics.median(s for _, s in runs)
        print(
            f"  tickets {t}: client {c * 1e3:.2f} ms, server {s * 1e3:.2f} ms CPU (server {s / base:.2f} of 2 tickets)"
        )


if __name__ == "__main__":
    main()
