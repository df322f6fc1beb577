"""Start-up cost of the CLI, side by side in one run (ratios, not absolute times).

    python bench/startup.py [--runs 20]

Compares `python -c pass` (the interpreter floor), `python -c "import click"`,
`wsctl --help`, `wsctl exit-codes` and `wsctl certs --help`; prints the median wall time of
each and its ratio to the floor.  The import cost of `import wsctl.cli.main` is
printed from `python -X importtime` as a cross-check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

PY = sys.executable
CASES = {
    "python -c pass": [PY, "-c", "pass"],
    "python -c 'import click'": [PY, "-c", "import click"],
    "wsctl --help": [PY, "-m", "wsctl", "--help"],
    "wsctl exit-codes": [PY, "-m", "wsctl", "exit-codes"],
    "wsctl certs --help": [PY, "-m", "wsctl", "certs", "--help"],
}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved, so drift hits every case alike
        for name, cmd in CASES.items():
            samples[name].append(wall(cmd))
    floor = statistics.median(samples["python -c pass"])
    print(f"{'command':32} {'median ms':>10} {'x floor':>8}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:32} {med * 1000:10.1f} {med / floor:8.2f}")
    out = subprocess.run(
        [PY, "-X", "importtime", "-c", "import wsctl.cli.main"], capture_output=True, text=True, env={**os.environ}
    )
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith("wsctl.cli.main")]
    if last:
        cumulative_us = int(last[-1].split("|")[1])
        print(f"import wsctl.cli.main (cumulative, -X importtime): {cumulative_us / 1000:.1f} ms")
    heavy = subprocess.run(
        [
            PY,
            "-c",
            "import sys, wsctl.cli.main; print(sorted(m for m in ('trio','trio_websocket','cryptography','ssl') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"heavy modules imported by wsctl.cli.main: {heavy}")


if __name__ == "__main__":
    main()
