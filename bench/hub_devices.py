"""Device load for bench/bench_hub.py: many OCPP 1.6 chargers in one process.

    python bench/hub_devices.py --url wss://127.0.0.1:PORT/ocpp/{id} --certs DIR \
        --source 127.0.0.2 --first 0 --count 2500 [--prefix CP-] [--meter SECONDS]

The lightest client at hand: python-websockets (asyncio), one SSLContext per
device (each presents its own certificate, security profile 3).  A device boots
with BootNotification, then idles with a Heartbeat every 300 s (random first
phase; --heartbeat SECONDS for another interval); it answers any call of the hub with an empty result (GetConfiguration:
no keys).  When the hub goes away it dials again at once (random 0-1 s), then
every 0.25-0.75 s while nobody listens, with a growing back-off (up to 8 s)
after a refused or failed handshake.  With --meter SECONDS a booted device
also sends an OCPP MeterValues every SECONDS (random first phase; the
sampled value's timestamp is the send time, in ms), until SIGUSR1 stops every
device's readings ("sent" counts them).  A JSON status line goes to stdout
whenever the counts change (at most every 0.2 s): open, booted, dials,
failures, received, sent.
Not a test and not a benchmark by itself: bench_hub.py drives it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import ssl
import sys
import time
from datetime import UTC, datetime

import websockets

HEARTBEAT = [300.0]
#: seconds between a device's MeterValues (0: none), and whether they stopped (SIGUSR1)
METER = [0.0]
METER_STOPPED = [False]


class Counts:
    def __init__(self) -> None:
        self.open = 0
        self.booted = 0
        self.dials = 0
        self.failures = 0
        self.received = 0
        self.sent = 0
        self.no_boot = False
        self.changed = asyncio.Event()

    def bump(self, name: str, by: int = 1) -> None:
        setattr(self, name, getattr(self, name) + by)
        self.changed.set()

    def line(self) -> str:
        return json.dumps(
            {
                "open": self.open,
                "booted": self.booted,
                "dials": self.dials,
                "failures": self.failures,
                "received": self.received,
                "sent": self.sent,
                "t": time.time(),
            }
        )


def context(certs: str, device_id: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=f"{certs}/ca/root.crt")
    ctx.load_cert_chain(f"{certs}/devices/{device_id}/chain.pem", f"{certs}/devices/{device_id}/key.pem")
    return ctx


async def listen(ws, counts: Counts) -> None:
    """--no-boot: a client of a listening simulator; reads what it pushes."""
    counts.bump("booted")
    try:
        async for _ in ws:
            counts.bump("received")
    finally:
        counts.bump("booted", -1)


async def session(ws, counts: Counts, device_id: str) -> None:
    if counts.no_boot:
        await listen(ws, counts)
        return
    boot = json.dumps(
        [2, "boot", "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "hub_devices.py"}]
    )
    await ws.send(boot)
    heartbeat = asyncio.get_running_loop().create_task(beat(ws))
    meter = asyncio.get_running_loop().create_task(meter_values(ws, counts)) if METER[0] else None
    booted = False
    try:
        async for raw in ws:
            msg = json.loads(raw)
            if msg[0] == 3 and msg[1] == "boot" and not booted:
                booted = True
                counts.bump("booted")
            elif msg[0] == 2:
                payload = {"configurationKey": []} if msg[2] == "GetConfiguration" else {}
                await ws.send(json.dumps([3, msg[1], payload]))
    finally:
        heartbeat.cancel()
        if meter is not None:
            meter.cancel()
        if booted:
            counts.bump("booted", -1)


async def beat(ws) -> None:
    every = HEARTBEAT[0]
    await asyncio.sleep(random.uniform(0, every))
    n = 0
    while True:
        n += 1
        await ws.send(json.dumps([2, f"hb{n}", "Heartbeat", {}]))
        await asyncio.sleep(every)


async def meter_values(ws, counts: Counts) -> None:
    every = METER[0]
    await asyncio.sleep(random.uniform(0, every))
    n = 0
    while not METER_STOPPED[0]:
        n += 1
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        meter = {"connectorId": 1, "meterValue": [{"timestamp": now, "sampledValue": [{"value": str(n)}]}]}
        await ws.send(json.dumps([2, f"m{n}", "MeterValues", meter]))
        counts.bump("sent")
        await asyncio.sleep(every)


async def device(urls: list[str], device_id: str, ctx: ssl.SSLContext, source: str, counts: Counts) -> None:
    """Dial the URLs in order (the first that answers), from the first again
    after a lost connection: a charger's list of central systems."""
    backoff = 1.0
    turn = 0
    while True:
        counts.bump("dials")
        url = urls[turn % len(urls)]
        try:
            async with websockets.connect(
                url.format(id=device_id),
                ssl=ctx,
                subprotocols=[] if counts.no_boot else ["ocpp1.6"],
                ping_interval=None,
                compression=None,
                open_timeout=60,
                close_timeout=2,
                max_size=65536,
                local_addr=(source, 0),
            ) as ws:
                counts.bump("open")
                backoff = 1.0
                try:
                    await session(ws, counts, device_id)
                finally:
                    counts.bump("open", -1)
            turn = 0
            await asyncio.sleep(random.uniform(0, 1))
        except ConnectionRefusedError:
            # nobody listens (the hub is restarting or dead): the next URL at once; after
            # a whole round, again soon, all at once
            counts.bump("failures")
            turn += 1
            if turn % len(urls) == 0:
                await asyncio.sleep(random.uniform(0.25, 0.75))
        except (TimeoutError, OSError, websockets.exceptions.WebSocketException):
            counts.bump("failures")
            turn += 1
            await asyncio.sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, 8.0)


async def report(counts: Counts) -> None:
    while True:
        await counts.changed.wait()
        counts.changed.clear()
        print(counts.line(), flush=True)
        await asyncio.sleep(0.2)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, action="append", help="a device URL ({id}); several: tried in order")
    p.add_argument("--certs", required=True)
    p.add_argument("--source", default="127.0.0.1")
    p.add_argument("--prefix", default="CP-")
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--no-boot", action="store_true", help="only read (a client of `wsctl serve --profile`)")
    p.add_argument("--heartbeat", type=float, default=HEARTBEAT[0], help="seconds between a device's Heartbeats")
    p.add_argument("--meter", type=float, default=0.0, help="seconds between a device's MeterValues (0: none)")
    a = p.parse_args()
    HEARTBEAT[0] = a.heartbeat
    METER[0] = a.meter
    counts = Counts()
    counts.no_boot = a.no_boot

    def stop_readings() -> None:
        METER_STOPPED[0] = True
        counts.changed.set()  # one more status line, with the final count

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, stop_readings)
    ids = [f"{a.prefix}{i:05d}" for i in range(a.first, a.first + a.count)]
    contexts = [context(a.certs, i) for i in ids]
    print(json.dumps({"ready": len(ids)}), flush=True)
    tasks = [asyncio.create_task(report(counts))]
    tasks += [asyncio.create_task(device(a.url, i, c, a.source, counts)) for i, c in zip(ids, contexts, strict=True)]
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
