"""kill -9 of a hub with N devices on it: how long until the broker says the
hub is offline (its Last Will) and until every device is online on the other
hub (their retained presence), and what the takeover costs the hub and the
broker.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_failover.py [--quick] [--devices N] [--workdir DIR]

Two hubs on a real mosquitto (mutual TLS, ACL; bench_telemetry.py's set-up),
N OCPP 1.6 chargers (bench/hub_devices.py, python-websockets, 500 per source
address) that know both hubs' URLs and dial them in order: all start on hub-a
(hub-b starts once they are there).  A `mosquitto_sub`
reader of ``hubs/hub-a/state`` and ``devices/+/state`` stamps every presence
message on arrival (%U); hub-a is killed (SIGKILL) and the times are counted
from the kill.  CPU of hub-b and mosquitto over the takeover (/proc).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import broker_fixture
from bench_telemetry import SITE, Devices, Hub, certificates, cpu_seconds, free_port, load_average, start_broker
from hub_fixture import prepare

#: devices per source address (one hub_devices.py process each)
PER_SOURCE = 500


class Presence:
    """mosquitto_sub on the hubs' and devices' states: the arrival of each."""

    def __init__(self, certs: Path, run: Path, port: int) -> None:
        topics = [f"wsctl/v1/{SITE}/hubs/hub-a/state", f"wsctl/v1/{SITE}/devices/+/state"]
        self.proc = broker_fixture.mosquitto_sub(certs, run, port, topics, "%U %t %p")
        #: device -> (hub it is online on, or None, arrival time); hub-a's offline time
        self.devices: dict[str, tuple[str | None, float]] = {}
        self.hub_a_offline: float | None = None
        #: arrival time of every device's first "online on hub-b" after the kill
        self.moved: dict[str, float] = {}
        self.killed: float | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            stamp, topic, payload = line.rstrip("\n").split(" ", 2)
            try:
                doc = json.loads(payload)
            except ValueError:
                continue  # a cleared retained message
            at = float(stamp)
            if topic.endswith("/hubs/hub-a/state"):
                if not doc.get("online") and self.killed is not None:
                    self.hub_a_offline = at
                continue
            device = topic.split("/")[-2]
            hub = doc.get("hub") if doc.get("online") else None
            self.devices[device] = (hub, at)
            if hub == "hub-b" and self.killed is not None:
                self.moved.setdefault(device, at)

    def online_on(self, hub: str) -> int:
        return sum(1 for h, _ in self.devices.values() if h == hub)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--devices", type=int)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/wsctl-bench-fed"))
    a = p.parse_args()
    n = a.devices or (100 if a.quick else 1000)
    names = ["hub-a", "hub-b"]
    certs, registry = prepare(a.workdir, n)
    certificates(certs, names)
    run = a.workdir / "failover"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    broker, port = start_broker(certs, run, names)
    procs: list[subprocess.Popen] = [broker]
    try:
        # hub-b starts once every device is on hub-a: until then its URL refuses, and a
        # device that hub-a could not take yet comes back to hub-a, not to hub-b
        hubs = {"hub-a": Hub("hub-a", certs, registry, run, port)}
        procs.append(hubs["hub-a"].proc)
        presence = Presence(certs, run, port)
        procs.append(presence.proc)
        b_port = free_port()
        urls = [f"wss://localhost:{hubs['hub-a'].port}/ocpp/{{id}}", f"wss://localhost:{b_port}/ocpp/{{id}}"]
        # devices of a plant come from many addresses: PER_SOURCE each, as a hub meets them
        devices = [
            Devices(urls, certs, f"127.0.0.{2 + k}", first, min(PER_SOURCE, n - first), 0)
            for k, first in enumerate(range(0, n, PER_SOURCE))
        ]
        procs += [d.proc for d in devices]
        print(f"load average before: {load_average()}", flush=True)
        start = time.monotonic()
        while presence.online_on("hub-a") < n:
            if time.monotonic() - start > 600:
                raise SystemExit(f"only {presence.online_on('hub-a')} of {n} devices online on hub-a")
            time.sleep(0.5)
        print(f"{n} devices online on hub-a after {time.monotonic() - start:.0f} s", flush=True)
        hubs["hub-b"] = Hub("hub-b", certs, registry, run, port, listen=b_port)
        procs.append(hubs["hub-b"].proc)
        time.sleep(3)
        cpu0 = {k: cpu_seconds(pr.pid) for k, pr in (("hub-b", hubs["hub-b"].proc), ("mosquitto", broker))}
        presence.killed = time.time()
        hubs["hub-a"].proc.kill()
        while len(presence.moved) < n:
            if time.time() - presence.killed > 600:
                break
            time.sleep(0.1)
        cpu = {k: cpu_seconds(pr.pid) - cpu0[k] for k, pr in (("hub-b", hubs["hub-b"].proc), ("mosquitto", broker))}
        times = sorted(t - presence.killed for t in presence.moved.values())
        will = presence.hub_a_offline - presence.killed if presence.hub_a_offline else float("nan")
        print(f"\nkill -9 of hub-a with {n} devices: its Last Will at the reader after {will:.2f} s")
        if times:
            marks = ", ".join(
                f"{q}% {times[min(len(times) - 1, int(q / 100 * len(times)))]:.1f} s" for q in (10, 50, 90)
            )
            print(f"  devices online on hub-b: {len(times)} of {n}; {marks}, all {times[-1]:.1f} s")
        print(f"  CPU during the takeover: hub-b {cpu['hub-b']:.1f} s ({cpu['hub-b'] / max(1, len(times)) * 1000:.1f} ms "
              f"per device), mosquitto {cpu['mosquitto']:.2f} s")  # fmt: skip
        dials = sum(d.status.get("dials", 0) for d in devices)
        print(f"  devices' dials {dials}, failed {sum(d.status.get('failures', 0) for d in devices)}")
        print(f"load average after: {load_average()}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for proc in procs:
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
