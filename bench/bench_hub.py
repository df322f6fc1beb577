"""The hub at scale, in separate processes (issues 11 and 14).

    .venv/bin/python bench/bench_hub.py --quick            # N=500, ~2 min
    .venv/bin/python bench/bench_hub.py                    # N=10,000
    .venv/bin/python bench/bench_hub.py --devices 5000 --procs 4 --idle 30 --reps 200

Processes: one `wsctl hub` (the real CLI, a registry with N devices made with
wsctl.registry.Registry, a PKI made with wsctl.pki.store.Store, cached under
--workdir), K device-load processes (bench/hub_devices.py: python-websockets,
mTLS, BootNotification then a Heartbeat every 300 s; each from its own source
address 127.0.0.2, .3 ... as devices in the field come from many addresses),
an operator process (bench/hub_operator.py, wsctl's client API) and two
`wsctl serve --profile ocpp16-charger` simulators (one dialing the hub as
SIM-TARGET, one listening: the same command sent directly).

Measured:
(a) hub RSS per device connection: (RSS with N - RSS idle) / N, and the slope
    between N/2 and N (what one more device costs; start-up costs excluded);
(b) hub CPU while the N devices idle (utime+stime from /proc/PID/stat over
    --idle seconds), in % of one core, and per Heartbeat answered (N /
    --heartbeat a second: a shorter --heartbeat measures that cost at small N);
(c) p50/p99 of a new operator command (connect + get_configuration + close)
    through the hub vs directly to a listening simulator: paired repetitions in
    alternating order, the p99 ratio with a 95 % bootstrap interval (pairs
    resampled) and its spread over --blocks consecutive blocks of repetitions;
(d) reconnect storm: kill -9 the hub, start it again on the same port and
    registry; seconds until the registry and the hub's own count
    (wsctl_hub_devices_online, --metrics) both show N, and whether the registry
    is consistent (exactly the N devices online, each once).
RSS and CPU seconds of the hub are robust to the machine's load; latencies
are not (compare the ratio, in the same run); the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from device_load import DeviceLoad  # noqa: E402
from hub_fixture import TARGET, device_ids, prepare  # noqa: E402

WSCTL = str(Path(sys.executable).parent / "wsctl")
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load()}] {text}", file=sys.stderr, flush=True)


def wait_for(what: str, check, timeout: float, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


class Hub:
    def __init__(self, args, certs: Path, registry: Path, port: int, metrics: int) -> None:
        self.cmd = [
            WSCTL, "--json", "hub", "--listen", f"127.0.0.1:{port}", "--registry", str(registry),
            "--certs", str(certs), "--device", "hub", "--metrics", f"127.0.0.1:{metrics}",
        ]  # fmt: skip
        if args.probe:
            # the same hub under bench/gc_probe.py (GC and heap reports on SIGUSR1)
            self.cmd = [sys.executable, str(HERE / "gc_probe.py"), *shlex.split(args.probe), "--", *self.cmd[1:]]
        self.probing = bool(args.probe)
        self.metrics_url = f"http://127.0.0.1:{metrics}/metrics"
        self.env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.hub_env))
        self.logfile = open(args.workdir / "hub.log", "ab")
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Start; the seconds until it printed its listening line."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.logfile, env=self.env)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if b'"listening"' in line:
                break
        else:
            raise RuntimeError(f"hub did not start (see {self.logfile.name})")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return time.monotonic() - t0

    def profile(self) -> None:
        """Start, then stop and write, a cProfile of the hub (bench/gc_probe.py)."""
        if self.probing and self.proc is not None:
            self.proc.send_signal(signal.SIGUSR2)

    def probe(self) -> None:
        if self.probing and self.proc is not None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(2)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def online(self) -> int:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return -1
        for line in text.splitlines():
            if line.startswith("wsctl_hub_devices_online "):
                return int(float(line.split()[1]))
        return -1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def total(procs: list[DeviceLoad], key: str) -> int:
    return sum(p.status[key] for p in procs)


def registry_online(registry: Path) -> tuple[int, set[str]]:
    from wsctl.registry import Registry

    reg = Registry.open(registry, create=False)
    try:
        online = [d.id for d in reg.devices() if d.online]
    finally:
        reg.close()
    return len(online), set(online)


def fill(hub: Hub, procs: list[DeviceLoad], n: int, timeout: float) -> float:
    t0 = time.monotonic()
    wait_for(f"{n} devices booted", lambda: total(procs, "booted") >= n and hub.online() >= n, timeout, 0.5)
    return time.monotonic() - t0


def start_devices(
    args, url: str, certs: Path, ids_from: int, ids_to: int, proc_from: int, procs: int
) -> list[DeviceLoad]:
    per = -(-(ids_to - ids_from) // procs)
    out = []
    for k in range(procs):
        first = ids_from + k * per
        count = min(per, ids_to - first)
        if count > 0:
            extra = ["--heartbeat", str(args.heartbeat)]
            out.append(DeviceLoad([url], certs, f"127.0.0.{2 + proc_from + k}", first, count, extra))
    for p in out:
        if not p.ready.wait(600):
            raise RuntimeError("a device process did not get ready")
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def measure_latency(args, certs: Path, hub_port: int) -> dict:
    direct_port = free_port()
    sims = [
        subprocess.Popen(
            [WSCTL, "serve", "--profile", "ocpp16-charger", "--listen", f"127.0.0.1:{direct_port}",
             "--certs", str(certs), "--device", TARGET],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [WSCTL, "serve", "--profile", "ocpp16-charger", "--dial", f"wss://127.0.0.1:{hub_port}/ocpp/{TARGET}",
             "--certs", str(certs), "--device", TARGET],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        via_hub = f"wss://127.0.0.1:{hub_port}/devices/{TARGET}"
        direct = f"wss://127.0.0.1:{direct_port}/ocpp/{TARGET}"

        def target_online() -> bool:
            from wsctl.registry import Registry

            reg = Registry.open(args.registry, create=False)
            try:
                rec = reg.device(TARGET)
                return rec is not None and rec.online and rec.vendor is not None
            finally:
                reg.close()

        wait_for("SIM-TARGET online at the hub", target_online, 60, 0.5)
        wait_for("the direct simulator listening", lambda: _can_connect(direct_port), 30)
        out = subprocess.run(
            [sys.executable, str(HERE / "hub_operator.py"), "--certs", str(certs), "--reps", str(args.reps), via_hub, direct],
            capture_output=True, text=True, timeout=600, check=True,
        )  # fmt: skip
        data = json.loads(out.stdout)
        hub_l, direct_l = data[via_hub], data[direct]
        pairs = [h / d for h, d in zip(hub_l, direct_l, strict=True)]
        return {
            "reps": len(hub_l),
            "hub_p50_ms": pct(hub_l, 50) * 1e3,
            "hub_p99_ms": pct(hub_l, 99) * 1e3,
            "direct_p50_ms": pct(direct_l, 50) * 1e3,
            "direct_p99_ms": pct(direct_l, 99) * 1e3,
            "p99_ratio": pct(hub_l, 99) / pct(direct_l, 99),
            "p50_ratio": pct(hub_l, 50) / pct(direct_l, 50),
            "paired_ratio_median": statistics.median(pairs),
            "p99_ratio_ci95": p99_ratio_interval(hub_l, direct_l),
            "p99_ratio_blocks": [
                pct(hub_l[i : i + size], 99) / pct(direct_l[i : i + size], 99)
                for size in [max(1, len(hub_l) // args.blocks)]
                for i in range(0, len(hub_l) - size + 1, size)
            ],
        }
    finally:
        for s in sims:
            s.terminate()
        for s in sims:
            try:
                s.wait(10)
            except subprocess.TimeoutExpired:
                s.kill()


def p99_ratio_interval(hub_l: list[float], direct_l: list[float], rounds: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of p99(hub) / p99(direct), resampling the pairs
    (a repetition's two commands ran back to back, under the same load)."""
    import random

    rng = random.Random(11)
    n = len(hub_l)
    ratios = []
    for _ in range(rounds):
        picks = [rng.randrange(n) for _ in range(n)]
        ratios.append(pct([hub_l[i] for i in picks], 99) / pct([direct_l[i] for i in picks], 99))
    return pct(ratios, 2.5), pct(ratios, 97.5)


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def storm(args, hub: Hub, procs: list[DeviceLoad], n: int) -> dict:
    expected = set(device_ids(n))
    log("storm: kill -9 the hub")
    hub.kill()
    wait_for("devices noticed", lambda: total(procs, "open") == 0, 60)
    t0 = time.monotonic()
    listen_s = hub.start()
    log(f"storm: hub listening again after {listen_s:.2f} s")
    seen: dict[str, float] = {}
    deadline = t0 + args.storm_timeout
    while time.monotonic() < deadline and len(seen) < 3:
        now = time.monotonic() - t0
        if "hub" not in seen and hub.online() >= n:
            seen["hub"] = now
        if "devices" not in seen and total(procs, "booted") >= n:
            seen["devices"] = now
        if "registry" not in seen and registry_online(args.registry)[0] >= n:
            seen["registry"] = time.monotonic() - t0
        time.sleep(0.5)
    time.sleep(2)
    count, online = registry_online(args.registry)
    return {
        "listening_s": listen_s,
        "hub_count_s": seen.get("hub"),
        "registry_s": seen.get("registry"),
        "devices_booted_s": seen.get("devices"),
        "registry_online": count,
        "consistent": online == expected and hub.online() == n and total(procs, "open") == n,
        "dials": total(procs, "dials"),
        "failures": total(procs, "failures"),
    }


