"""Certificate renewal storm through the hub (issue 12).

    .venv/bin/python bench/bench_renewal.py [--chargers 1000] [--processes 4] [--concurrency 50]
        [--revocations-per-crl N]     # 1: one CRL per revocation, the unbatched way (default: batched)
        [--log FILE]                  # the hub's error lines with their tracebacks
        [--workdir DIR]               # provision once into DIR, copy it for each run

A hub (`wsctl.serve_hub` with a `CertificateSigner` on a throwaway P-256 plant
CA) in this process; N of wsctl's simulated OCPP 1.6 chargers in P worker
processes of their own, each dialing the hub with its device certificate.
Once all are online, a security admin asks every charger to renew
(`renew_certificate`, at most --concurrency at once, each its own operator
connection through the hub).  Every charger makes a key and a CSR, the hub
signs it, the charger checks the chain and reconnects with it, the hub revokes
the old certificate and re-issues the CRL.

Reported: the time until all are online, the storm's wall time (first trigger
to the last `certificate-renewed`), renewals per second; then the store is
checked: exactly one valid certificate per charger (the one it is connected
with, per the registry), its old one revoked, and the CRL listing exactly the
old serials.  Exit 1 if anything is inconsistent.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wsctl.core.errors import WsctlError  # noqa: E402
from wsctl.files.profiles import load_profile  # noqa: E402
from wsctl.net.api import open_device  # noqa: E402
from wsctl.net.hub.api import serve_hub  # noqa: E402
from wsctl.net.hub.cert_manager import CertificateSigner  # noqa: E402
from wsctl.net.simulate import Simulator  # noqa: E402
from wsctl.pki.store import Store  # noqa: E402
from wsctl.registry import Registry  # noqa: E402

PW = b"bench-pw"
WAIT = 600.0  # seconds any phase may take before the run is called failed
TRIGGER_ATTEMPTS = 3  # an operator connection the busy hub did not take in time is tried again


def arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- the chargers' processes -------------------------------------------------------------
async def run_chargers(url_base: str, store_dir: Path, names: list[str]) -> None:
    store = Store(store_dir)
    profile = load_profile("ocpp16-charger")
    async with trio.open_nursery() as nursery:
        for name in names:
            leaf = store.leaf_paths("device", name)
            sim = Simulator(profile, seed=1)
            await nursery.start(sim.run)
            tls = dict(ca=str(store.root_cert_path), cert=str(leaf.chain), key=str(leaf.key), connect_timeout=30)
            nursery.start_soon(keep_dialing, sim, f"{url_base}/ocpp/{name}", tls)


async def keep_dialing(sim: Simulator, url: str, tls: dict) -> None:
    """The simulator's own redial gives up on a TLS failure (a station with a wrong
    certificate should); a hub too busy to finish a handshake is not that, so the
    bench dials again, and says so."""
    while True:
        try:
            await sim.dial(url, role="supervisor", redial=1.0, **tls)
        except WsctlError as exc:
            print(f"  charger {url.rsplit('/', 1)[1]} dials again after: {exc.message}", file=sys.stderr, flush=True)
        await trio.sleep(1.0)


def worker_main() -> None:
    raise_fd_limit()
    url_base, store_dir, *names = sys.argv[2:]
    trio.run(run_chargers, url_base, Path(store_dir), names)


# -- the hub's process ---------------------------------------------------------------------
def provision(base: Path, count: int) -> tuple[Store, list[str]]:
    store = Store(base / "certs")
    store.init(name="Bench CA", key_type="p256", password=PW)
    store.issue_device("hub", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    store.issue_operator("sam", role="security-admin", days=30, password=PW, key_password=None)
    names = [f"CP-{i:04d}" for i in range(count)]
    # one batch: issued one by one, 1,000 took minutes (the index rewritten each time)
    specs = [store.device_spec(name, [f"{name.lower()}.chargers.bench"], [], 30) for name in names]
    store.issue_devices(specs, password=PW, key_password=None)
    with Registry.open(base / "hub.db") as reg:
        for name in names:
            reg.add_device(name, profile="ocpp16")
    return store, names


def renewed(registry) -> int:
    """Renewals done (the old certificate revoked): one short query, because this runs on
    the hub's own event loop."""
    with registry._db.read() as conn:
        return conn.execute("SELECT count(*) FROM renewals WHERE state = 'renewed'").fetchone()[0]


async def watch_loop_lag(results: dict) -> None:
    """The longest the hub's event loop (shared with the operators' triggers) did not run."""
    results["loop_max_lag_s"] = 0.0
    while True:
        before = time.monotonic()
        await trio.sleep(0.05)
        lag = time.monotonic() - before - 0.05
        results["loop_max_lag_s"] = round(max(results["loop_max_lag_s"], lag), 3)


def provisioned(base: Path, count: int, workdir: str) -> tuple[Store, list[str]]:
    """A fresh plant of COUNT chargers in BASE; with --workdir DIR, copied from the one
    made there the first time (issuing 1,000 certificates takes minutes, a copy seconds)."""
    if not workdir:
        return provision(base, count)
    import shutil

    template = Path(workdir) / f"plant-{count}"
    if not (template / "hub.db").exists():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(parents=True)
        provision(template, count)
    shutil.copytree(template / "certs", base / "certs", symlinks=True)
    shutil.copy2(template / "hub.db", base / "hub.db")
    return Store(base / "certs"), [f"CP-{i:04d}" for i in range(count)]


