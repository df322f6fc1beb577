"""EST enrollments per second against `wsctl certs sign` in-process: the cost of HTTP and TLS.

    .venv/bin/python bench/bench_est.py            # ~1 min; --quick for a smoke run

A throwaway P-256 store.  Baseline: `Store.sign_csr` called in this process (what
`wsctl certs sign` does after parsing its options).  EST: `wsctl certs est` in
its own process, this process as the client (Python ssl + http.client), one new
TLS connection per enrollment as a device makes it, P-256 everywhere:

- ``bootstrap``: proof by a factory client certificate (no password hashing): the
  HTTP/TLS overhead proper;
- ``code``: proof by a one-time code (one scrypt check per request, by design);
- ``bootstrap x4``: four clients at once (threads); CA work is one at a time.

CSRs and client certificates are made before the clock starts.  Ratio = EST rate /
sign rate.  Best of 3 rounds per row.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

from wsctl.pki import builder, keys  # noqa: E402
from wsctl.pki.csr import create_csr  # noqa: E402
from wsctl.pki.enrollment_db import EnrollmentBook  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402

PW = b"bench-store-passphrase"


def csrs(prefix: str, count: int) -> list[tuple[str, bytes]]:
    return [(f"{prefix}-{i}", create_csr(f"{prefix}-{i}")[1].public_bytes(Encoding.DER)) for i in range(count)]


def vendor_certs(base: Path, names: list[str]) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    """A manufacturer CA (in memory, files written) and one factory certificate per name."""
    root_key, issuing_key = keys.generate_key("p256"), keys.generate_key("p256")
    root = builder.build_root(root_key, "Bench Vendor")
    issuing = builder.build_issuing(issuing_key, root, root_key, "Bench Vendor")
    ca = base / "vendor-ca.pem"
    ca.write_bytes(issuing.public_bytes(Encoding.PEM) + root.public_bytes(Encoding.PEM))
    out = {}
    for name in names:
        key = keys.generate_key("p256")
        spec = builder.LeafSpec(kind="device", name=name, dns=(f"{name}.vendor",), days=30)
        cert = builder.build_leaf(spec, key.public_key(), issuing, issuing_key)
        chain, key_file = base / f"{name}.pem", base / f"{name}.key"
        chain.write_bytes(cert.public_bytes(Encoding.PEM) + issuing.public_bytes(Encoding.PEM))
        key_file.write_bytes(keys.serialize_private_key(key, None))
        out[name] = (chain, key_file)
    return ca, out


def start_server(store: Store, base: Path, vendor_ca: Path) -> tuple[subprocess.Popen, int]:
    pw_file = base / "pw"
    pw_file.write_bytes(PW)
    cmd = [
        sys.executable,
        "-m",
        "wsctl",
        "--json",
        "certs",
        "--dir",
        str(store.path),
        "est",
        "--listen",
        "127.0.0.1:0",
        "--device",
        "est",
        "--password-file",
        str(pw_file),
        "--bootstrap-ca",
        str(vendor_ca),
        "--label",
        "bench:auth=bootstrap+code,domain=bench.local",
        "--max-connections",
        "64",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSCTL_")}
    log = (base / "est.log").open("w")  # shown if the run fails
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    line = proc.stdout.readline()  # the listening line (the server prints nothing before it)
    if not line:
        raise SystemExit(f"the EST server did not start (exit {proc.wait(10)})")
    # its access lines follow on stdout: read them, or the pipe fills (64 KiB, a few hundred
    # enrollments) and the server blocks writing the next one
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, json.loads(line)["port"]


def enroll(port: int, ca: Path, der: bytes, *, cert=None, auth: str | None = None) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    headers = {"Content-Type": "application/pkcs10"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    conn.request("POST", "/.well-known/est/bench/simpleenroll", body=base64.b64encode(der), headers=headers)
    answer = conn.getresponse()
    body = answer.read()
    conn.close()
    if answer.status != 200:
        raise SystemExit(f"enrollment refused: {answer.status} {body[:200]!r}")


def timed(fn, jobs: list, workers: int = 1) -> float:
    """Enrollments per second for FN over JOBS."""
    start = time.perf_counter()
    if workers == 1:
        for job in jobs:
            fn(job)
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(fn, jobs))
    return len(jobs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 enrollments per row, one round")
    args = parser.parse_args()
    count, rounds = (20, 1) if args.quick else (100, 3)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = Store(base / "certs")
        store.init(name="Bench CA", password=PW)
        store.issue_device("est", dns=["localhost"], ips=["127.0.0.1"], password=PW, key_password=None)
        ca = base / "ca.pem"
        ca.write_bytes(store.issuing_cert_path.read_bytes() + store.root_cert_path.read_bytes())
        rows: dict[str, list[float]] = {
            "sign in-process": [],
            "EST bootstrap": [],
            "EST code": [],
            "EST bootstrap x4": [],
        }
        all_boot = [f"boot{r}-{i}" for r in range(rounds) for i in range(2 * count)]
        vendor_ca, boot_certs = vendor_certs(base, all_boot)
        book = EnrollmentBook(store.path)
        proc, port = start_server(store, base, vendor_ca)
        try:
            for r in range(rounds):
                signs = csrs(f"sign{r}", count)
                rows["sign in-process"].append(
                    timed(
                        lambda job: store.sign_csr(
                            job[1], kind="device", name=job[0], dns=[f"{job[0]}.bench.local"], password=PW
                        ),
                        signs,
                    )
                )
                boot = [
                    (n, create_csr(n)[1].public_bytes(Encoding.DER)) for n in all_boot[2 * r * count :][: 2 * count]
                ]
                rows["EST bootstrap"].append(
                    timed(lambda job: enroll(port, ca, job[1], cert=boot_certs[job[0]]), boot[:count])
                )
                rows["EST bootstrap x4"].append(
                    timed(lambda job: enroll(port, ca, job[1], cert=boot_certs[job[0]]), boot[count:], workers=4)
                )
                codes = []
                for name, der in csrs(f"code{r}", count):
                    secret, _ = book.issue_code(name, kind="device", ttl=3600, dns=[f"{name}.bench.local"])
                    codes.append((name, der, secret))
                rows["EST code"].append(timed(lambda job: enroll(port, ca, job[1], auth=f"{job[0]}:{job[2]}"), codes))
        except BaseException:
            print((base / "est.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            proc.wait(10)
        base_rate = max(rows["sign in-process"])
        print(f"{count} enrollments per row, best of {rounds}, P-256")
        print(f"{'':18} {'per s':>8} {'ratio':>6}")
        for name, rates in rows.items():
            print(f"{name:18} {max(rates):8.1f} {max(rates) / base_rate:6.2f}")


if __name__ == "__main__":
    main()
