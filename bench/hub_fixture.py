"""The PKI and registries bench_hub.py reuses between runs (under --workdir).

The CA, the hub's certificate, SIM-TARGET's and the operator's are issued with
`Store.issue_*`.  The N device certificates are made by the store's own parts
(`Store.device_spec`, `builder.build_leaf` with the store's issuing CA,
`keys`), written where the store keeps them (chain.pem, key.pem) but not added
to index.json: `issue_device` rewrites the whole index each time, which grew
from 80 ms to ~300 ms per device by the 1,000th (quadratic; 10,000 would take
most of an hour), and the hub only checks the chain and the CRL, never the
index.  They are made once and kept: `prepare` makes only what is missing.  One registry per device count
(``registry-N.db``: devices ``CP-00000`` ... and ``SIM-TARGET``, profile
``ocpp16``, security profile 3).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CA_PASSWORD = b"bench-ca-passphrase"
TARGET = "SIM-TARGET"


def device_ids(n: int) -> list[str]:
    return [f"CP-{i:05d}" for i in range(n)]


def prepare(workdir: Path, n: int) -> tuple[Path, Path]:
    """(certs dir, registry path) with at least ``n`` device certificates."""
    from wsctl.pki.store import Store
    from wsctl.registry import Registry

    workdir.mkdir(parents=True, exist_ok=True)
    certs = workdir / "certs"
    store = Store(certs)
    if not store.exists():
        store.init(name="Bench Hub CA", password=CA_PASSWORD)
    have = {e.name for e in store.entries() if e.status == "valid"}
    for name in ("hub", TARGET):
        if name not in have:
            store.issue_device(
                name, dns=["localhost"], ips=["127.0.0.1"], days=30, password=CA_PASSWORD, key_password=None
            )
    if "op" not in have:
        store.issue_operator("op", role="engineer", days=30, password=CA_PASSWORD, key_password=None)
    missing = [name for name in device_ids(n) if not store.leaf_paths("device", name).key.exists()]
    if missing:
        _make_devices(store, missing)
    registry = workdir / f"registry-{n}.db"
    if not registry.exists():
        reg = Registry.open(registry)
        try:
            for name in [TARGET, *device_ids(n)]:
                reg.add_device(name, profile="ocpp16", security_profile=3)
        finally:
            reg.close()
    return certs, registry


def _make_devices(store, names: list[str]) -> None:
    from wsctl.pki import builder, keys
    from wsctl.pki.ca_admin import _pem

    t0 = time.perf_counter()
    print(f"making {len(names)} device certificates in {store.path} (once) ...", file=sys.stderr, flush=True)
    issuing, issuing_key = store._issuing(CA_PASSWORD)
    for k, name in enumerate(names, 1):
        key = keys.generate_key(keys.DEFAULT_KEY_TYPE)
        cert = builder.build_leaf(
            store.device_spec(name, ["localhost"], ["127.0.0.1"], 30), key.public_key(), issuing, issuing_key
        )
        paths = store.leaf_paths("device", name)
        paths.key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths.cert.write_bytes(_pem(cert))
        paths.chain.write_bytes(_pem(cert) + _pem(issuing))
        paths.key.write_bytes(keys.serialize_private_key(key, None))
        if k % 1000 == 0:
            print(
                f"  {k}/{len(names)} ({(time.perf_counter() - t0) / k * 1000:.1f} ms each)", file=sys.stderr, flush=True
            )


if __name__ == "__main__":
    prepare(Path(sys.argv[1]), int(sys.argv[2]))