async def until(predicate, what: str, every: float = 0.1) -> float:
    start = time.monotonic()
    with trio.fail_after(WAIT):
        while not predicate():
            await trio.sleep(every)
    took = time.monotonic() - start
    print(f"  {what}: {took:.1f} s", flush=True)
    return took


async def storm(
    base: Path, store: Store, names: list[str], processes: int, concurrency: int, per_crl: int | None
) -> dict:
    hub_leaf = store.leaf_paths("device", "hub")
    sam = store.leaf_paths("operator", "sam")
    old = {n: store.load_index().current(n).serial for n in names}
    crl_before = store.load_index().crl_number
    results: dict = {"chargers": len(names), "processes": processes, "revocations_per_crl": per_crl}
    async with trio.open_nursery() as nursery:
        hub = await nursery.start(
            lambda task_status: serve_hub(
                base / "hub.db",
                cert_chain=hub_leaf.chain,
                key=hub_leaf.key,
                ca=store.root_cert_path,
                crl=store.crl_pem_path,
                signer=CertificateSigner(store, PW, revocations_per_crl=per_crl),
                max_connections=4 * len(names) + 100,
                max_handshakes=1024,
                max_handshakes_per_source=1024,
                task_status=task_status,
            )
        )
        url_base = f"wss://localhost:{hub.server.port}"
        nursery.start_soon(watch_loop_lag, results)
        workers = [
            subprocess.Popen([sys.executable, __file__, "--worker", url_base, str(store.path), *names[i::processes]])
            for i in range(processes)
        ]
        try:
            results["online_s"] = await until(
                lambda: len(hub.links) == len(names) and all(link.booted.is_set() for link in hub.links.values()),
                f"{len(names)} chargers online",
            )
            before = {n: hub.links[n] for n in names}
            started = time.monotonic()
            limit = trio.Semaphore(concurrency)

            retried: list[str] = []

            async def renew(name: str) -> None:
                async with limit:
                    tls = dict(ca=store.root_cert_path, cert=sam.chain, key=sam.key, connect_timeout=30)
                    for attempt in range(TRIGGER_ATTEMPTS):
                        try:
                            async with open_device(f"{url_base}/devices/{name}", profile="ocpp16", **tls) as dev:
                                await dev.call("renew_certificate")
                            return
                        except WsctlError as exc:
                            retried.append(f"{name}: {exc.message}")
                            if attempt == TRIGGER_ATTEMPTS - 1:
                                raise

            async with trio.open_nursery() as triggers:
                for name in names:
                    triggers.start_soon(renew, name)
            results["triggered_s"] = round(time.monotonic() - started, 2)
            results["triggers_retried"] = len(retried)
            for line in retried[:5]:
                print("  trigger retried:", line, flush=True)
            await until(lambda: renewed(hub.registry) >= len(names), "every charger renewed", every=1.0)
            await until(
                lambda: all(n in hub.links and hub.links[n] is not before[n] for n in names), "every charger back"
            )
            results["storm_s"] = round(time.monotonic() - started, 2)
            results["renewals_per_s"] = round(len(names) / results["storm_s"], 1)
            results["crls_written"] = store.load_index().crl_number - crl_before
            results["consistent"] = check(store, hub.registry, names, old)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
            nursery.cancel_scope.cancel()
    return results


def check(store: Store, registry, names: list[str], old: dict[str, int]) -> bool:
    from cryptography import x509

    index = store.load_index()
    crl = x509.load_pem_x509_crl(store.crl_pem_path.read_bytes())
    revoked = {r.serial_number for r in crl}
    problems = []
    for name in names:
        entries = [e for e in index.entries if e.name == name]
        valid = [e for e in entries if e.status == "valid"]
        if len(valid) != 1 or valid[0].serial == old[name]:
            problems.append(f"{name}: {len(valid)} valid certificate(s)")
            continue
        if registry.device(name).cert_fingerprint != valid[0].fingerprint:
            problems.append(f"{name}: the registry shows another certificate than the valid one")
        if old[name] not in revoked:
            problems.append(f"{name}: old serial {old[name]:x} not in the CRL")
    if revoked != set(old.values()):
        problems.append(f"the CRL lists {len(revoked)} serials, not exactly the {len(old)} old ones")
    for line in problems[:20]:
        print("  INCONSISTENT:", line)
    return not problems


def log_hub_errors(path: str) -> None:
    """The hub's error lines, with their tracebacks, to PATH (--log)."""
    import logging

    handler = logging.FileHandler(path)
    handler.setLevel(logging.ERROR)
    for name in ("wsctl.net.server", "wsctl.net.hub"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)  # the server adds the traceback only when DEBUG is on
        logger.addHandler(handler)


def main() -> None:
    if "--log" in sys.argv:
        log_hub_errors(arg("--log", ""))
    count = int(arg("--chargers", "1000"))
    processes = int(arg("--processes", "4"))
    concurrency = int(arg("--concurrency", "50"))
    per_crl = int(arg("--revocations-per-crl", "0")) or None
    fds = raise_fd_limit()
    if 3 * count + 200 > fds:
        count = max(1, (fds - 200) // 3)
        print(f"file descriptor limit {fds}: {count} chargers")
    with tempfile.TemporaryDirectory(prefix="wsctl-bench-renewal-") as tmp:
        base = Path(tmp)
        started = time.monotonic()
        store, names = provisioned(base, count, arg("--workdir", ""))
        print(f"  provisioned {count} chargers: {time.monotonic() - started:.1f} s", flush=True)
        results = trio.run(storm, base, store, names, processes, concurrency, per_crl)
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results))
    sys.exit(0 if results.get("consistent") else 1)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main()
    else:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        main()
