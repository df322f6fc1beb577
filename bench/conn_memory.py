"""Python memory per idle server connection (tracemalloc), in one process.

    .venv/bin/python bench/conn_memory.py [--top] [--profile conveyor]

`serve(echo_handler)` and 200 raw TLS clients (hand-written upgrade, then
idle) in one trio run; the server side's allocations per connection are the
snapshot difference minus what was allocated on the clients' own code path.
No timing in it, so it tells two versions of the connection apart even on a
loaded machine (another version: run that checkout's copy of this script,
``python /tmp/other/bench/conn_memory.py``: it puts its own checkout first on
``sys.path``, so ``PYTHONPATH`` alone measures this one); RSS
(bench_serve_scale.py) adds OpenSSL's state and malloc's overhead.  With
``--top``: the 16 largest allocation sites.  With ``--profile NAME``: the
handler is `serve --profile NAME`'s simulator (`Simulator.handler`, its clock
running: telemetry is sent to the idle clients, which do not read it), not the
echo.
"""

from __future__ import annotations

import collections
import functools
import gc
import inspect
import ssl
import sys
import tempfile
import tracemalloc
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_roundtrip import make_pki  # noqa: E402

from wsctl.net.server import echo_handler, serve  # noqa: E402

N = 200
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def open_clients(port: int, pki: dict[str, str], n: int) -> list[trio.SSLStream]:
    ctx = ssl.create_default_context(cafile=pki["root"])
    ctx.load_cert_chain(pki["op_chain"], pki["op_key"])
    held = []
    for _ in range(n):
        tls = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=ctx)
        await tls.send_all(UPGRADE)
        await tls.receive_some(4096)
        held.append(tls)
    return held


def _client_lines() -> range:
    lines, first = inspect.getsourcelines(open_clients)
    return range(first, first + len(lines))


async def measure(pki: dict[str, str], top: bool, profile: str | None) -> None:
    client = _client_lines()
    handler = echo_handler
    sim = None
    if profile is not None:
        from wsctl.files.profiles import load_profile
        from wsctl.net.simulate import Simulator

        sim = Simulator(load_profile(profile), seed=1)
        handler = sim.handler

    def on_server(diff: tracemalloc.StatisticDiff) -> bool:
        return not any(f.filename == __file__ and f.lineno in client for f in diff.traceback)

    async with trio.open_nursery() as nursery:
        if sim is not None:
            await nursery.start(sim.run)
        server = await nursery.start(
            functools.partial(serve, handler, cert_chain=pki["dev_chain"], key=pki["dev_key"], ca=pki["root"])
        )
        held = await open_clients(server.port, pki, 20)  # imports, caches, the server's own tasks
        await trio.sleep(1.2)  # past one unattended sweep
        gc.collect()
        tracemalloc.start(25)
        before = tracemalloc.take_snapshot()
        held += await open_clients(server.port, pki, N)
        await trio.sleep(1.2)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        diff = [d for d in after.compare_to(before, "traceback") if on_server(d)]
        print(
            f"server-side Python allocations per idle connection: {sum(d.size_diff for d in diff) / N / 1024:.1f} KiB"
        )
        if top:
            sites: collections.Counter[str] = collections.Counter()
            for d in diff:
                frame = d.traceback[-1]
                sites[f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"] += d.size_diff
            for site, size in sites.most_common(16):
                print(f"{size / N:8.0f} B  {site}")
        nursery.cancel_scope.cancel()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        profile = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
        trio.run(measure, make_pki(Path(tmp)), "--top" in sys.argv, profile)


if __name__ == "__main__":
    main()
