"""A hub on port 0 with a real registry and a real PKI, for tests/hub.

`hub_pki` (session): one store with the hub's own certificate (``hub``:
localhost, 127.0.0.1), chargers CP-1..CP-3 (device certificates, which carry
clientAuth), operators alice (engineer), olga (operator), bob (observer), sam
(security-admin).
`running_hub` starts `wsctl.net.hub.hub.Hub` in the test's nursery; `Process`
runs `python -m wsctl ...` (a hub as users run it) in the background.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from wsctl.files.profiles import load_profile
from wsctl.pki.store import Store

PW = b"pw"


@dataclasses.dataclass
class HubPKI:
    store: Store
    root: Path
    crl: Path
    hub: Any
    chargers: dict[str, Any]
    alice: Any
    olga: Any
    bob: Any
    sam: Any


def build_hub_pki(base: Path) -> HubPKI:
    store = Store(base / "store")
    store.init(name="Hub Test CA", key_type="p256", password=PW)
    store.issue_device("hub", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    for name in ("CP-1", "CP-2", "CP-3", "shelly-1"):
        store.issue_device(name, dns=[f"{name.lower()}.chargers.test"], ips=[], days=30, password=PW, key_password=None)
    store.issue_operator("alice", role="engineer", days=30, password=PW, key_password=None)
    store.issue_operator("olga", role="operator", days=30, password=PW, key_password=None)
    store.issue_operator("bob", role="observer", days=30, password=PW, key_password=None)
    store.issue_operator("sam", role="security-admin", days=30, password=PW, key_password=None)
    leaf = store.leaf_paths
    return HubPKI(
        store=store,
        root=store.root_cert_path,
        crl=store.crl_pem_path,
        hub=leaf("device", "hub"),
        chargers={n: leaf("device", n) for n in ("CP-1", "CP-2", "CP-3", "shelly-1")},
        alice=leaf("operator", "alice"),
        olga=leaf("operator", "olga"),
        bob=leaf("operator", "bob"),
        sam=leaf("operator", "sam"),
    )


def tls_of(pki: HubPKI) -> dict[str, Any]:
    return dict(cert_chain=str(pki.hub.chain), key=str(pki.hub.key), ca=str(pki.root), crl=str(pki.crl))


def client_tls(pki: HubPKI, leaf: Any) -> dict[str, Any]:
    return dict(ca=pki.root, cert=leaf.chain, key=leaf.key, connect_timeout=5)


@contextlib.asynccontextmanager
async def running_hub(nursery: trio.Nursery, pki: HubPKI, registry: Any, **hub_kwargs: Any):
    from wsctl.net.hub.hub import Hub

    plain = hub_kwargs.pop("plain", None)
    serve_kwargs = hub_kwargs.pop("serve_kwargs", {})
    hub = Hub(registry, load_profile=load_profile, **hub_kwargs)
    scope = trio.CancelScope()

    async def run(task_status=trio.TASK_STATUS_IGNORED):
        with scope:
            where = {"host": "127.0.0.1", "port": 0, **serve_kwargs}
            await hub.run(task_status=task_status, plain=plain, **tls_of(pki), **where)

    server = await nursery.start(run)
    hub.server = server if not isinstance(server, list) else server[0]
    hub.servers = server if isinstance(server, list) else [server]
    try:
        yield hub
    finally:
        scope.cancel()


def hub_url(hub: Any, path: str, scheme: str = "wss") -> str:
    server = hub.servers[0] if scheme == "wss" else hub.servers[1]
    return f"{scheme}://localhost:{server.port}{path}"


class Process:
    """`python -m wsctl ARGS` in the background; the first stdout line is JSON."""

    def __init__(self, *args: str, first_line: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.first: dict = {}
        if first_line:
            ready, _, _ = select.select([self.proc.stdout], [], [], 20)
            line = self.proc.stdout.readline() if ready else ""
            if not line:
                self.proc.kill()
                raise AssertionError(f"{args[:3]} did not start: {self.proc.stderr.read()}")
            self.first = json.loads(line)

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()
