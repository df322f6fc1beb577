"""A light JSON-RPC device for the fan-out benchmark, alone in its process.

    python bench/fanout_device.py CERT_CHAIN KEY CA

python-websockets (asyncio, the cheapest server per connection measured here)
with mutual TLS, on any path; answers every JSON-RPC request with a result
and offers the conveyor profile's subprotocol.  Prints its port, then serves
until killed.  Light on purpose: the server shares the 2 cores with the
client being measured, and its cost would blur the clients' differences.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys

import websockets


async def answer(ws) -> None:
    reply = {"state": "running", "speed": 1200, "setpoint": 1200, "motor_temp": 41.5, "estop_latched": False}
    try:
        async for message in ws:
            request = json.loads(message)
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": reply}))
    except websockets.ConnectionClosed:  # a client that leaves without waiting (or closing) is no news
        pass


async def main(chain: str, key: str, ca: str) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    async with websockets.serve(answer, "127.0.0.1", 0, ssl=ctx, subprotocols=["conveyor.v1"], backlog=1024) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
