"""`wsctl serve --profile` holding many connections, in separate processes (issue 14, goal 1).

    .venv/bin/python bench/bench_serve_scale.py --quick                 # 500 connections, conveyor
    .venv/bin/python bench/bench_serve_scale.py --connections 5000 --profile conveyor
    .venv/bin/python bench/bench_serve_scale.py --connections 5000 --profile ocpp16-charger
    .venv/bin/python bench/bench_serve_scale.py --connections 10000 --telemetry-scale 1000   # idle, with a command

One `wsctl serve --profile P` (the real CLI) holds N mutual-TLS connections
made by K bench/hub_devices.py processes (--no-boot: they only read what the
simulator pushes; conveyor pushes telemetry to every connection each second).
A second, unloaded `wsctl serve --profile P` is the anchor for a new client's
latency, and a raw trio TLS server with the same certificates
(bench/raw_tls_anchor.py: handshake, 64 B echo, close, no WebSocket) its floor.
Measured: RSS per connection ((RSS_N - RSS idle)/N and the slope
N/2..N), CPU % over --idle seconds and, where the profile pushes telemetry,
CPU per connection-message (the server's CPU seconds / messages the clients
received in that window); a new client's p50/p99 (connect, one command,
close) to the loaded and to the unloaded server and the raw TLS floor, paired
repetitions; each wss one a full TLS handshake (a new operator process) and
then one that resumes the session (a process that talked to it before).
--probe runs the loaded server under bench/gc_probe.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_hub import WSCTL, _can_connect, cpu_seconds, free_port, load, log, pct, rss_kib, total, wait_for  # noqa: E402
from device_load import DeviceLoad  # noqa: E402
from hub_fixture import prepare  # noqa: E402

COMMANDS = {"conveyor": "status", "ocpp16-charger": None, "psu": "status"}


def start_serve(args, certs: Path, port: int, *, probe: str | None) -> subprocess.Popen:
    cmd = [WSCTL, "--json", "serve", "--profile", args.profile, "--listen", f"127.0.0.1:{port}",
           "--certs", str(certs), "--device", "hub", "--max-connections", str(args.connections + 100)]  # fmt: skip
    if args.telemetry_scale is not None:
        cmd += ["--telemetry-scale", str(args.telemetry_scale)]
    if probe:
        cmd = [sys.executable, str(HERE / "gc_probe.py"), *shlex.split(probe), "--", *cmd[1:]]
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.serve_env))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # type: ignore[union-attr]
    wait_for("serve listening", lambda: _can_connect(port), 60)
    return proc


def run(args) -> dict:
    n = args.connections
    certs, _ = prepare(args.workdir, n)
    port, anchor_port = free_port(), free_port()
    loaded = start_serve(args, certs, port, probe=args.probe)
    anchor = start_serve(args, certs, anchor_port, probe=None)
    raw_port = free_port()
    raw = subprocess.Popen([sys.executable, str(HERE / "raw_tls_anchor.py"), str(raw_port), str(certs)])
    wait_for("raw TLS anchor listening", lambda: _can_connect(raw_port), 60)
    procs: list[DeviceLoad] = []
    res: dict = {"connections": n, "profile": args.profile, "load_start": load(), "serve_env": args.serve_env}

    def probe() -> None:
        if args.probe:
            loaded.send_signal(10)  # SIGUSR1
            time.sleep(2)

    def add(first: int, last: int, proc_from: int, count: int) -> None:
        per = -(-(last - first) // count)
        new = [
            DeviceLoad([f"wss://127.0.0.1:{port}/"], certs, f"127.0.0.{2 + proc_from + k}", first + k * per,
                    min(per, last - first - k * per), ("--no-boot",))
            for k in range(count)
        ]  # fmt: skip
        for p in new:
            p.ready.wait(600)
        procs.extend(new)
        wait_for(f"{last} connections", lambda: total(procs, "booted") >= last, args.fill_timeout, 0.5)

    try:
        time.sleep(1)
        res["rss_idle_kib"] = rss_kib(loaded.pid)
        half = n // 2
        c0, t0 = cpu_seconds(loaded.pid), time.monotonic()
        log(f"opening {half} connections")
        add(0, half, 0, max(1, args.procs // 2))
        res["open_half_s"], res["open_half_cpu_ms"] = time.monotonic() - t0, (cpu_seconds(loaded.pid) - c0) / half * 1e3
        time.sleep(3)
        res["rss_half_kib"] = rss_kib(loaded.pid)
        probe()
        log(f"opening {n} connections")
        add(half, n, len(procs), args.procs - len(procs))
        time.sleep(3)
        res["rss_n_kib"] = rss_kib(loaded.pid)
        res["kib_per_conn"] = (res["rss_n_kib"] - res["rss_idle_kib"]) / n
        res["kib_per_conn_slope"] = (res["rss_n_kib"] - res["rss_half_kib"]) / (n - half)
        probe()
        log(f"holding {n} for {args.idle:g} s")
        c0, w0, m0 = cpu_seconds(loaded.pid), time.monotonic(), total(procs, "received")
        time.sleep(args.idle)
        cpu, wall, msgs = cpu_seconds(loaded.pid) - c0, time.monotonic() - w0, total(procs, "received") - m0
        res["held_cpu_pct"] = cpu / wall * 100
        res["messages_per_s"] = msgs / wall
        res["cpu_us_per_message"] = cpu / msgs * 1e6 if msgs else None
        res["load_held"] = load()
        probe()
        command = COMMANDS.get(args.profile)
        if command:
            log("new-client latency")
            urls = [f"wss://127.0.0.1:{port}/", f"wss://127.0.0.1:{anchor_port}/", f"tls://127.0.0.1:{raw_port}"]
            out = subprocess.run(
                [sys.executable, str(HERE / "hub_operator.py"), "--certs", str(certs), "--reps", str(args.reps),
                 "--profile", args.profile, "--command", command, "--resumed-too", *urls],
                capture_output=True, text=True, timeout=900, check=True,
            )  # fmt: skip
            data = json.loads(out.stdout)
            held, alone, floor = data[urls[0]], data[urls[1]], data[urls[2]]
            res["latency"] = {
                "reps": len(held),
                "held_p50_ms": pct(held, 50) * 1e3,
                "held_p99_ms": pct(held, 99) * 1e3,
                "alone_p50_ms": pct(alone, 50) * 1e3,
                "alone_p99_ms": pct(alone, 99) * 1e3,
                "p99_ratio": pct(held, 99) / pct(alone, 99),
                "held_resumed_p50_ms": pct(data[f"{urls[0]} resumed"], 50) * 1e3,
                "held_resumed_p99_ms": pct(data[f"{urls[0]} resumed"], 99) * 1e3,
                "alone_resumed_p99_ms": pct(data[f"{urls[1]} resumed"], 99) * 1e3,
                "raw_tls_p50_ms": pct(floor, 50) * 1e3,
                "raw_tls_p99_ms": pct(floor, 99) * 1e3,
            }
            res["load_latency"] = load()
            probe()
    finally:
        for p in procs:
            p.stop()
        for s in (loaded, anchor, raw):
            s.terminate()
            try:
                s.wait(20)
            except subprocess.TimeoutExpired:
                s.kill()
    return res


def table(res: dict) -> str:
    lat = res.get("latency")
    per_msg = res["cpu_us_per_message"]
    rows = [
        ("RSS per connection, (RSS_N - idle)/N", f"{res['kib_per_conn']:.1f} KiB", "<= 48 KiB"),
        ("RSS per connection, slope N/2..N", f"{res['kib_per_conn_slope']:.1f} KiB", "<= 48 KiB"),
        ("RSS idle / N/2 / N", f"{res['rss_idle_kib'] / 1024:.0f} / {res['rss_half_kib'] / 1024:.0f} / "
         f"{res['rss_n_kib'] / 1024:.0f} MiB", ""),
        ("opening N/2: wall, server CPU per connection", f"{res['open_half_s']:.1f} s, {res['open_half_cpu_ms']:.2f} ms", ""),
        ("server CPU while held", f"{res['held_cpu_pct']:.1f} %", "< 5 % (idle)"),
        ("messages pushed per second", f"{res['messages_per_s']:.0f}", ""),
        ("server CPU per connection-message", "-" if per_msg is None else f"{per_msg:.0f} us", "<= 60 us"),
    ]  # fmt: skip
    if lat:
        rows += [
            ("new client p50 held / alone", f"{lat['held_p50_ms']:.1f} / {lat['alone_p50_ms']:.1f} ms", ""),
            ("new client p99 held / alone", f"{lat['held_p99_ms']:.1f} / {lat['alone_p99_ms']:.1f} ms",
             f"< 10 ms; {lat['p99_ratio']:.2f}x"),
            ("resumed TLS: p50 held, p99 held / alone",
             f"{lat['held_resumed_p50_ms']:.1f}, {lat['held_resumed_p99_ms']:.1f} / {lat['alone_resumed_p99_ms']:.1f} ms",
             "< 10 ms"),
            ("raw trio TLS, no WebSocket: p50 / p99", f"{lat['raw_tls_p50_ms']:.1f} / {lat['raw_tls_p99_ms']:.1f} ms",
             "the floor"),
        ]  # fmt: skip
    w = max(len(r[0]) for r in rows)
    head = f"serve --profile {res['profile']}: {res['connections']} connections, env {res['serve_env'] or '-'}"
    tail = f"load average: start {res['load_start']}, held {res.get('load_held')}, latency {res.get('load_latency')}"
    return "\n".join([head, *(f"{a:<{w}}  {b:>26}  {c}" for a, b, c in rows), tail])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="500 connections, 2 processes, 10 s, 30 reps")
    p.add_argument("--connections", type=int, default=5000)
    p.add_argument("--profile", default="conveyor")
    p.add_argument("--procs", type=int, default=8)
    p.add_argument("--idle", type=float, default=30.0)
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/wsctl-bench-hub"))
    p.add_argument("--fill-timeout", type=float, default=900.0)
    p.add_argument(
        "--telemetry-scale",
        type=float,
        help="passed to both servers (1000: conveyor's telemetry every ~17 min, i.e. idle connections with a command)",
    )
    p.add_argument("--probe", help="run the loaded server under bench/gc_probe.py with these options")
    p.add_argument("--serve-env", action="append", default=[], help="NAME=VALUE for the loaded server")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.quick:
        args.connections, args.procs, args.idle, args.reps = 500, 2, 10.0, 30
    res = run(args)
    print(table(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
