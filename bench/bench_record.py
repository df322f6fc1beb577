"""Record/replay benchmark: recorder cost on the live path, reading and converting
a million-event recording, replay timing accuracy.

    .venv/bin/python bench/bench_record.py [--quick] [--replay-only | --live-only]

Loopback, mutual TLS with a throwaway P-256 PKI (wsctl.pki).  The device is a
separate process (``--device telemetry|echo``), as it is in use.

1. Telemetry ingest: the device pushes N 100-byte messages as fast as it can;
   a client process receives them with a plain `Device` (recorder off),
   through `Recorder.attach` (recorder on: batched writes), and through a
   recorder that writes every message at once (``batch_bytes=0``: how it
   worked before).  Each round runs the three in turn, in a rotating order;
   the ratio on/off is taken per round (paired) and its median and spread
   are the result (budget: on >= 0.95 x off).  CPU seconds of the client
   process are reported too.
2. A recording of 1,000,000 events (mixed text/binary, in/out) is written,
   read back (`open_recording`), and converted to HAR (`to_har`, to a file):
   events per second, and memory: peak RSS growth over each phase and the
   tracemalloc peak while reading (flat = streaming).  One process: no peer.
3. Replay timing: a recording of sends with random gaps (1-40 ms, several
   seconds long) replayed at original speed against the echo device process;
   error = the time `device.send` returned - due time (the wake-up alone
   would hide a slow send); p50/p99/max per run (budget: p99 <= 2 ms).
   ``--replay-only`` runs just this part.

The load average is printed with the figures.
"""

from __future__ import annotations

import functools
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsctl.core.record.format import Event  # noqa: E402
from wsctl.core.record.har import to_har  # noqa: E402
from wsctl.core.record.replay import build_plan  # noqa: E402
from wsctl.files.recording_reader import open_recording  # noqa: E402
from wsctl.net.api import echo_handler, open_device, serve  # noqa: E402
from wsctl.net.recorder import Recorder  # noqa: E402
from wsctl.net.replayer import replay  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402

QUICK = "--quick" in sys.argv
INGEST = 4000 if QUICK else 8000
ROUNDS = 3 if QUICK else 11
REPLAY_RUNS = 1 if QUICK else 3
BIG = 100_000 if QUICK else 1_000_000
REPLAY_SENDS = 150 if QUICK else 400


def make_pki(base: Path, reuse: bool = False):
    """A throwaway P-256 PKI under ``base`` (``reuse``: the one a parent process made)."""
    store = Store(base / "pki")
    if not reuse:
        store.init(name="Bench CA", key_type="p256", password=b"pw")
        store.issue_device("bench", dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
        store.issue_operator("bench-op", role="engineer", days=2, password=b"pw", key_password=None)
    return store, store.leaf_paths("device", "bench"), store.leaf_paths("operator", "bench-op")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---- 1. recorder on the live path --------------------------------------------


async def telemetry(conn) -> None:
    payload = '{"jsonrpc":"2.0","method":"telemetry","params":{"speed":1200,"temp":41.25,"state":"running","seq":0}}'[
        :100
    ]
    request = await conn.receive()
    for _ in range(int(request)):
        await conn.send(payload)
    await conn.receive()


def tls_kwargs(store, leaf) -> dict:
    return dict(ca=str(store.root_cert_path), cert=str(leaf.chain), key=str(leaf.key))


async def device_process(kind: str, pki: Path) -> None:
    """``--device KIND PKI``: the device, alone in its process; prints its port."""
    store, dev, _ = make_pki(pki, reuse=True)
    handler = telemetry if kind == "telemetry" else echo_handler
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(
                serve,
                handler,
                host="127.0.0.1",
                cert_chain=str(dev.chain),
                key=str(dev.key),
                ca=str(store.root_cert_path),
            )
        )
        print(server.port, flush=True)
        await trio.sleep_forever()


def start_device(kind: str, pki: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, __file__, "--device", kind, str(pki)], stdout=subprocess.PIPE, text=True)
    port = proc.stdout.readline().strip()
    if not port:
        proc.kill()
        raise SystemExit(f"the {kind} device did not start")
    return proc, f"wss://localhost:{port}/"


