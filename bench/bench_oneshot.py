"""One-shot command wall time: `wsctl send` vs `python -m websockets`, side by side.

    .venv/bin/python bench/bench_oneshot.py [--runs 15]

Both connect over wss to the same `wsctl serve --echo` (client certificates not
required, because `python -m websockets` cannot present one; the CA comes from
SSL_CERT_FILE for it and --ca for wsctl), send one message and close.
`wsctl send` also waits for the echo; `python -m websockets` does not wait
(it closes at end of input), so its time is a lower bound.  Runs are
interleaved; medians and the ratio are printed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wsctl.pki.store import Store  # noqa: E402


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 15
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = Store(base / "certs")
        store.init(name="Bench CA", password=b"pw")
        store.issue_device("echo", ips=["127.0.0.1"], days=2, password=b"pw", key_password=None)
        log = base / "serve.jsonl"
        env = {**os.environ, "WSCTL_PASSWORD": "pw"}
        with open(log, "w") as sink:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wsctl",
                    "--json",
                    "serve",
                    "--echo",
                    "--certs",
                    str(store.path),
                    "--device",
                    "echo",
                    "--client-auth",
                    "none",
                    "--listen",
                    "127.0.0.1:0",
                ],
                stdout=sink,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        try:
            deadline = time.monotonic() + 30
            while not log.read_text().strip() and time.monotonic() < deadline:
                time.sleep(0.05)
            url = json.loads(log.read_text().splitlines()[0])["url"]
            ca = str(store.root_cert_path)
            cases = {
                "wsctl send (waits for the reply)": (
                    [sys.executable, "-m", "wsctl", "send", url, "--ca", ca, "--raw", "hello"],
                    None,
                    env,
                ),
                "python -m websockets (no wait)": (
                    [sys.executable, "-m", "websockets", url],
                    "hello\n",
                    {**env, "SSL_CERT_FILE": ca},
                ),
            }
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(runs):
                for name, (cmd, stdin, case_env) in cases.items():
                    start = time.perf_counter()
                    subprocess.run(
                        cmd, input=stdin, capture_output=True, text=True, env=case_env, check=True, timeout=60
                    )
                    samples[name].append(time.perf_counter() - start)
            base_time = statistics.median(samples["python -m websockets (no wait)"])
            for name, values in samples.items():
                med = statistics.median(values)
                print(f"{name:36} median {med * 1000:7.1f} ms   x{med / base_time:.2f}")
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
