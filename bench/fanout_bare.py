"""The bare trio-websocket fan-out wsctl's `send GROUP status` is compared with.

    python bench/fanout_bare.py URLS_FILE CA CERT KEY PARALLEL

One SSLContext, at most PARALLEL connections at a time; per device: connect
with mutual TLS offering ``conveyor.v1``, send a JSON-RPC ``conveyor.status``,
read the reply, check it has a result, print one JSON line.  What a careful
script does, and nothing more: no inventory, no profile, no error mapping.
"""

from __future__ import annotations

import json
import ssl
import sys
import time

import trio
import trio_websocket


async def one(url: str, ctx: ssl.SSLContext, limiter: trio.CapacityLimiter) -> None:
    async with limiter:
        start = time.monotonic()
        try:
            async with trio_websocket.open_websocket_url(url, ssl_context=ctx, subprotocols=["conveyor.v1"]) as ws:
                await ws.send_message('{"jsonrpc":"2.0","id":1,"method":"conveyor.status","params":{}}')
                with trio.fail_after(5):
                    reply = json.loads(await ws.get_message())
            ok, value = "result" in reply, reply.get("result")
        except (OSError, trio.TooSlowError, trio_websocket.HandshakeError, trio_websocket.ConnectionClosed) as exc:
            ok, value = False, str(exc)
        print(json.dumps({"device": url, "ok": ok, "elapsed": round(time.monotonic() - start, 4), "value": value}))


async def main(urls_file: str, ca: str, cert: str, key: str, parallel: str) -> None:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    limiter = trio.CapacityLimiter(int(parallel))
    urls = open(urls_file, encoding="utf-8").read().split()
    async with trio.open_nursery() as nursery:
        for url in urls:
            nursery.start_soon(one, url, ctx, limiter)


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:6])
