"""Operator commands for bench/bench_hub.py, in their own process.

    python bench/hub_operator.py --certs DIR --reps 200 URL_A URL_B

Each repetition runs one new operator command against every URL, in an order
that alternates per repetition: a new mTLS connection with wsctl's own client
API (`open_device(..., profile="ocpp16")`), `get_configuration` (or
--profile/--command), close; for a ``tls://127.0.0.1:PORT`` URL the raw trio
TLS client of bench/raw_tls_anchor.py instead (connect, handshake, 64 B echo,
close: the floor without WebSocket and wsctl).  Every wss connection is a
full TLS handshake, as a new operator process makes; with --resumed-too each
is followed by one that keeps its session and one, measured, that resumes it
(``URL resumed`` in the output), as a process that talked to the server before
does.  Prints
one JSON object: the latencies in seconds per URL, paired by repetition.
"""

from __future__ import annotations

import argparse
import json
import time

import trio

from wsctl.net import tls_sessions  # noqa: E402
from wsctl.net.api import open_device  # noqa: E402

_RAW: dict[str, object] = {}


async def raw_once(url: str, certs: str) -> float:
    from raw_tls_anchor import once as raw
    from raw_tls_anchor import operator_context

    ctx = _RAW.get(certs) or _RAW.setdefault(certs, operator_context(certs))
    t0 = time.perf_counter()
    await raw(int(url.rsplit(":", 1)[1]), ctx)
    return time.perf_counter() - t0


async def once(
    url: str, certs: str, profile: str = "ocpp16", command: str = "get_configuration", *, resume: bool = False
) -> float:
    if url.startswith("tls://"):
        return await raw_once(url, certs)
    if not resume:
        tls_sessions.forget()  # a new operator: a full handshake
    t0 = time.perf_counter()
    async with open_device(
        url,
        profile=profile,
        ca=f"{certs}/ca/root.crt",
        cert=f"{certs}/operators/op/chain.pem",
        key=f"{certs}/operators/op/key.pem",
    ) as dev:
        await dev.call(command)
    return time.perf_counter() - t0


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--certs", required=True)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--gap", type=float, default=0.02, help="seconds between commands")
    p.add_argument("--profile", default="ocpp16")
    p.add_argument("--command", default="get_configuration")
    p.add_argument("--resumed-too", action="store_true", help="after each wss command, one that resumes TLS")
    p.add_argument("urls", nargs="+")
    a = p.parse_args()
    for _ in range(a.warmup):
        for url in a.urls:
            await once(url, a.certs, a.profile, a.command)
    out: dict[str, list[float]] = {u: [] for u in a.urls}
    again = [u for u in a.urls if a.resumed_too and u.startswith("wss://")]
    out.update({f"{u} resumed": [] for u in again})
    for rep in range(a.reps):
        order = a.urls if rep % 2 == 0 else a.urls[::-1]
        for url in order:
            with trio.fail_after(60):
                out[url].append(await once(url, a.certs, a.profile, a.command))
                if url in again:
                    # a session is kept from a device's second connection on (net/tls_sessions.py)
                    await once(url, a.certs, a.profile, a.command, resume=True)
                    out[f"{url} resumed"].append(await once(url, a.certs, a.profile, a.command, resume=True))
            await trio.sleep(a.gap)
    print(json.dumps(out))


if __name__ == "__main__":
    trio.run(main)