async def ingest(url: str, kw: dict, path: Path | None, batch: bool = True) -> tuple[float, float]:
    """(messages/s, CPU seconds of this process) for INGEST pushed messages."""
    async with open_device(url, **kw) as raw:
        rec = None
        if path is not None:
            rec = Recorder(path, url=url) if batch else Recorder(path, url=url, batch_bytes=0)
        dev = rec.attach(raw) if rec is not None else raw
        cpu, start = time.process_time(), time.perf_counter()
        await dev.send(str(INGEST))
        for _ in range(INGEST):
            await dev.receive()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        await dev.send("done")
        if rec is not None:
            rec.close()
    return INGEST / elapsed, cpu


async def bench_ingest(store, op, url: str, tmp: Path) -> dict:
    kw = tls_kwargs(store, op)
    variants = {"off": None, "on": True, "per-message": False}
    rates: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    await ingest(url, kw, None)  # warm-up (contexts, identities cached)
    order = list(variants)
    for i in range(ROUNDS):
        for name in order[i % 3 :] + order[: i % 3]:  # rotate the order: drift hits each alike
            batch = variants[name]
            path = None if batch is None else tmp / f"ingest-{name}-{i}.jsonl"
            rate, cpu = await ingest(url, kw, path, batch if batch is not None else True)
            rates[name].append(rate)
            cpus[name].append(cpu)
    return {"rates": rates, "cpus": cpus}


# ---- 2. a million events --------------------------------------------------------


def bench_big(tmp: Path) -> dict:
    path = tmp / "big.jsonl"
    rng = random.Random(1)
    texts = [
        f'{{"jsonrpc":"2.0","method":"conveyor.telemetry","params":{{"speed":{rng.randrange(3000)},"motor_temp":{rng.uniform(20, 80):.1f}}}}}'
        for _ in range(64)
    ]
    blobs = [rng.randbytes(48) for _ in range(16)]
    clock = iter(range(10**9))
    rss0 = rss_mib()
    start = time.perf_counter()
    with Recorder(path, url="wss://bench/", clock=lambda: next(clock) * 0.001) as rec:
        for i in range(BIG):
            if i % 8 == 7:
                rec.message("out", 1, blobs[i % 16])
            else:
                rec.message("in" if i % 3 else "out", 1, texts[i % 64])
    write_s = time.perf_counter() - start
    size = path.stat().st_size
    rss1 = rss_mib()

    start = time.perf_counter()
    count = sum(1 for _ in open_recording(path))
    read_s = time.perf_counter() - start
    rss2 = rss_mib()
    assert count == BIG, count

    start = time.perf_counter()
    reader = open_recording(path)
    with open(tmp / "big.har", "w", encoding="utf-8") as out:
        for chunk in to_har(reader.header, reader):
            out.write(chunk)
    har_s = time.perf_counter() - start
    rss3 = rss_mib()

    # tracemalloc slows Python down ~2x: a separate pass, memory only
    tracemalloc.start()
    for n, _ in enumerate(open_recording(path)):
        if n == BIG // 10:
            tenth_peak = tracemalloc.get_traced_memory()[1]
    full_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "events": BIG,
        "bytes": size,
        "write_eps": BIG / write_s,
        "read_eps": BIG / read_s,
        "har_eps": BIG / har_s,
        "har_bytes": (tmp / "big.har").stat().st_size,
        "rss_write": rss1 - rss0,
        "rss_read": rss2 - rss1,
        "rss_har": rss3 - rss2,
        "rss_end": rss3,
        "trace_tenth": tenth_peak / 1024,
        "trace_full": full_peak / 1024,
    }


# ---- 3. replay timing ----------------------------------------------------------


