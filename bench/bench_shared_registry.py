"""The shared registry (docs/federation.md, "The shared registry"): what a
record costs a hub, and how long a hub takes to join a site.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_shared_registry.py [--devices N] [--quick]

1. In one process, no I/O but SQLite: per record, checking one from the broker
   (`parse_record`), taking a new one, taking one already known (a restarted
   hub), and reading one to publish (`shared`), in batches of 500 per
   transaction as the hub does.
2. Through a real mosquitto (mutual TLS, ACL): hub-a starts with N devices in
   its registry and publishes them; then hub-b starts with an empty registry
   and takes them.  Timed until hub-b's registry holds all N, beside the
   anchor: `mosquitto_sub` reading the same N retained records (the broker's
   own delivery, no wsctl), started at the same moment as hub-b; the ratio is
   hub-b's time over the anchor's.  CPU of hub-b and of mosquitto over the
   join (/proc).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import broker_fixture  # noqa: E402
from broker_fixture import cpu_seconds  # noqa: E402

from wsctl.core.hub import topics  # noqa: E402
from wsctl.registry import Registry  # noqa: E402
from wsctl.registry.shared import SharedRecord, parse_record  # noqa: E402

SITE = "plant-1"
HUBS = ("hub-a", "hub-b")
BATCH = 500


def arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def per_record(n: int) -> None:
    now = time.time()
    docs = [
        topics.encode(
            SharedRecord(
                f"CP-{i}", now, "hub-b", profile="ocpp16", security_profile=3, status="approved", groups=("depot-a",)
            ).as_doc()
        )
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp, Registry.open(Path(tmp) / "hub.db") as reg:
        t0 = time.perf_counter()
        records = [parse_record(topics.decode(doc), f"CP-{i}", now=now) for i, doc in enumerate(docs)]
        t1 = time.perf_counter()
        for k in range(0, n, BATCH):
            reg.take_shared(records[k : k + BATCH], "hub-a")
        t2 = time.perf_counter()
        for k in range(0, n, BATCH):
            reg.take_shared(records[k : k + BATCH], "hub-a")
        t3 = time.perf_counter()
        for i in range(n):
            reg.shared("device", f"CP-{i}", "hub-a")
        t4 = time.perf_counter()
    per = lambda seconds: seconds / n * 1e6  # noqa: E731
    print(f"per record, {n} records, us: check {per(t1 - t0):.1f}, take new {per(t2 - t1):.1f}, ", end="")
    print(f"take known {per(t3 - t2):.1f}, read to publish {per(t4 - t3):.1f}; {sum(map(len, docs)) / n:.0f} B each")


def registry_count(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM devices").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def start_hub(store, base: Path, name: str, port: int) -> subprocess.Popen:
    out = base / f"{name}.out"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "wsctl", "--json", "hub", "--listen", "127.0.0.1:0", "--certs", str(store.path),
            "--device", name, "--registry", str(base / f"{name}.db"), "--broker", f"mqtts://localhost:{port}",
            "--hub-id", name, "--site", SITE,
        ],
        stdout=out.open("w"),
        stderr=(base / f"{name}.err").open("w"),
        env={**os.environ, "WSCTL_PASSWORD": "pw"},
    )  # fmt: skip
    for _ in range(600):
        if '"listening"' in out.read_text():
            return proc
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited: {(base / f'{name}.err').read_text()[-2000:]}")
        time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def join(n: int) -> None:
    from wsctl.pki.store import Store

    base = Path(tempfile.mkdtemp(prefix="wsctl-shared-"))
    store = Store(base / "pki")
    store.init(name="Bench CA", key_type="p256", password=b"pw")
    for name in ("broker", *HUBS):
        store.issue_device(name, dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
    store.issue_device("reader", dns=["reader.bench"], ips=[], days=2, password=b"pw", key_password=None)
    with Registry.open(base / "hub-a.db") as reg:
        for i in range(n):
            reg.add_device(f"CP-{i}", profile="ocpp16", groups=["depot-a"])
    # as docs/federation.md: mosquitto's default queue (1,000) drops a joining hub's retained flood
    broker, port, cafile = broker_fixture.start_broker(
        store, base, HUBS, site=SITE, settings="max_queued_messages 100000\n"
    )
    procs = [broker]
    try:
        procs.append(start_hub(store, base, "hub-a", port))
        topic = f"wsctl/v1/{SITE}/registry/devices/+"
        leaf = store.leaf_paths("device", "reader")
        while True:  # hub-a has published them all: the broker holds N retained records
            probe = subprocess.run(
                ["mosquitto_sub", "-h", "localhost", "-p", str(port), "--cafile", str(cafile), "--cert", str(leaf.chain),
                 "--key", str(leaf.key), "-V", "mqttv5", "-t", topic, "--retained-only", "-W", "2"],
                capture_output=True, text=True,
            )  # fmt: skip
            if probe.stdout.count("\n") >= n:
                break
            time.sleep(0.5)
        cpu_broker = cpu_seconds(broker.pid)
        start = time.monotonic()
        reader = subprocess.Popen(
            ["mosquitto_sub", "-h", "localhost", "-p", str(port), "--cafile", str(cafile), "--cert", str(leaf.chain),
             "--key", str(leaf.key), "-V", "mqttv5", "-t", topic, "--retained-only", "-C", str(n)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        hub_b = start_hub(store, base, "hub-b", port)
        procs.append(hub_b)
        reader.wait(timeout=600)
        anchor = time.monotonic() - start
        while registry_count(base / "hub-b.db") < n:
            time.sleep(0.05)
        took = time.monotonic() - start
        hub_cpu, broker_cpu = cpu_seconds(hub_b.pid), cpu_seconds(broker.pid) - cpu_broker
        print(
            f"join, {n} devices: hub-b has them all in {took:.2f} s; mosquitto_sub read them in {anchor:.2f} s "
            f"(ratio {took / anchor:.1f}); hub-b CPU {hub_cpu:.2f} s (start-up included, "
            f"{hub_cpu / n * 1e6:.0f} us a device), mosquitto {broker_cpu:.2f} s for both readers"
        )
        print(json.dumps({"devices": n, "hub_seconds": round(took, 3), "anchor_seconds": round(anchor, 3)}))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)


def main() -> None:
    quick = "--quick" in sys.argv
    n = arg("--devices", 500 if quick else 10_000)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    per_record(min(n, 20_000))
    join(n)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
