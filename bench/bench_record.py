"""Record/replay benchmark: recorder cost on the live path, reading and converting
a million-event recording, replay timing accuracy.

    .venv/bin/python bench/bench_record.py [--quick]

One process, loopback, mutual TLS with a throwaway P-256 PKI (wsctl.pki).

1. Telemetry ingest: a device pushes N 100-byte messages as fast as it can; the
   client receives them with a plain `Device` (recorder off) or through
   `Recorder.attach` (recorder on, every message written and flushed to a
   file).  Runs alternate off/on so machine noise hits both; the ratio of the
   medians is the result (budget: on >= 0.90 x off).  CPU time of the whole
   process is reported too (both peers share it, so it understates the share).
2. A recording of 1,000,000 events (mixed text/binary, in/out) is written,
   read back (`open_recording`), and converted to HAR (`to_har`, to a file):
   events per second, and memory: peak RSS growth over each phase and the
   tracemalloc peak while reading (flat = streaming).
3. Replay timing: a recording of sends with random gaps (1-40 ms, several
   seconds long) replayed at original speed against an echo device; error =
   the time `device.send` returned - due time (the wake-up alone would hide a
   slow send); p50/p99/max (budget: p99 < 5 ms).  ``--replay-only`` runs just
   this part.
"""

from __future__ import annotations

import functools
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_roundtrip import make_pki  # noqa: E402 - the same throwaway PKI

from wsctl.core.record.format import Event  # noqa: E402
from wsctl.core.record.har import to_har  # noqa: E402
from wsctl.core.record.replay import build_plan  # noqa: E402
from wsctl.net.api import echo_handler, open_device, serve  # noqa: E402
from wsctl.net.recorder import Recorder  # noqa: E402
from wsctl.net.recordfile import open_recording  # noqa: E402
from wsctl.net.replayer import replay  # noqa: E402

QUICK = "--quick" in sys.argv
INGEST = 5000 if QUICK else 20000
ROUNDS = 3 if QUICK else 7
BIG = 100_000 if QUICK else 1_000_000
REPLAY_SENDS = 150 if QUICK else 400


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


async def ingest(url: str, kw: dict, path: Path | None) -> tuple[float, float]:
    """(messages/s, CPU seconds) for INGEST pushed messages."""
    async with open_device(url, **kw) as raw:
        rec = Recorder(path, url=url) if path is not None else None
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


async def bench_ingest(store, dev, op, tmp: Path) -> dict:
    kw = dict(ca=store.root_cert_path, cert=op.chain, key=op.key)
    off, on, cpu_off, cpu_on = [], [], [], []
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve, telemetry, cert_chain=dev.chain, key=dev.key, ca=store.root_cert_path)
        )
        url = f"wss://localhost:{server.port}/"
        await ingest(url, kw, None)  # warm-up (contexts, identities cached)
        for i in range(ROUNDS):
            rate, cpu = await ingest(url, kw, None)
            off.append(rate)
            cpu_off.append(cpu)
            rate, cpu = await ingest(url, kw, tmp / f"ingest-{i}.jsonl")
            on.append(rate)
            cpu_on.append(cpu)
        nursery.cancel_scope.cancel()
    return {
        "off": statistics.median(off),
        "on": statistics.median(on),
        "best_off": max(off),
        "best_on": max(on),
        "cpu_off": statistics.median(cpu_off),
        "cpu_on": statistics.median(cpu_on),
    }


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


async def bench_replay(store, dev, op) -> dict:
    rng = random.Random(2)
    events, t = [Event(t=0.0, kind="open", conn=1)], 0.05
    for i in range(REPLAY_SENDS):
        t += rng.uniform(0.001, 0.040)
        events.append(Event(t=t, kind="text", dir="out", conn=1, data=f'{{"seq":{i}}}'))
        events.append(Event(t=t + 0.0005, kind="text", dir="in", conn=1, data=f'{{"seq":{i}}}'))
    plan = build_plan(events, mode="original")
    kw = dict(ca=store.root_cert_path, cert=op.chain, key=op.key)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(serve, echo_handler, cert_chain=dev.chain, key=dev.key, ca=store.root_cert_path)
        )
        async with open_device(f"wss://localhost:{server.port}/", **kw) as device:
            result = await replay(device, plan, reply_timeout=5)
        nursery.cancel_scope.cancel()
    assert result.report.ok, result.report.summary()
    errors = sorted(abs(e) * 1000 for e in result.timing_errors())
    pick = lambda q: errors[min(len(errors) - 1, int(round(q * (len(errors) - 1))))]  # noqa: E731
    return {"sends": len(errors), "span": plan.duration, "p50": pick(0.5), "p99": pick(0.99), "max": errors[-1]}


def main() -> None:
    if "--replay-only" in sys.argv:
        with tempfile.TemporaryDirectory() as tmpdir:
            rep = trio.run(bench_replay, *make_pki(Path(tmpdir)))
        print(
            f"replay timing, original speed, {rep['sends']} sends over {rep['span']:.1f} s (|send returned - due|, ms)"
        )
        print(f"   p50 {rep['p50']:.3f}   p99 {rep['p99']:.3f}   max {rep['max']:.3f}")
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        store, dev, op = make_pki(tmp)
        ing = trio.run(bench_ingest, store, dev, op, tmp)
        rep = trio.run(bench_replay, store, dev, op)
        big = bench_big(tmp)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, quick={QUICK}")
    print(f"\n1. telemetry ingest, {INGEST} x 100 B pushed, median of {ROUNDS} alternating runs (messages/s)")
    print(
        f"   recorder off {ing['off']:9.0f}   on {ing['on']:9.0f}   ratio on/off {ing['on'] / ing['off']:.3f}"
        f"   (best {ing['best_off']:.0f} / {ing['best_on']:.0f} = {ing['best_on'] / ing['best_off']:.3f})"
    )
    print(
        f"   CPU s per run: off {ing['cpu_off']:.3f}   on {ing['cpu_on']:.3f}   (on/off {ing['cpu_on'] / ing['cpu_off']:.3f}, both peers)"
    )
    print(f"\n2. {big['events']:,} events, {big['bytes'] / 2**20:.1f} MiB recording")
    print(f"   write {big['write_eps']:10.0f} events/s   peak RSS +{big['rss_write']:.1f} MiB")
    print(f"   read  {big['read_eps']:10.0f} events/s   peak RSS +{big['rss_read']:.1f} MiB")
    print(
        f"   → HAR {big['har_eps']:10.0f} events/s   peak RSS +{big['rss_har']:.1f} MiB   ({big['har_bytes'] / 2**20:.1f} MiB HAR)"
    )
    print(
        f"   tracemalloc peak while reading: {big['trace_tenth']:.0f} KiB after 10 %, {big['trace_full']:.0f} KiB after 100 %;"
        f" process peak RSS {big['rss_end']:.0f} MiB"
    )
    print(
        f"\n3. replay timing, original speed, {rep['sends']} sends over {rep['span']:.1f} s (|send returned - due|, ms)"
    )
    print(f"   p50 {rep['p50']:.3f}   p99 {rep['p99']:.3f}   max {rep['max']:.3f}")


if __name__ == "__main__":
    main()