async def bench_replay(store, op, url: str) -> dict:
    rng = random.Random(2)
    events, t = [Event(t=0.0, kind="open", conn=1)], 0.05
    for i in range(REPLAY_SENDS):
        t += rng.uniform(0.001, 0.040)
        events.append(Event(t=t, kind="text", dir="out", conn=1, data=f'{{"seq":{i}}}'))
        events.append(Event(t=t + 0.0005, kind="text", dir="in", conn=1, data=f'{{"seq":{i}}}'))
    plan = build_plan(events, mode="original")
    pauses: list[float] = []
    began = [0.0]

    def collected(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - began[0])

    async with open_device(url, **tls_kwargs(store, op)) as device:
        gc.callbacks.append(collected)
        try:
            result = await replay(device, plan, reply_timeout=5)
        finally:
            gc.callbacks.remove(collected)
    assert result.report.ok, result.report.summary()
    errors = sorted(abs(e) * 1000 for e in result.timing_errors())
    timed = [s for s in result.sent if s.send.anchor == "start"]
    wake = sorted((s.woke - s.planned) * 1000 for s in timed)
    sending = sorted((s.actual - s.woke) * 1000 for s in timed)
    return {
        "sends": len(errors),
        "span": plan.duration,
        "p50": percentile(errors, 0.5),
        "p99": percentile(errors, 0.99),
        "max": errors[-1],
        "wake_p99": percentile(wake, 0.99),
        "send_p50": percentile(sending, 0.5),
        "send_p99": percentile(sending, 0.99),
        "gc": len(pauses),
        "gc_max": max(pauses, default=0.0) * 1000,
    }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def print_ingest(ing: dict) -> None:
    rates, cpus = ing["rates"], ing["cpus"]
    print(f"\n1. telemetry ingest, device in its own process, {INGEST} x 100 B pushed, {ROUNDS} rounds (messages/s)")
    for name in rates:
        print(
            f"   {name:<12} {statistics.median(rates[name]):8.0f}/s   CPU {statistics.median(cpus[name]):.3f} s per run"
        )
    for name in ("on", "per-message"):
        paired = [on / off for on, off in zip(rates[name], rates["off"], strict=True)]
        cpu = [on / off for on, off in zip(cpus[name], cpus["off"], strict=True)]
        print(f"   {name}/off rate, paired per round: {spread(paired)}   CPU {spread(cpu)}")
    per = {name: [c / INGEST * 1e6 for c in cpus[name]] for name in cpus}
    added = [on - off for on, off in zip(per["on"], per["off"], strict=True)]
    print(
        f"   client CPU per message, µs: off {statistics.median(per['off']):.2f}, on {statistics.median(per['on']):.2f};"
        f" added by the recorder, paired per round: {spread(added)}"
    )


def print_replay(reps: list[dict]) -> None:
    rep = reps[0]
    print(
        f"\n3. replay timing, original speed, echo device in its own process, {rep['sends']} sends over"
        f" {rep['span']:.1f} s, {len(reps)} runs (|send returned - due|, ms)"
    )
    for rep in reps:
        print(
            f"   p50 {rep['p50']:.3f}   p99 {rep['p99']:.3f}   max {rep['max']:.3f}"
            f"   (woke late p99 {rep['wake_p99']:.3f}; the send itself p50 {rep['send_p50']:.3f}, p99 {rep['send_p99']:.3f};"
            f" {rep['gc']} collections, longest {rep['gc_max']:.2f})"
        )


def replays(store, op, pki: Path) -> list[dict]:
    echo, url = start_device("echo", pki)
    try:
        return [trio.run(bench_replay, store, op, url) for _ in range(REPLAY_RUNS)]
    finally:
        echo.kill()
        echo.wait()


def main() -> None:
    if "--device" in sys.argv:
        at = sys.argv.index("--device")
        trio.run(device_process, sys.argv[at + 1], Path(sys.argv[at + 2]))
        return
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, quick={QUICK}, load average {load()}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        store, _, op = make_pki(tmp)
        if "--replay-only" in sys.argv:
            print_replay(replays(store, op, tmp))
            print(f"load average {load()}")
            return
        device, url = start_device("telemetry", tmp)
        try:
            ing = trio.run(bench_ingest, store, op, url, tmp)
        finally:
            device.kill()
            device.wait()
        print_ingest(ing)
        print(f"   load average {load()}")
        print_replay(replays(store, op, tmp))
        print(f"   load average {load()}")
        if "--live-only" in sys.argv:  # parts 1 and 3: the two with a device process
            return
        big = bench_big(tmp)
    print(f"\n2. {big['events']:,} events, {big['bytes'] / 2**20:.1f} MiB recording (one process)")
    print(f"   write {big['write_eps']:10.0f} events/s   peak RSS +{big['rss_write']:.1f} MiB")
    print(f"   read  {big['read_eps']:10.0f} events/s   peak RSS +{big['rss_read']:.1f} MiB")
    print(
        f"   → HAR {big['har_eps']:10.0f} events/s   peak RSS +{big['rss_har']:.1f} MiB   ({big['har_bytes'] / 2**20:.1f} MiB HAR)"
    )
    print(
        f"   tracemalloc peak while reading: {big['trace_tenth']:.0f} KiB after 10 %, {big['trace_full']:.0f} KiB after 100 %;"
        f" process peak RSS {big['rss_end']:.0f} MiB; load average {load()}"
    )


if __name__ == "__main__":
    main()
