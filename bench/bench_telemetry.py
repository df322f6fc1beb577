"""Telemetry into the broker at scale: H hubs x N devices, each device an OCPP
1.6 charger sending one MeterValues every INTERVAL seconds, published by its
hub to a real mosquitto (mutual TLS, ACL) and read there by `mosquitto_sub`.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_telemetry.py \
        [--quick] [--hubs 3] [--devices-per-hub N] [--interval S] [--seconds S] [--workdir DIR]

The devices are bench/hub_devices.py processes (python-websockets, the
lightest client at hand), one per hub, each device with its own certificate
(made once under --workdir by bench/hub_fixture.py).  After every device has
booted and a warm-up, a window of --seconds: readings per second sent and
read, end-to-end latency (the reading's timestamp is its send time;
mosquitto_sub stamps its arrival, %U), the CPU of every process (/proc) and each hub's
CPU per message it published (its `wsctl_hub_broker_messages_total`, --metrics).
Then the devices stop their readings (SIGUSR1) and, once the broker had time
to deliver, every reading sent is accounted for: read by mosquitto_sub,
dropped by a hub (its metric), or lost between (sent - read - dropped).  None
may go missing silently.

Everything shares this 2-core machine: what it bears is less than the issue's
3 x 3,000 x 1/s (see docs/performance.md, "Telemetry at scale"); the
per-message and per-connection figures are what docs/scaling.md extrapolates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # hub_fixture

import broker_fixture  # noqa: E402
from broker_fixture import cpu_seconds, free_port  # noqa: E402
from device_load import DeviceLoad  # noqa: E402
from hub_fixture import CA_PASSWORD, prepare  # noqa: E402

SITE = "bench"
HERE = Path(__file__).resolve().parent
TOPIC = f"wsctl/v1/{SITE}/devices/+/events/MeterValues"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def hub_names(n: int) -> list[str]:
    return [f"hub-{chr(ord('a') + k)}" for k in range(n)]


def certificates(certs: Path, hubs: list[str]) -> None:
    from wsctl.pki.store import Store

    store = Store(certs)
    have = {e.name for e in store.entries() if e.status == "valid"}
    for name in [*hubs, "broker", "reader"]:
        if name not in have:
            store.issue_device(
                name, dns=["localhost"], ips=["127.0.0.1"], days=30, password=CA_PASSWORD, key_password=None
            )


def start_broker(certs: Path, run: Path, hubs: list[str]) -> tuple[subprocess.Popen, int]:
    from wsctl.pki.store import Store

    proc, port, _ = broker_fixture.start_broker(Store(certs), run, hubs, site=SITE, settings="max_connections -1\n")
    return proc, port


class Hub:
    def __init__(
        self,
        name: str,
        certs: Path,
        registry: Path,
        run: Path,
        broker_port: int,
        probe: list[str] | None = None,
        listen: int = 0,
    ) -> None:
        """``probe``: bench/gc_probe.py's options (the hub runs under it), or None;
        ``listen``: its port (0: any)."""
        self.name = name
        db = run / f"{name}.db"
        shutil.copy(registry, db)
        self.metrics_port = free_port()
        out = run / f"{name}.out"
        self.err = run / f"{name}.err"
        runner = ["-m", "wsctl"] if probe is None else [str(HERE / "gc_probe.py"), *probe, "--"]
        cmd = [sys.executable, *runner, "--json", "hub", "--listen", f"127.0.0.1:{listen}", "--certs", str(certs),
               "--device", name, "--registry", str(db), "--broker", f"mqtts://localhost:{broker_port}",
               "--hub-id", name, "--site", SITE, "--idle-timeout", "0",
               "--metrics", f"127.0.0.1:{self.metrics_port}"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=out.open("w"), stderr=self.err.open("w"))
        for _ in range(600):
            for line in out.read_text().splitlines():
                if '"listening"' in line:
                    self.port = int(json.loads(line)["url"].rsplit(":", 1)[1].split("/")[0])
                    return
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited: {self.err.read_text()[-2000:]}")
            time.sleep(0.05)
        raise SystemExit(f"{name} did not start")

    def metric(self, pattern: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        return sum(float(m.group(1)) for m in re.finditer(pattern + r" (\S+)", text))

    def broker_messages(self, outcome: str) -> float:
        return self.metric(r'wsctl_hub_broker_messages_total\{kind="events",outcome="' + outcome + r'"\}')


def Devices(urls: list[str], certs: Path, source: str, first: int, count: int, interval: float) -> DeviceLoad:  # noqa: N802
    """The devices of one source address, each sending a MeterValues every ``interval`` s (0: none)."""
    return DeviceLoad(urls, certs, source, first, count, ["--meter", str(interval), "--heartbeat", "1e9"])


class Reader:
    """mosquitto_sub on every MeterValues; counts them and their latency."""

    def __init__(self, certs: Path, run: Path, port: int) -> None:
        self.proc = broker_fixture.mosquitto_sub(certs, run, port, [TOPIC], "%U %p")
        self.count = 0
        #: device -> mosquitto_sub (its own arrival stamp, %U), and mosquitto_sub -> this process (the pipe)
        self.latencies: list[float] = []
        self.pipe: list[float] = []
        self.counting = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.count += 1
            if self.counting:
                now = time.time()
                stamp, _, payload = line.partition(" ")
                try:
                    sent = json.loads(payload)["payload"]["meterValue"][0]["timestamp"]
                    arrived = float(stamp)
                except (ValueError, KeyError, IndexError, TypeError):
                    continue
                self.latencies.append(arrived - datetime.fromisoformat(sent).timestamp())
                self.pipe.append(now - arrived)


def wait_for(what: str, done, timeout: float) -> float:
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"no {what} within {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - start


def window(hubs: list[Hub], procs: dict[str, subprocess.Popen], devices: list[Devices], reader: Reader, seconds: int):
    cpu0 = {k: cpu_seconds(p.pid) for k, p in procs.items()}
    pub0 = {h.name: h.broker_messages("published") for h in hubs}
    sent0, read0 = sum(d.status["sent"] for d in devices), reader.count
    reader.counting = True
    start = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - start
    reader.counting = False
    cpu = {k: (cpu_seconds(p.pid) - cpu0[k]) / wall for k, p in procs.items()}
    published = {h.name: (h.broker_messages("published") - pub0[h.name]) / wall for h in hubs}
    sent = (sum(d.status["sent"] for d in devices) - sent0) / wall
    return cpu, published, sent, (reader.count - read0) / wall


def account(hubs: list[Hub], devices: list[Devices], reader: Reader, booted: int) -> dict[str, float]:
    """Stop the readings, let the broker deliver, and account for every one."""
    for d in devices:
        d.proc.send_signal(signal.SIGUSR1)
    last = -1
    while last != sum(d.status["sent"] for d in devices):  # until no device sends any more
        last = sum(d.status["sent"] for d in devices)
        time.sleep(1.0)
    sent = sum(d.status["sent"] for d in devices)
    # a saturated machine holds readings for seconds (in the hubs' sockets, the
    # broker): wait until all are read or dropped, or nothing moved for 5 s
    seen, still = -1.0, 0
    for _ in range(180):
        dropped = sum(h.broker_messages("dropped") for h in hubs)
        now = reader.count + dropped
        if now >= sent or still >= 5:
            break
        still = still + 1 if now == seen else 0
        seen = now
        time.sleep(1.0)
    dropped = sum(h.broker_messages("dropped") for h in hubs)
    # the hubs' events are the readings plus one BootNotification per connection
    published = sum(h.broker_messages("published") for h in hubs) - booted
    return {"sent": sent, "hubs published": published, "hubs dropped": dropped, "read": reader.count,
            "missing": sent - reader.count - dropped}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--hubs", type=int, default=3)
    p.add_argument("--devices-per-hub", type=int)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between a device's readings")
    p.add_argument("--seconds", type=int)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/wsctl-bench-fed"))
    p.add_argument("--profile", action="store_true", help="hub-a under gc_probe.py: a cProfile of the window")
    a = p.parse_args()
    per_hub = a.devices_per_hub or (100 if a.quick else 1000)
    seconds = a.seconds or (10 if a.quick else 30)
    names = hub_names(a.hubs)
    print(f"{a.hubs} hubs x {per_hub} devices, a MeterValues every {a.interval:g} s each; PKI ...", flush=True)
    certs, registry = prepare(a.workdir, a.hubs * per_hub)
    certificates(certs, names)
    run = a.workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    broker, port = start_broker(certs, run, names)
    procs: dict[str, subprocess.Popen] = {"mosquitto": broker}
    devices: list[Devices] = []
    reader = None
    try:
        # on CPU time: a wall-clock profile charges a send that wakes another process with that process's work
        probe = [str(run / "hub-a-probe.json"), "--cpu-clock"] if a.profile else None
        hubs = [Hub(name, certs, registry, run, port, probe if name == "hub-a" else None) for name in names]
        procs.update({h.name: h.proc for h in hubs})
        reader = Reader(certs, run, port)
        procs["mosquitto_sub"] = reader.proc
        rss0 = {h.name: rss_kib(h.proc.pid) for h in hubs}
        print(f"load average before: {load_average()}", flush=True)
        for k, hub in enumerate(hubs):
            url = f"wss://localhost:{hub.port}/ocpp/{{id}}"
            devices.append(Devices([url], certs, f"127.0.0.{2 + k}", k * per_hub, per_hub, a.interval))
        for k, d in enumerate(devices):
            procs[f"devices {k}"] = d.proc
        total = a.hubs * per_hub
        took = wait_for(f"{total} devices booted", lambda: sum(d.status["booted"] for d in devices) >= total, 900)
        print(f"{total} devices connected and booted in {took:.0f} s", flush=True)
        time.sleep(max(3.0, 2 * a.interval))  # every device past its first reading
        rss = {h.name: (rss_kib(h.proc.pid) - rss0[h.name]) / per_hub for h in hubs}
        if a.profile:
            hubs[0].proc.send_signal(signal.SIGUSR1)  # the collector's counts before the window
            time.sleep(3)
            hubs[0].proc.send_signal(signal.SIGUSR2)  # cProfile on (the thread's CPU time)
        cpu, published, sent, read = window(hubs, procs, devices, reader, seconds)
        if a.profile:
            hubs[0].proc.send_signal(signal.SIGUSR1)  # the collector's report
            hubs[0].proc.send_signal(signal.SIGUSR2)  # cProfile off, written
            print(f"hub-a's profile and collector report: {run}/hub-a-probe*.pstats, {run}/hub-a-probe.json")
        lat = reader.latencies
        print(f"\nwindow of {seconds} s: readings sent {sent:.0f}/s, read by mosquitto_sub {read:.0f}/s")
        if lat:
            print(f"  end-to-end latency device -> hub -> broker -> reader: p50 {percentile(lat, 0.5) * 1000:.1f} ms, "
                  f"p99 {percentile(lat, 0.99) * 1000:.1f} ms, max {max(lat) * 1000:.0f} ms")  # fmt: skip
            pipe = reader.pipe
            print(f"  (then mosquitto_sub's pipe to this process: p50 {percentile(pipe, 0.5) * 1000:.1f} ms, "
                  f"p99 {percentile(pipe, 0.99) * 1000:.1f} ms: not in the figure above)")  # fmt: skip
        for name, share in cpu.items():
            print(f"  CPU {name:13} {share * 100:5.1f} % of a core")
        for h in hubs:
            rate = published[h.name]
            per = cpu[h.name] / rate * 1e6 if rate else float("nan")
            print(f"  {h.name}: {rate:.0f} published/s, {per:.0f} us CPU per message, {rss[h.name]:.0f} KiB per device")
        print(f"  all processes: {sum(cpu.values()) * 100:.0f} % of a core (the machine has 2)")
        counted = account(hubs, devices, reader, total)
        print("accounting after the readings stopped: " + ", ".join(f"{k} {v:.0f}" for k, v in counted.items()))
        print(f"load average after: {load_average()}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in procs.values():
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
