"""kill -9 at every file-system step of a store commit, then open the store: it must be consistent.

Each run forks a child that SIGKILLs itself just before its N-th call to one
of the os functions a commit uses (the same interception point as the
full-disk test in test_pki_csr_atomicity.py, but the process really dies);
N counts up until the operation completes unkilled, so every step is hit.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from pki_helpers import CA_PASS, snapshot

from wsctl.pki.csr import create_csr
from wsctl.pki.station import sign_station_csrs
from wsctl.pki.station_side import new_key_and_csr
from wsctl.pki.store import Store

FS_CALLS = ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "fsync")
CHILD_TIMEOUT = 60.0
MAX_STEPS = 200
REAL_REPLACE = os.replace


def run_killed_at(n: int, operation, *, fail_replacing: str | None = None) -> str:
    """Run `operation` in a child killed just before its n-th file-system call.

    "killed", or "done" / "failed" when it got to the end first.  With
    `fail_replacing`, replacing a file of that name fails like a full disk.
    """
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            calls = [0]
            for name in FS_CALLS:

                def hooked(*args, _real=getattr(os, name), **kwargs):  # noqa: B008 (binds this loop's function)
                    calls[0] += 1
                    if calls[0] == n:
                        os.kill(os.getpid(), signal.SIGKILL)
                    if _real is REAL_REPLACE and fail_replacing and str(args[1]).endswith(fail_replacing):
                        raise OSError(28, "No space left on device", str(args[1]))
                    return _real(*args, **kwargs)

                setattr(os, name, hooked)
            operation()
        except BaseException:
            os._exit(3)
        os._exit(0)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the child killed at step {n} did not finish in {CHILD_TIMEOUT:.0f} s")
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return "killed"
    return "done" if os.WEXITSTATUS(status) == 0 else "failed"


@functools.cache
def _key_matches(key_pem: bytes, cert_pem: bytes) -> bool:
    # cached: decrypting the CA key is the slow part, and it rarely changes between runs
    key = load_pem_private_key(key_pem, CA_PASS)
    return key.public_key() == x509.load_pem_x509_certificate(cert_pem).public_key()


def assert_consistent(store: Store) -> None:
    root = store.path
    leftovers = [
        p
        for p in root.rglob("*")
        if p.name.endswith(".tmp") or ".bak-" in p.name or p.name.startswith((".journal", ".staging-"))
    ]
    assert not leftovers, leftovers
    for key in [*root.rglob("*.key"), *root.rglob("key.pem")]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    crl = x509.load_pem_x509_crl(store.crl_pem_path.read_bytes())
    assert crl.public_bytes(Encoding.DER) == store.crl_der_path.read_bytes(), "crl.pem and crl.der differ"
    assert _key_matches(store.issuing_key_path.read_bytes(), store.issuing_cert_path.read_bytes())
    index = store.load_index()
    revoked = {e.serial for e in index.entries if e.status == "revoked"}
    assert {r.serial_number for r in crl} == revoked, "the CRL and the index disagree"
    for kind_dir in ("devices", "operators"):
        for leaf in (root / kind_dir).iterdir():
            entry = index.current(leaf.name)
            assert entry is not None, f"{leaf} is not in the index"
            cert = x509.load_pem_x509_certificate((leaf / "cert.pem").read_bytes())
            assert cert.serial_number == entry.serial, f"{leaf}/cert.pem is not the indexed certificate"
            assert x509.load_pem_x509_certificates((leaf / "chain.pem").read_bytes())[0] == cert
            if entry.has_key:
                key = load_pem_private_key((leaf / "key.pem").read_bytes(), None)
                assert key.public_key() == cert.public_key(), f"{leaf}/key.pem does not match its certificate"
            else:
                assert not (leaf / "key.pem").exists()
    for entry in index.entries:
        if entry.status != "superseded":
            assert entry.paths.cert.is_file(), f"{entry.name} is in the index without its certificate"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with a live device, a revoked one that has a key, and an operator."""
    store = Store(tmp_path_factory.mktemp("template") / "certs")
    store.init(name="Crash Plant", password=CA_PASS)
    store.issue_device("plc-1", ips=["10.0.0.1"], password=CA_PASS, key_password=None)
    store.issue_device("plc-9", ips=["10.0.0.9"], password=CA_PASS, key_password=None)
    store.revoke("plc-9", password=CA_PASS)
    store.issue_operator("alice", role="engineer", password=CA_PASS, key_password=None)
    return store.path


