"""Federation benchmark: hubs on a real mosquitto (mutual TLS, ACL).

    .venv/bin/python bench/bench_federation.py [--quick] [--devices-per-hub N] [--seconds S] [--calls N]

1. Command latency through two hubs vs one: one simulated OCPP 1.6 charger
   (`wsctl serve --dial`) on hub-a; an operator (`wsctl.open_device`) calls
   `get_configuration` on it through hub-a (one hub) and through hub-b (hub-b
   -> broker -> hub-a -> charger and back), in interleaved blocks.  p50/p99 of
   each and their ratio (goal: two hubs <= 1.5 x one hub).
2. Telemetry into the broker: 3 hubs x N devices, each sending one OCPP
   MeterValues per second (their timestamp carries the send time); a
   `mosquitto_sub` reader of `.../devices/+/events/MeterValues` measures the
   end-to-end latency (device -> hub -> broker -> reader).  CPU of each hub and
   of mosquitto over the window (/proc), and each hub's resident memory per
   device connection.

Everything on one machine: the devices run in this process (trio), the hubs
and the broker in their own.  The issue's 3 x 3,000 devices is scaled down to
what this 2-core shared machine can drive; the per-device figures are what
docs/scaling.md extrapolates from.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsctl.pki.store import Store  # noqa: E402

QUICK = "--quick" in sys.argv
SITE = "bench"
HUBS = ("hub-a", "hub-b", "hub-c")
TICKS = os.sysconf("SC_CLK_TCK")


def arg(name: str, default: int) -> int:
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


DEVICES_PER_HUB = arg("--devices-per-hub", 50 if QUICK else 200)
SECONDS = arg("--seconds", 10 if QUICK else 30)
CALLS = arg("--calls", 100 if QUICK else 400)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def devices() -> list[str]:
    return [f"D-{n:05d}" for n in range(len(HUBS) * DEVICES_PER_HUB)]


def make_pki(base: Path) -> Store:
    store = Store(base / "pki")
    store.init(name="Bench CA", key_type="p256", password=b"pw")
    for name in ("broker", *HUBS):
        store.issue_device(name, dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
    for name in devices():
        store.issue_device(name, dns=[f"{name.lower()}.bench"], ips=[], days=2, password=b"pw", key_password=None)
    store.issue_device("reader", dns=["reader.bench"], ips=[], days=2, password=b"pw", key_password=None)
    store.issue_operator("alice", role="engineer", days=2, password=b"pw", key_password=None)
    return store


def start_broker(store: Store, base: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    cafile = base / "plant-ca.pem"
    cafile.write_bytes(store.root_cert_path.read_bytes() + store.issuing_cert_path.read_bytes())
    acl = [f"user {h}\ntopic read wsctl/v1/{SITE}/#\ntopic write wsctl/v1/{SITE}/#\n" for h in HUBS]
    acl.append(f"user reader\ntopic read wsctl/v1/{SITE}/#\n")
    (base / "acl").write_text("\n".join(acl))
    leaf = store.leaf_paths("device", "broker")
    (base / "mosquitto.conf").write_text(
        f"user {getpass.getuser()}\nset_tcp_nodelay true\nper_listener_settings false\nallow_anonymous false\npersistence false\n"
        f"max_queued_messages 100000\nacl_file {base / 'acl'}\nlistener {port} 127.0.0.1\ncafile {cafile}\n"
        f"certfile {leaf.chain}\nkeyfile {leaf.key}\nrequire_certificate true\nuse_identity_as_username true\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(base / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, cafile
        time.sleep(0.05)
    raise SystemExit("mosquitto did not start")


def start_hub(store: Store, base: Path, name: str, broker_port: int) -> tuple[subprocess.Popen, int]:
    from wsctl.registry import Registry

    registry = base / f"{name}.db"
    reg = Registry.open(registry)
    for device in devices():
        reg.add_device(device, profile="ocpp16")
    reg.close()
    out = base / f"{name}.out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wsctl",
            "--json",
            "hub",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            str(store.path),
            "--device",
            name,
            "--registry",
            str(registry),
            "--broker",
            f"mqtts://localhost:{broker_port}",
            "--hub-id",
            name,
            "--site",
            SITE,
            "--idle-timeout",
            "0",
        ],
        stdout=out.open("w"),
        stderr=(base / f"{name}.err").open("w"),
    )
    for _ in range(400):
        for line in out.read_text().splitlines():
            if '"listening"' in line:
                return proc, int(json.loads(line)["url"].rsplit(":", 1)[1].split("/")[0])
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited: {(base / f'{name}.err').read_text()}")
        time.sleep(0.05)
    raise SystemExit(f"{name} did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(store: Store, ports: dict[str, int]) -> dict[str, list[float]]:
    import wsctl

    op = store.leaf_paths("operator", "alice")
    found: dict[str, list[float]] = {"one hub": [], "two hubs": []}
    tls = dict(ca=str(store.root_cert_path), cert=str(op.chain), key=str(op.key), profile="ocpp16")
    async with contextlib.AsyncExitStack() as stack:
        one = await stack.enter_async_context(
            wsctl.open_device(f"wss://localhost:{ports['hub-a']}/devices/D-00000", **tls)
        )
        two = await stack.enter_async_context(
            wsctl.open_device(f"wss://localhost:{ports['hub-b']}/devices/D-00000", **tls)
        )
        for device in (one, two):  # warm-up
            for _ in range(10):
                await device.call("get_configuration")
        block = 25
        for _ in range(max(1, CALLS // block)):
            for name, device in (("one hub", one), ("two hubs", two)):
                for _ in range(block):
                    start = time.perf_counter()
                    await device.call("get_configuration")
                    found[name].append(time.perf_counter() - start)
    return found


class Reader:
    """mosquitto_sub on every MeterValues: end-to-end latency per message."""

    def __init__(self, store: Store, port: int, cafile: Path) -> None:
        leaf = store.leaf_paths("device", "reader")
        binary = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
        self.proc = subprocess.Popen(
            [
                "stdbuf",
                "-oL",
                binary,
                "-h",
                "localhost",
                "-p",
                str(port),
                "--cafile",
                str(cafile),
                "--cert",
                str(leaf.chain),
                "--key",
                str(leaf.key),
                "-V",
                "mqttv5",
                "-t",
                f"wsctl/v1/{SITE}/devices/+/events/MeterValues",
                "-F",
                "%p",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.latencies: list[float] = []
        self.counting = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.counting:
                continue
            try:
                sent = json.loads(line)["payload"]["meterValue"][0]["timestamp"]
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            self.latencies.append(time.time() - datetime.fromisoformat(sent).timestamp())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


async def one_device(store: Store, name: str, port: int, ready: trio.Semaphore, connected: list, stop: trio.Event):
    from wsctl.net.api import open_device

    leaf = store.leaf_paths("device", name)
    async with contextlib.AsyncExitStack() as stack:
        async with ready:  # a few handshakes at once
            device = await stack.enter_async_context(
                open_device(
                    f"wss://localhost:{port}/ocpp/{name}",
                    ca=str(store.root_cert_path),
                    cert=str(leaf.chain),
                    key=str(leaf.key),
                    subprotocols=["ocpp1.6"],
                )
            )
        boot = {"chargePointVendor": "Bench", "chargePointModel": "B-1"}
        await device.send(json.dumps([2, "boot", "BootNotification", boot]))
        await device.receive()
        connected.append(name)
        n = 0
        async with trio.open_nursery() as nursery:

            async def drain() -> None:
                while True:
                    await device.receive()

            nursery.start_soon(drain)
            while not stop.is_set():
                now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                meter = {"connectorId": 1, "meterValue": [{"timestamp": now, "sampledValue": [{"value": str(n)}]}]}
                await device.send(json.dumps([2, f"m{n}", "MeterValues", meter]))
                n += 1
                with trio.move_on_after(1.0):
                    await stop.wait()
            nursery.cancel_scope.cancel()


async def telemetry(store: Store, ports: dict[str, int], procs: dict[str, subprocess.Popen], reader: Reader) -> dict:
    before_rss = {h: rss_kib(procs[h].pid) for h in HUBS}
    stop = trio.Event()
    connected: list[str] = []
    ready = trio.Semaphore(16)  # handshakes at once
    async with trio.open_nursery() as nursery:
        for i, name in enumerate(devices()):
            if name == "D-00000":
                continue  # the simulated charger of the latency part
            nursery.start_soon(one_device, store, name, ports[HUBS[i % len(HUBS)]], ready, connected, stop)
        with trio.move_on_after(300):
            while len(connected) < len(devices()) - 1:
                await trio.sleep(0.2)
        await trio.sleep(3)  # every device past its first reading
        after_rss = {h: rss_kib(procs[h].pid) for h in HUBS}
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        reader.counting = True
        start = time.monotonic()
        await trio.sleep(SECONDS)
        reader.counting = False
        wall = time.monotonic() - start
        cpu1 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        stop.set()
    return {
        "connected": len(connected),
        "rss_per_device_kib": {h: (after_rss[h] - before_rss[h]) / (len(connected) / len(HUBS)) for h in HUBS},
        "cpu": {name: (cpu1[name] - cpu0[name]) / wall for name in procs},
        "received": len(reader.latencies),
        "wall": wall,
    }


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-fed-"))
    print(f"PKI for {len(devices())} devices ...", flush=True)
    store = make_pki(base)
    broker, broker_port, cafile = start_broker(store, base)
    procs: dict[str, subprocess.Popen] = {"mosquitto": broker}
    sim = None
    try:
        ports = {}
        for hub in HUBS:
            procs[hub], ports[hub] = start_hub(store, base, hub, broker_port)
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wsctl",
                "serve",
                "--profile",
                "ocpp16-charger",
                "--dial",
                f"wss://localhost:{ports['hub-a']}/ocpp/D-00000",
                "--certs",
                str(store.path),
                "--device",
                "D-00000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(3)
        found = trio.run(latency, store, ports)
        print(f"\ncommand latency, {len(found['one hub'])} calls each (get_configuration, interleaved blocks of 25):")
        p = {k: (percentile(v, 0.5) * 1000, percentile(v, 0.99) * 1000) for k, v in found.items()}
        for name, (p50, p99) in p.items():
            print(
                f"  {name:9} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  mean {statistics.mean(found[name]) * 1000:6.2f} ms"
            )
        print(
            f"  ratio two/one: p50 {p['two hubs'][0] / p['one hub'][0]:.2f}  p99 {p['two hubs'][1] / p['one hub'][1]:.2f}"
        )

        reader = Reader(store, broker_port, cafile)
        print(
            f"\ntelemetry: {len(HUBS)} hubs x {DEVICES_PER_HUB} devices x 1 MeterValues/s for {SECONDS} s ...",
            flush=True,
        )
        result = trio.run(telemetry, store, ports, procs, reader)
        reader.stop()
        lat = reader.latencies
        print(
            f"  devices connected {result['connected']}; readings at the reader {result['received']} "
            f"({result['received'] / result['wall']:.0f}/s)"
        )
        if lat:
            print(
                f"  end-to-end latency device -> hub -> broker -> reader: p50 {percentile(lat, 0.5) * 1000:.1f} ms, "
                f"p99 {percentile(lat, 0.99) * 1000:.1f} ms"
            )
        for name, share in result["cpu"].items():
            print(f"  CPU {name:9} {share * 100:5.1f} % of a core")
        for hub, kib in result["rss_per_device_kib"].items():
            print(f"  RSS {hub}: {kib:.0f} KiB per device connection")
    finally:
        if sim is not None:
            sim.terminate()
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
