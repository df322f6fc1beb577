"""Profile-layer and fan-out benchmarks (issue 4).

    .venv/bin/python bench/bench_profile.py [--quick] [--devices 50,100,200,500]

1. Command round trips on ONE connection, side by side: the raw message path
   (a pre-rendered JSON-RPC request, `Device.send` + `Device.receive`) vs the
   profile layer (`Session.call`: bind and check parameters, render the
   request, correlate the reply by id, decode, apply the success check).  Both
   against the same in-process JSON-RPC responder over mutual TLS.  The ratio
   is the cost of the profile layer (budget: at most 1.15).
2. Fan-out of one command (`wsctl send GROUP status --profile conveyor`) to N
   simulated devices: one `wsctl serve --profile conveyor` process serving N
   device URLs (each its own path and mTLS connection), the real CLI as a
   subprocess; wall time per N and per device, to show how it grows.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wsctl.files.profiles import load_profile  # noqa: E402
from wsctl.net.api import open_device, serve  # noqa: E402
from wsctl.net.session import Session  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402

QUICK = "--quick" in sys.argv
ROUNDS = 3 if QUICK else 5
CALLS = 500 if QUICK else 2000


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def make_pki(base: Path):
    store = Store(base / "certs")
    store.init(name="Bench CA", password=b"pw")
    store.issue_device("sim", dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
    store.issue_operator("op", role="engineer", days=2, password=b"pw", key_password=None)
    return store


async def responder(conn) -> None:
    """The smallest correct JSON-RPC device: echo the id in a result."""
    async for message in conn:
        request = json.loads(message)
        await conn.send(
            '{"jsonrpc":"2.0","id":' + json.dumps(request["id"]) + ',"result":{"state":"running","speed":1200}}'
        )


async def round_trips(store) -> dict[str, list[float]]:
    device = store.leaf_paths("device", "sim")
    op = store.leaf_paths("operator", "op")
    profile = load_profile("conveyor")
    tls = {"ca": str(store.root_cert_path), "cert": str(op.chain), "key": str(op.key)}
    results: dict[str, list[float]] = {"raw": [], "profile": [], "raw_cpu": [], "profile_cpu": []}
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(
                serve,
                responder,
                host="127.0.0.1",
                port=0,
                cert_chain=str(device.chain),
                key=str(device.key),
                ca=str(store.root_cert_path),
                subprotocols=["conveyor.v1"],
            )
        )
        async with open_device(server.url, subprotocols=["conveyor.v1"], **tls) as dev:

            async def raw() -> float:
                start, cpu = time.perf_counter(), time.process_time()
                for i in range(CALLS):
                    await dev.send(
                        f'{{"jsonrpc":"2.0","id":{i},"method":"conveyor.set_speed","params":{{"speed":1200}}}}'
                    )
                    json.loads(await dev.receive())
                results["raw_cpu"].append((time.process_time() - cpu) / CALLS)
                return CALLS / (time.perf_counter() - start)

            async def profiled() -> float:
                session = Session(dev, profile)  # its reader ends with each round
                async with trio.open_nursery() as inner:
                    await inner.start(session.run)
                    start, cpu = time.perf_counter(), time.process_time()
                    for _ in range(CALLS):
                        reply = await session.call("set_speed", {"speed": 1200})
                        assert reply.ok
                    rate = CALLS / (time.perf_counter() - start)
                    results["profile_cpu"].append((time.process_time() - cpu) / CALLS)
                    inner.cancel_scope.cancel()
                return rate

            for _ in range(ROUNDS):  # interleaved so drift hits both alike
                results["raw"].append(await raw())
                results["profile"].append(await profiled())
        server.close()
    return results


def fan_out(store, base: Path, sizes: list[int]) -> list[tuple[int, float]]:
    env = {**os.environ, "WSCTL_PASSWORD": "pw"}
    # the server's log goes to a file: an unread pipe would fill up and stall it
    log = base / "serve.jsonl"
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wsctl",
                "--json",
                "serve",
                "--profile",
                "conveyor",
                "--certs",
                str(store.path),
                "--device",
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--max-connections",
                "5000",
                "--telemetry-scale",
                "100",
            ],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while not log.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = json.loads(log.read_text().splitlines()[0])["url"].rstrip("/")
        out = []
        for n in sizes:
            inventory = base / f"inv-{n}.toml"
            lines = [f'[defaults]\ncerts = "{store.path}"\noperator = "op"\nprofile = "conveyor"\n']
            lines += [f'[devices.belt-{i}]\nurl = "{url}/belt/{i}"\n' for i in range(n)]
            lines.append("[groups]\nall = [" + ", ".join(f'"belt-{i}"' for i in range(n)) + "]\n")
            inventory.write_text("\n".join(lines))
            start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "wsctl",
                    "--json",
                    "send",
                    "all",
                    "status",
                    "--inventory",
                    str(inventory),
                    "--parallel",
                    "64",
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            wall = time.perf_counter() - start
            rows = [json.loads(line) for line in done.stdout.splitlines()]
            ok = sum(1 for r in rows if r["ok"])
            if ok != n:
                print(f"  fan-out {n}: only {ok} ok; first error: {next((r for r in rows if not r['ok']), None)}")
            out.append((n, wall))
        return out
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    sizes = [int(x) for x in arg("--devices", "20,50,100" if QUICK else "50,100,200,500").split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = make_pki(base)
        rt = trio.run(round_trips, store)
        raw, prof = statistics.median(rt["raw"]), statistics.median(rt["profile"])
        print(f"command round trips, one mTLS connection, {CALLS} calls x {ROUNDS} rounds (median):")
        print(f"  raw messages     {raw:8.0f} calls/s")
        print(f"  profile layer    {prof:8.0f} calls/s")
        print(f"  wall time ratio profile/raw = {raw / prof:.3f}  (budget <= 1.15)")
        raw_cpu, prof_cpu = statistics.median(rt["raw_cpu"]), statistics.median(rt["profile_cpu"])
        print(
            f"  CPU per round trip (client + server, one process): raw {raw_cpu * 1e6:.0f} us, profile {prof_cpu * 1e6:.0f} us,"
            f" ratio {prof_cpu / raw_cpu:.3f}  (CPU is steadier than wall on a shared machine)"
        )
        print("fan-out of `wsctl send GROUP status --profile conveyor --parallel 64` (one CLI process, mTLS each):")
        for n, wall in fan_out(store, base, sizes):
            print(f"  {n:4d} devices  {wall:6.2f} s wall  {wall / n * 1000:6.1f} ms/device")


if __name__ == "__main__":
    main()
