"""A PKI made by wsctl.pki.store.Store for the simulator's end-to-end tests:
device `plc` (server), operators alice (engineer), carol (operator) and bob
(observer), keys unencrypted so the tests need no passphrase."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wsctl.pki.store import Store

PW = b"pw"


@dataclasses.dataclass
class SimPKI:
    dir: Path
    store: Store
    root: Path
    device: object  # LeafPaths: .chain .key
    alice: object
    bob: object
    carol: object

    def kw(self, who) -> dict:
        """open_device arguments for an operator."""
        return dict(ca=self.root, cert=who.chain, key=who.key, connect_timeout=5)


@pytest.fixture(scope="session")
def sim_pki(tmp_path_factory) -> SimPKI:
    base = tmp_path_factory.mktemp("simpki")
    store = Store(base / "certs")
    store.init(name="Sim Test CA", key_type="p256", password=PW)
    store.issue_device("plc", dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    for name, role in (("alice", "engineer"), ("bob", "observer"), ("carol", "operator")):
        store.issue_operator(name, role=role, days=30, password=PW, key_password=None)
    return SimPKI(
        dir=base,
        store=store,
        root=store.root_cert_path,
        device=store.leaf_paths("device", "plc"),
        alice=store.leaf_paths("operator", "alice"),
        bob=store.leaf_paths("operator", "bob"),
        carol=store.leaf_paths("operator", "carol"),
    )