def _csr_pem() -> bytes:
    _, request = create_csr("plc-9", ips=["10.0.0.9"])
    return request.public_bytes(Encoding.PEM)


OPERATIONS = {
    "issue": lambda s: s.issue_device("plc-2", ips=["10.0.0.2"], password=CA_PASS, key_password=None),
    # several certificates, one commit: all of them or none, at every kill
    "issue-several": lambda s: s.issue_devices(
        [s.device_spec(n, [], [f"10.0.1.{i}"], 30) for i, n in enumerate(("plc-3", "plc-4", "plc-5"), 1)],
        password=CA_PASS,
        key_password=None,
    ),
    "renew-rekey": lambda s: s.renew("plc-1", rekey=True, password=CA_PASS, key_password=None),
    "revoke": lambda s: s.revoke("alice", reason="key-compromise", password=CA_PASS),
    "sign-over-stale-key": lambda s: s.sign_csr(CSR, kind="device", ips=["10.0.0.9"], password=CA_PASS),
    # station renewals over the wire, one batch: a renewal, a new station, and a refused CSR
    # (its subject names another station) that must not take the other two with it
    "sign-station-batch": lambda s: sign_station_csrs(s, STATION_CSRS, password=CA_PASS),
    "init-force": lambda s: s.init(name="Crash Plant 2", password=CA_PASS, force=True, current_password=CA_PASS),
}
CSR = _csr_pem()
STATION_CSRS = [(sid, new_key_and_csr(cn)[1]) for sid, cn in (("plc-1", "plc-1"), ("CP-1", "CP-1"), ("CP-2", "CP-X"))]


def kill_at_every_step(template: Path, tmp_path: Path, operation, **faults) -> list[str]:
    """Kill `operation` at step 1, 2, ... until it ends unkilled; the state ("old"/"new") each kill left."""
    live = lambda root: {k: v for k, v in snapshot(root).items() if not k.startswith("archive/")}  # noqa: E731
    before = live(template)
    states = []
    for n in range(1, MAX_STEPS):
        path = tmp_path / f"run-{n}"
        shutil.copytree(template, path)
        outcome = run_killed_at(n, lambda: operation(Store(path)), **faults)  # noqa: B023 (called before the loop moves on)
        store = Store(path)
        store.entries()  # opening it finishes or undoes what the kill interrupted
        assert_consistent(store)
        unchanged = live(path) == before
        if outcome != "killed":
            assert unchanged == (outcome == "failed"), f"{outcome} at step {n}"
            return states
        states.append("old" if unchanged else "new")
        shutil.rmtree(path)
    pytest.fail(f"still being killed after {MAX_STEPS} steps")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_kill_at_every_step_leaves_a_consistent_store(template, tmp_path, operation):
    states = kill_at_every_step(template, tmp_path, OPERATIONS[operation])
    # the kills hit both sides of the commit point, and never leave a mix (assert_consistent)
    assert "old" in states and "new" in states, states
    assert states == sorted(states, key=("old", "new").index), states


def test_kill_at_every_step_of_a_restore(template, tmp_path_factory, tmp_path):
    replaced = tmp_path_factory.mktemp("replaced") / "certs"
    shutil.copytree(template, replaced)
    archive = Store(replaced).init(name="Crash Plant 2", password=CA_PASS, force=True, current_password=CA_PASS)
    states = kill_at_every_step(replaced, tmp_path, lambda s: s.restore(archive.name, current_password=CA_PASS))
    assert "old" in states and "new" in states, states
    assert states == sorted(states, key=("old", "new").index), states


def test_kill_while_undoing_a_failed_commit_still_undoes_it(template, tmp_path):
    # the index is replaced last, so cert, chain and key are in place when it fails and must be
    # taken back.  Killed before the commit point: old.  Killed after it but before the failure
    # turned the journal into a rollback journal: recovery rolls forward (the disk has room
    # again by then): new.  Killed while undoing: old again, never a mix.
    states = kill_at_every_step(template, tmp_path, OPERATIONS["issue"], fail_replacing="index.json")
    runs = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    assert runs == ["old", "new", "old"], states
    assert states[-4:] == ["old"] * 4, states
