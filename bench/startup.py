"""Start-up cost of the CLI, side by side in one run (ratios, not absolute times).

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/startup.py [--runs 20] [--editable]

Compares `python -c pass` (the interpreter floor), `python -c "import click"`,
`wsctl --help`, `wsctl exit-codes`, `wsctl certs --help`, `wsctl certs list`
(a store of 2 certificates) and `wsctl profile list`; prints the median wall
time of each and its ratio to the floor.  wsctl runs from a wheel install with
compiled bytecode (bench/oneshot_install.py) unless --editable.  The import cost
of `import wsctl.cli.main` is printed from `python -X importtime` as a cross-check.
The one-shot `send` is bench/bench_oneshot.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oneshot_install import child_env, imported_from, non_editable_python  # noqa: E402


def cases(py: str, store: str) -> dict[str, list[str]]:
    return {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import click'": [py, "-c", "import click"],
        "wsctl --help": [py, "-m", "wsctl", "--help"],
        "wsctl exit-codes": [py, "-m", "wsctl", "exit-codes"],
        "wsctl certs --help": [py, "-m", "wsctl", "certs", "--help"],
        "wsctl certs list": [py, "-m", "wsctl", "certs", "--dir", store, "list"],
        "wsctl profile list": [py, "-m", "wsctl", "profile", "list"],
    }


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, timeout=60)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--editable", action="store_true", help="time this venv's editable install instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        py = sys.executable if args.editable else str(non_editable_python(Path(tmp)))
        # `python -m wsctl` puts the working directory first on sys.path: not the source tree
        os.chdir(tmp)
        print(f"wsctl imported from {imported_from(Path(py))}")
        env = child_env(WSCTL_PASSWORD="pw")
        store = str(Path(tmp) / "certs")
        for step in (["init", "--name", "Bench CA"], ["issue", "device", "plc-1", "--ip", "10.0.0.1"]):
            subprocess.run(
                [py, "-m", "wsctl", "certs", "--dir", store, *step], check=True, env=env, capture_output=True
            )
        todo = cases(py, store)
        load = os.getloadavg()
        samples: dict[str, list[float]] = {name: [] for name in todo}
        for _ in range(args.runs):  # interleaved, so drift hits every case alike
            for name, cmd in todo.items():
                samples[name].append(wall(cmd, env))
        report(samples, args.editable, load)
        importtime(py, env)


def report(samples: dict[str, list[float]], editable: bool, load: tuple[float, float, float]) -> None:
    install = "editable install (this venv)" if editable else "wheel install, bytecode compiled"
    print(f"{install}; load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    floor = statistics.median(samples["python -c pass"])
    print(f"{'command':32} {'median ms':>10} {'p10-p90 ms':>14} {'x floor':>8}")
    for name, values in samples.items():
        med, ordered = statistics.median(values), sorted(values)
        lo, hi = ordered[len(values) // 10], ordered[-1 - len(values) // 10]
        print(f"{name:32} {med * 1000:10.1f} {lo * 1000:6.1f}-{hi * 1000:<7.1f} {med / floor:8.2f}")


def importtime(py: str, env: dict[str, str]) -> None:
    out = subprocess.run(
        [py, "-X", "importtime", "-c", "import wsctl.cli.main"], capture_output=True, text=True, env=env
    )
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith("wsctl.cli.main")]
    if last:
        cumulative_us = int(last[-1].split("|")[1])
        print(f"import wsctl.cli.main (cumulative, -X importtime): {cumulative_us / 1000:.1f} ms")
    heavy = subprocess.run(
        [
            py,
            "-c",
            "import sys, wsctl.cli.main; print(sorted(m for m in ('trio','trio_websocket','cryptography','ssl') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"heavy modules imported by wsctl.cli.main: {heavy}")


if __name__ == "__main__":
    main()
