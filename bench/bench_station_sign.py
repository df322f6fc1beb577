"""What signing station CSRs costs as the store grows (issue 12): one `sign` at a time vs one batch.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_station_sign.py [--sizes 0,300,1000] [--batch 100]
        [--profile]      # cProfile of one single sign at the largest size: the top 12 by cumulative time

For each size N: a fresh plant CA with N chargers (issued in one batch), then
the median of 5 single `sign_station_csr` renewals, and one `sign_station_csrs`
batch of --batch renewals (skipped when the checkout has no batch API, to time
an older one: PYTHONPATH=OLD_TREE).  The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from wsctl.pki import station
from wsctl.pki.station_side import new_key_and_csr
from wsctl.pki.store import Store

PASSWORD = b"pw"


def plant(base: Path, size: int) -> Store:
    store = Store(base / f"plant-{size}")
    store.init(name="Bench CA", key_type="p256", password=PASSWORD)
    if size:
        specs = [store.device_spec(f"CP-{i:04d}", [f"cp-{i}.bench"], [], 30) for i in range(size)]
        store.issue_devices(specs, password=PASSWORD, key_password=None)
    return store


def single(store: Store, names: list[str]) -> list[float]:
    times = []
    for name in names:
        csr = new_key_and_csr(name)[1]
        start = time.perf_counter()
        station.sign_station_csr(Store(store.path), csr, station_id=name, password=PASSWORD)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,300,1000")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    batch_api = getattr(station, "sign_station_csrs", None)
    print(f"load average before {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            store = plant(Path(tmp), size)
            # renewals of chargers the store holds (a new station at size 0)
            names = [f"CP-{i:04d}" for i in range(5)] if size >= 5 else [f"NEW-{i}" for i in range(5)]
            one = statistics.median(single(store, names)) * 1000
            line = f"store of {size}: one sign {one:.1f} ms"
            if batch_api is not None:
                count = min(args.batch, size) if size else args.batch
                wanted = [f"CP-{i:04d}" for i in range(5, 5 + count)] if size else [f"NEWB-{i}" for i in range(count)]
                requests = [(name, new_key_and_csr(name)[1]) for name in wanted]
                start = time.perf_counter()
                results = batch_api(Store(store.path), requests, password=PASSWORD)
                took = time.perf_counter() - start
                bad = [r for r in results if isinstance(r, Exception)]
                line += f"; one batch of {count}: {took * 1000:.0f} ms, {took / count * 1000:.1f} ms each"
                line += f" ({len(bad)} refused)" if bad else ""
            print(line, flush=True)
            if args.profile and size == max(sizes):
                name = names[0]
                csr = new_key_and_csr(name)[1]
                profile = cProfile.Profile()
                profile.runcall(station.sign_station_csr, Store(store.path), csr, station_id=name, password=PASSWORD)
                pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(14)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
