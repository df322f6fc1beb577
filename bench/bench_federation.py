"""Federation benchmark: hubs on a real mosquitto (mutual TLS, ACL).

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_federation.py \
        [--quick] [--latency-only] [--devices-per-hub N] [--seconds S] [--calls N] [--rounds R]
        [--cpu-per-call N] [--profile DIR]

1. Command latency through two hubs vs one, paired in one run: one simulated
   OCPP 1.6 charger (`wsctl serve --dial`, its own process) on hub-a; an
   operator (`wsctl.open_device`, this process) calls `get_configuration` on
   it through hub-a (one hub) and through hub-b (hub-b -> broker -> hub-a ->
   charger and back), hubs and broker in their own processes.  R rounds of
   calls in pairs, one through one hub and one through two, alternating which
   goes first (a drift of the machine's load falls on both alike); the ratio
   two/one of p50 and p99 per round gives the spread, the median of the
   per-pair ratios and the pooled p50/p99 the headline (goal: two hubs <= 1.5
   x one hub).  The load average
   is printed before and after.
   With ``--cpu-per-call N``, after the pairs: N calls through one hub only,
   then N through two only, and the CPU each process spent per call in each
   (/proc; the bench's own from os.times) -- where the second hub's extra
   time goes.  With ``--profile DIR`` too, hub-a and hub-b run under
   bench/gc_probe.py and are cProfiled (SIGUSR2, CPU time) during the two-hub-only
   calls; the top functions are printed, the pstats files stay in DIR.
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
import json
import os
import shutil
import signal
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

import broker_fixture  # noqa: E402
from broker_fixture import cpu_seconds  # noqa: E402

from wsctl.pki.store import Store  # noqa: E402

QUICK = "--quick" in sys.argv
SITE = "bench"
HUBS = ("hub-a", "hub-b", "hub-c")


def arg(name: str, default: int) -> int:
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


LATENCY_ONLY = "--latency-only" in sys.argv
DEVICES_PER_HUB = arg("--devices-per-hub", 50 if QUICK else 200)
SECONDS = arg("--seconds", 10 if QUICK else 30)
CALLS = arg("--calls", 100 if QUICK else 400)
ROUNDS = arg("--rounds", 8 if QUICK else 16)
CPU_CALLS = arg("--cpu-per-call", 0)
PROFILE_DIR = Path(sys.argv[sys.argv.index("--profile") + 1]) if "--profile" in sys.argv else None


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def devices() -> list[str]:
    if LATENCY_ONLY:
        return ["D-00000"]
    return [f"D-{n:05d}" for n in range(len(HUBS) * DEVICES_PER_HUB)]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
    return broker_fixture.start_broker(store, base, HUBS, site=SITE, settings="max_queued_messages 100000\n")


def start_hub(store: Store, base: Path, name: str, broker_port: int) -> tuple[subprocess.Popen, int]:
    from wsctl.registry import Registry

    registry = base / f"{name}.db"
    reg = Registry.open(registry)
    for device in devices():
        reg.add_device(device, profile="ocpp16")
    reg.close()
    out = base / f"{name}.out"
    if PROFILE_DIR is not None and name in ("hub-a", "hub-b"):
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        probe = str(Path(__file__).with_name("gc_probe.py"))
        runner = [sys.executable, probe, str(PROFILE_DIR / f"{name}.json"), "--cpu-clock", "--"]
    else:
        runner = [sys.executable, "-m", "wsctl"]
    proc = subprocess.Popen(
        [
            *runner,
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


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def cpu_per_call(paths: dict, procs: dict[str, subprocess.Popen]) -> None:
    """N calls through each path alone: CPU per call of every process on it."""
    for name in ("one hub", "two hubs"):
        profiled = [procs[h] for h in ("hub-a", "hub-b")] if PROFILE_DIR and name == "two hubs" else []
        for proc in profiled:
            proc.send_signal(signal.SIGUSR2)  # start cProfile
        before = {k: cpu_seconds(p.pid) for k, p in procs.items()}
        mine = own_cpu()
        start = time.perf_counter()
        for _ in range(CPU_CALLS):
            await paths[name].call("get_configuration")
        wall = time.perf_counter() - start
        used = {k: cpu_seconds(p.pid) - before[k] for k, p in procs.items()}
        used["operator (bench)"] = own_cpu() - mine
        for proc in profiled:
            proc.send_signal(signal.SIGUSR2)  # stop and write
        shown = ", ".join(f"{k} {v / CPU_CALLS * 1e6:.0f}" for k, v in used.items() if v > 0)
        print(
            f"  {name:9} alone: {wall / CPU_CALLS * 1000:.2f} ms per call; CPU per call, us: {shown}; "
            f"total {sum(used.values()) / CPU_CALLS * 1e6:.0f}"
        )


def print_profiles() -> None:
    import pstats

    time.sleep(2)  # the hubs write their profiles on the second SIGUSR2
    for hub in ("hub-a", "hub-b"):
        assert PROFILE_DIR is not None
        for path in sorted(PROFILE_DIR.glob(f"{hub}-*.pstats")):
            print(f"\n{hub}: cProfile of the two-hub calls ({path}), by own time:")
            pstats.Stats(str(path)).sort_stats("tottime").print_stats(25)


async def latency(
    store: Store, ports: dict[str, int], procs: dict[str, subprocess.Popen]
) -> list[dict[str, list[float]]]:
    """Per round, the call times through one hub and through two."""
    import wsctl

    op = store.leaf_paths("operator", "alice")
    tls = dict(ca=str(store.root_cert_path), cert=str(op.chain), key=str(op.key), profile="ocpp16")
    rounds: list[dict[str, list[float]]] = []
    async with contextlib.AsyncExitStack() as stack:
        paths = {}
        for name, hub in (("one hub", "hub-a"), ("two hubs", "hub-b")):
            paths[name] = await stack.enter_async_context(
                wsctl.open_device(f"wss://localhost:{ports[hub]}/devices/D-00000", **tls)
            )
            for _ in range(10):  # warm-up
                await paths[name].call("get_configuration")
        block = max(1, CALLS // ROUNDS)
        for n in range(ROUNDS):
            found: dict[str, list[float]] = {"one hub": [], "two hubs": []}
            for i in range(block):  # call by call, alternating which goes first
                order = ("one hub", "two hubs") if (n + i) % 2 == 0 else ("two hubs", "one hub")
                for name in order:
                    start = time.perf_counter()
                    await paths[name].call("get_configuration")
                    found[name].append(time.perf_counter() - start)
            rounds.append(found)
        if CPU_CALLS:
            print(f"\nCPU per call, {CPU_CALLS} calls through each path alone:")
            await cpu_per_call(paths, procs)
    return rounds


def report_latency(rounds: list[dict[str, list[float]]]) -> None:
    pooled = {name: [t for r in rounds for t in r[name]] for name in ("one hub", "two hubs")}
    print(
        f"\ncommand latency, {len(pooled['one hub'])} calls each (get_configuration), "
        f"{len(rounds)} rounds of {len(rounds[0]['one hub'])} pairs:"
    )
    p = {k: (percentile(v, 0.5) * 1000, percentile(v, 0.99) * 1000) for k, v in pooled.items()}
    for name, (p50, p99) in p.items():
        print(f"  {name:9} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  mean {statistics.mean(pooled[name]) * 1000:6.2f} ms")
    print(
        f"  ratio two/one (pooled): p50 {p['two hubs'][0] / p['one hub'][0]:.2f}  p99 {p['two hubs'][1] / p['one hub'][1]:.2f}"
    )
    pairs = sorted(two / one for r in rounds for one, two in zip(r["one hub"], r["two hubs"], strict=True))
    print(
        f"  ratio two/one per pair of calls: median {statistics.median(pairs):.2f}, "
        f"quartiles {percentile(pairs, 0.25):.2f}-{percentile(pairs, 0.75):.2f}"
    )
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ratios = sorted(percentile(r["two hubs"], q) / percentile(r["one hub"], q) for r in rounds)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(
            f"  ratio two/one per round, {label}: median {statistics.median(ratios):.2f}, "
            f"quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}"
        )


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
        print(f"load average before: {load_average()}", flush=True)
        report_latency(trio.run(latency, store, ports, procs | {"charger": sim}))
        if PROFILE_DIR is not None:
            print_profiles()
        print(f"load average after the latency part: {load_average()}", flush=True)
        if LATENCY_ONLY:
            return

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
        print(f"load average after: {load_average()}")
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
