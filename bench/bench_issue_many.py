"""Issuing many device certificates: one by one (each rewrites the whole index) vs one batch.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_issue_many.py [--count 1000] [--no-batch]

One by one: `Store.issue_device` COUNT times into a store that grows; prints the
median time of the first and the last 20 (the growth is the per-certificate
cost of the index) and the total.  Batch: `Store.issue_devices` of COUNT specs
into a fresh store (skipped with --no-batch, e.g. to time an older checkout
that has no batch API: PYTHONPATH=OLD_TREE python bench/bench_issue_many.py --no-batch).
The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from wsctl.pki.store import Store

PASSWORD = b"pw"


def fresh(base: Path, name: str) -> Store:
    store = Store(base / name)
    store.init(name="Bench CA", password=PASSWORD)
    return store


def one_by_one(store: Store, count: int) -> list[float]:
    times = []
    for i in range(count):
        start = time.perf_counter()
        store.issue_device(f"plc-{i}", dns=[f"plc-{i}.plant.local"], password=PASSWORD, key_password=None)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--no-batch", action="store_true")
    args = parser.parse_args()
    print(f"load average before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        times = one_by_one(fresh(base, "single"), args.count)
        head, tail = statistics.median(times[:20]) * 1000, statistics.median(times[-20:]) * 1000
        print(
            f"one by one, {args.count}: first 20 median {head:.1f} ms, last 20 median {tail:.1f} ms, "
            f"total {sum(times):.1f} s"
        )
        if not args.no_batch:
            store = fresh(base, "batch")
            specs = [store.device_spec(f"plc-{i}", [f"plc-{i}.plant.local"], [], 365) for i in range(args.count)]
            start = time.perf_counter()
            store.issue_devices(specs, password=PASSWORD, key_password=None)
            total = time.perf_counter() - start
            print(f"one batch of {args.count}: total {total:.1f} s, {total / args.count * 1000:.1f} ms per certificate")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
