"""The simulator tests' view of the shared PKI (tests/shared_pki.py): device
`plc` (server), operators alice (engineer), carol (operator; key encrypted with
b"secret") and bob (observer); the device and alice/bob keys are unencrypted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wsctl.pki.store import Store


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
def sim_pki(pki) -> SimPKI:
    return SimPKI(
        dir=pki.store.path.parent,
        store=pki.store,
        root=pki.root,
        device=pki.store.leaf_paths("device", "plc"),
        alice=pki.alice,
        bob=pki.bob,
        carol=pki.carol,
    )
