"""cProfile, on a CPU clock, of one whole fan-out client: wsctl and the bare script.

    .venv/bin/python bench/fanout_profile.py [--devices 1000] [--before DIR] [--out DIR]

The same 1,000 devices as bench/bench_profile.py (two bench/fanout_device.py
processes, an inventory and a URL list); each client runs in a fresh process
under ``cProfile.Profile(time.process_time)`` (``--before DIR``: also the wsctl
tree in DIR, run from there), one after the other.  Prints the calls per
device of each and the counts where wsctl's layers differ (cancel scopes,
cancellations, timers, stat calls, tasks); the .prof files are kept in
``--out`` (default: a temporary directory) for pstats.
"""

from __future__ import annotations

import os
import pstats
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_profile as bp

#: a client run under the profiler: argv[1] the output file, the rest the client's argv
RUNNER = """
import cProfile, runpy, sys, time
out, argv = sys.argv[1], sys.argv[2:]
prof = cProfile.Profile(time.process_time)
sys.argv = argv
prof.enable()
try:
    if argv[0] == "-m":
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(argv[0], run_name="__main__")
except SystemExit:
    pass
finally:
    prof.disable()
    prof.dump_stats(out)
"""

COUNTS = {
    "cancel scopes": r"_core/_run.py:\d+\(__enter__\)$",
    "cancellations": r"_core/_run.py:\d+\(_cancel\)$",
    "timers (sleep_until)": r"_timeouts.py:\d+\(sleep_until\)$",
    "stat calls": r"posix.stat",
    "tasks started": r"_run.py:\d+\(spawn_impl\)$",
}


def per_device(path: Path, n: int) -> dict[str, float]:
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = {f"{file}:{line}({name})": value for (file, line, name), value in stats.items()}
    found = {"calls": sum(v[1] for v in rows.values()) / n}
    for what, pattern in COUNTS.items():
        found[what] = sum(v[1] for k, v in rows.items() if re.search(pattern, k)) / n
    found["CPU s (profiled)"] = sum(v[2] for v in rows.values())
    return found


def main() -> None:
    n = int(bp.arg("--devices", "1000"))
    before = bp.arg("--before", "")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out = Path(bp.arg("--out", tmp))
        store = bp.make_pki(base)
        env = {**os.environ, "WSCTL_PASSWORD": "pw", "SSL_CERT_FILE": str(store.root_cert_path)}
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(bp.ROOT / "wsctl")], check=True)
        procs, ports = bp.start_devices(store, 2)
        try:
            inventory, url_file = bp.write_fleet(store, base, ports, n)
            commands = bp.fan_out_commands(store, base, inventory, url_file, 64)
            runs = [("wsctl", commands["wsctl"], None), ("bare", commands["bare trio-websocket"], None)]
            if before:
                runs.insert(1, ("wsctl before", commands["wsctl"], before))
            results = {}
            for name, command, cwd in runs:
                prof = out / f"{name.replace(' ', '-')}.prof"
                runner = [command[0], "-c", RUNNER, str(prof), *command[1:]]
                subprocess.run(runner, env=env, cwd=cwd or tmp, check=True, capture_output=True, timeout=600)
                results[name] = per_device(prof, n)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    print(f"per device of a fan-out to {n}, cProfile on a CPU clock, load average {os.getloadavg()[0]:.2f}")
    print(f"  {'':24}" + "".join(f"{name:>14}" for name in results))
    for what in next(iter(results.values())):
        print(f"  {what:24}" + "".join(f"{r[what]:14.2f}" for r in results.values()))


if __name__ == "__main__":
    main()
