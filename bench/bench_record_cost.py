"""The recorder's cost per received message in instructions, not seconds.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_record_cost.py [--messages A B] [--runs R]

On a shared 2-core machine the ingest ratio of bench_record.py part 1 swings by
±30 % from round to round (other processes take the cores), far more than the
few per cent it is meant to show.  Counting the client's instructions does not
depend on the load: the telemetry device of bench_record.py runs as a plain
process, the client (the same `ingest` as part 1, recorder off or on) runs
under ``valgrind --tool=cachegrind`` (no cache simulation), and the
per-message figure is the difference between a run of A and one of B messages
divided by B - A (start-up, TLS handshake and the recorder's set-up cancel
out).  Kernel time (the recorder's ``write`` calls, the TLS reads) is not in
an instruction count: bench_record.py's CPU figures include it.

Prints instructions per message off and on, what the recorder adds, and the
ratio off/on (what the ingest rate ratio would be if the client were
CPU-bound and every instruction cost the same), per run, with the load average.
Needs valgrind (apt).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent))


def client(mode: str, count: int, pki: str, url: str) -> None:
    """``--client off|on COUNT PKI URL``: one ingest of COUNT messages (run under valgrind)."""
    import bench_record as br
    import trio

    store, _, op = br.make_pki(Path(pki), reuse=True)
    br.INGEST = count
    with tempfile.TemporaryDirectory() as tmp:
        path = None if mode == "off" else Path(tmp) / "rec.jsonl"
        trio.run(br.ingest, url, br.tls_kwargs(store, op), path)


def instructions(mode: str, count: int, pki: Path, url: str) -> int:
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            str(HERE),
            "--client",
            mode,
            str(count),
            str(pki),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same dict layouts in every run
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if not found:
        raise SystemExit(f"no instruction count from valgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    if "--client" in sys.argv:
        at = sys.argv.index("--client")
        mode, count, pki, url = sys.argv[at + 1 : at + 5]
        client(mode, int(count), pki, url)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    import bench_record as br

    low, high = 2000, 10000
    if "--messages" in sys.argv:
        at = sys.argv.index("--messages")
        low, high = int(sys.argv[at + 1]), int(sys.argv[at + 2])
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 2
    print(
        f"Python {sys.version.split()[0]}, load average {br.load()}; {low} vs {high} messages of 100 B per client run"
    )
    results: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        br.make_pki(tmp)
        device, url = br.start_device("telemetry", tmp)
        try:
            for run in range(runs):
                per = {}
                for mode in ("off", "on"):
                    per[mode] = (instructions(mode, high, tmp, url) - instructions(mode, low, tmp, url)) / (high - low)
                    results[mode].append(per[mode])
                print(
                    f"   run {run + 1}: off {per['off']:,.0f} instructions per message, on {per['on']:,.0f};"
                    f" the recorder adds {per['on'] - per['off']:,.0f} ({(per['on'] - per['off']) / per['off']:.1%});"
                    f" off/on {per['off'] / per['on']:.3f}   load average {br.load()}"
                )
        finally:
            device.kill()
            device.wait()
    off, on = statistics.median(results["off"]), statistics.median(results["on"])
    print(f"   median: off {off:,.0f}, on {on:,.0f}, added {on - off:,.0f}, off/on {off / on:.3f}")
    print(f"   load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
