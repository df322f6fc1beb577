"""Run every benchmark in bench/, one after the other, each in its own process.

    .venv/bin/python bench/run.py            # the full runs (an hour or more)
    .venv/bin/python bench/run.py --quick    # a smoke run of each
    .venv/bin/python bench/run.py --quick bench_hub bench_serve_scale   # only these

Each bench prints its own table; this prints the load average before each and
a summary of exit codes at the end (exit 1 if any failed).  Benchmarks are
never tests: nothing here is collected by pytest (testpaths = tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (full arguments, quick arguments)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "startup": (["--runs", "15"], ["--runs", "3"]),
    "bench_oneshot": (["--runs", "8"], ["--runs", "2"]),
    "bench_roundtrip": ([], ["--quick"]),
    "bench_frames": ([], ["--quick"]),
    "bench_handshake": ([], []),
    "bench_profile": ([], ["--quick"]),
    "bench_record": ([], ["--quick"]),
    "bench_serve_scale": ([], ["--quick"]),
    "bench_hub": ([], ["--quick"]),
    "bench_federation": ([], ["--quick"]),
    "bench_telemetry": ([], ["--quick"]),
    "bench_failover": ([], ["--quick"]),
    "bench_shared_registry": ([], ["--quick"]),
    "bench_est": ([], ["--quick"]),
    "bench_renewal": (
        ["--chargers", "1000", "--processes", "4", "--concurrency", "50"],
        ["--chargers", "6", "--processes", "2", "--concurrency", "3"],
    ),
    "bench_issue_many": ([], ["--count", "50"]),
    "bench_station_sign": ([], ["--sizes", "0,100", "--batch", "20"]),
}
# not here: conn_memory.py, hub_memory.py, tls_memory.py, tls_handshake_cpu.py and gc_probe.py are probes (tracemalloc, malloc, the
# collector) run by hand while looking into one figure; docs/performance.md names their commands


def main() -> int:
    quick = "--quick" in sys.argv
    chosen = [a for a in sys.argv[1:] if not a.startswith("--")] or list(BENCHES)
    unknown = [c for c in chosen if c not in BENCHES]
    if unknown:
        print(f"unknown bench: {', '.join(unknown)} (known: {', '.join(BENCHES)})", file=sys.stderr)
        return 8
    results = []
    for name in chosen:
        args = BENCHES[name][1 if quick else 0]
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\n=== {name} {' '.join(args)}  (load average {load})", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *args])
        results.append((name, rc, time.monotonic() - t0))
    print("\n=== summary")
    for name, rc, seconds in results:
        print(f"{name:<20} {'ok' if rc == 0 else f'exit {rc}':>8} {seconds:8.1f} s")
    return 1 if any(rc for _, rc, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