def run(args) -> dict:
    n = args.devices
    certs, args.registry = prepare(args.workdir, n)
    port, metrics = free_port(), free_port()
    url = f"wss://127.0.0.1:{port}/ocpp/{{id}}"
    hub = Hub(args, certs, args.registry, port, metrics)
    procs: list[DeviceLoad] = []
    res: dict = {
        "devices": n, "procs": args.procs, "load_start": load(), "hub_env": args.hub_env, "heartbeat_s": args.heartbeat
    }  # fmt: skip
    try:
        hub.start()
        time.sleep(1)
        res["rss_idle_kib"] = rss_kib(hub.pid)
        half = n // 2
        log(f"filling {half} devices")
        procs += start_devices(args, url, certs, 0, half, 0, max(1, args.procs // 2))
        c0 = cpu_seconds(hub.pid)
        res["fill_half_s"] = fill(hub, procs, half, args.fill_timeout)
        res["fill_half_cpu_ms_per_device"] = (cpu_seconds(hub.pid) - c0) / half * 1e3
        time.sleep(3)
        res["rss_half_kib"] = rss_kib(hub.pid)
        hub.probe()
        log(f"filling {n} devices")
        procs += start_devices(args, url, certs, half, n, len(procs), args.procs - len(procs))
        res["fill_rest_s"] = fill(hub, procs, n, args.fill_timeout)
        time.sleep(3)
        res["rss_n_kib"] = rss_kib(hub.pid)
        hub.probe()
        res["kib_per_device"] = (res["rss_n_kib"] - res["rss_idle_kib"]) / n
        res["kib_per_device_slope"] = (res["rss_n_kib"] - res["rss_half_kib"]) / (n - half)
        log(f"idle {args.idle:g} s")
        c0, w0 = cpu_seconds(hub.pid), time.monotonic()
        hub.profile()
        time.sleep(args.idle)
        hub.profile()
        idle_cpu, idle_wall = cpu_seconds(hub.pid) - c0, time.monotonic() - w0
        res["idle_cpu_pct"] = idle_cpu / idle_wall * 100
        res["heartbeats_per_s"] = n / args.heartbeat
        res["cpu_ms_per_heartbeat"] = idle_cpu / (idle_wall * n / args.heartbeat) * 1e3
        res["load_idle"] = load()
        hub.probe()
        log("operator latency")
        c0, w0 = cpu_seconds(hub.pid), time.monotonic()
        hub.profile()
        res["latency"] = measure_latency(args, certs, port)
        hub.profile()
        # net of what the idle devices cost meanwhile (their heartbeats)
        spent = cpu_seconds(hub.pid) - c0 - idle_cpu / idle_wall * (time.monotonic() - w0)
        res["latency"]["hub_cpu_ms_per_command"] = spent / (res["latency"]["reps"] + 5) * 1e3
        res["load_latency"] = load()
        hub.probe()
        if not args.no_storm:
            res["storm"] = storm(args, hub, procs, n)
            res["load_storm"] = load()
    finally:
        for p in procs:
            p.stop()
        hub.stop()
    return res


def table(res: dict) -> str:
    n = res["devices"]
    lat = res.get("latency", {})
    st = res.get("storm", {})
    rows = [
        ("(a) hub RSS per device, (RSS_N - idle)/N", f"{res['kib_per_device']:.1f} KiB", "<= 48 KiB",
         f"{res['kib_per_device'] / 48:.2f}x goal"),
        ("(a) hub RSS per device, slope N/2..N", f"{res['kib_per_device_slope']:.1f} KiB", "<= 48 KiB",
         f"{res['kib_per_device_slope'] / 48:.2f}x goal"),
        ("    hub RSS idle / N/2 / N", f"{res['rss_idle_kib'] / 1024:.0f} / {res['rss_half_kib'] / 1024:.0f} / "
         f"{res['rss_n_kib'] / 1024:.0f} MiB", "", ""),
        (f"(b) hub CPU, {n} devices idle", f"{res['idle_cpu_pct']:.2f} %", "< 5 %", f"{res['idle_cpu_pct'] / 5:.2f}x goal"),
        (f"    heartbeats/s (every {res['heartbeat_s']:g} s), hub CPU per heartbeat",
         f"{res['heartbeats_per_s']:.1f}, {res['cpu_ms_per_heartbeat']:.3f} ms", "", ""),
        ("    fill N/2: wall, hub CPU per device", f"{res['fill_half_s']:.1f} s, {res['fill_half_cpu_ms_per_device']:.2f} ms", "", ""),
    ]  # fmt: skip
    if lat:
        rows += [
            ("(c) operator command p50 hub / direct", f"{lat['hub_p50_ms']:.1f} / {lat['direct_p50_ms']:.1f} ms", "",
             f"{lat['p50_ratio']:.2f}x"),
            ("(c) operator command p99 hub / direct", f"{lat['hub_p99_ms']:.1f} / {lat['direct_p99_ms']:.1f} ms",
             "<= 1.2x", f"{lat['p99_ratio']:.2f}x"),
            ("    p99 ratio: 95 % bootstrap interval", "{:.2f} .. {:.2f}".format(*lat["p99_ratio_ci95"]), "", ""),
            (f"    p99 ratio per block of {lat['reps'] // len(lat['p99_ratio_blocks'])} reps",
             " ".join(f"{r:.2f}" for r in lat["p99_ratio_blocks"]), "", ""),
            ("    paired hub/direct, median", f"{lat['paired_ratio_median']:.2f}", "", ""),
            ("    hub CPU per operator command (net of idle)", f"{lat['hub_cpu_ms_per_command']:.2f} ms", "", ""),
        ]  # fmt: skip
    if st:
        rows += [
            ("(d) storm: hub listening after start", f"{st['listening_s']:.1f} s", "", ""),
            ("(d) storm: hub count = N after start", _s(st["hub_count_s"]), "", ""),
            ("(d) storm: registry = N after start", _s(st["registry_s"]), "", ""),
            ("(d) storm: registry consistent", str(st["consistent"]), "True",
             f"online {st['registry_online']}, dials {st['dials']}, failures {st['failures']}"),
        ]  # fmt: skip
    w = max(len(r[0]) for r in rows)
    lines = [f"hub at scale: N={n} devices, {res['procs']} device processes, hub env {res['hub_env'] or '-'}"]
    lines += [f"{a:<{w}}  {b:>24}  {c:>9}  {d}" for a, b, c, d in rows]
    lines.append(f"load average: start {res['load_start']}, idle {res.get('load_idle')}, latency "
                 f"{res.get('load_latency')}, storm {res.get('load_storm')}")  # fmt: skip
    return "\n".join(lines)


def _s(v: float | None) -> str:
    return "not reached" if v is None else f"{v:.1f} s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="N=500, 2 device processes, 10 s idle, 100 reps")
    p.add_argument("--devices", type=int, default=10000)
    p.add_argument("--procs", type=int, default=8, help="device-load processes (each its own source address)")
    p.add_argument("--idle", type=float, default=30.0)
    p.add_argument("--reps", type=int, default=400, help="operator command pairs (hub, direct)")
    p.add_argument("--blocks", type=int, default=4, help="the p99 ratio is also shown per block of reps")
    p.add_argument("--heartbeat", type=float, default=300.0, help="seconds between a device's Heartbeats")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/wsctl-bench-hub"))
    p.add_argument("--fill-timeout", type=float, default=900.0)
    p.add_argument("--storm-timeout", type=float, default=900.0)
    p.add_argument("--no-storm", action="store_true")
    p.add_argument("--hub-env", action="append", default=[], help="NAME=VALUE for the hub process (comparisons)")
    p.add_argument("--probe", help="run the hub under bench/gc_probe.py with these options ('OUT.json --saveall')")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    if args.quick:
        args.devices, args.procs, args.idle, args.reps = 500, 2, 10.0, 100
    res = run(args)
    print(table(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
