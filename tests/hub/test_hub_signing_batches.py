"""The hub signs the CSRs of a renewal storm in batches: the CSRs that arrive while
one batch is signed are signed together next, in one store operation, each still
answered alone (its chain, or its own refusal); a CSR whose station went away while
it waited is not signed."""

from __future__ import annotations

import types

import trio
import trio.testing
from cryptography import x509
from hub_helpers import PW, build_hub_pki

from wsctl.core.errors import InvalidInput, StoreError
from wsctl.net.hub.cert_manager import CertificateSigner
from wsctl.pki import station
from wsctl.pki.station_side import new_key_and_csr


async def test_csrs_queued_behind_a_signing_are_signed_in_one_batch(tmp_path, monkeypatch):
    pki = build_hub_pki(tmp_path / "pki")
    assert pki.store.find("alice").kind == "operator"  # the hub PKI has her
    batches: list[list[str]] = []
    real = station.sign_station_csrs

    def counted(store, requests, **kwargs):
        batches.append([sid for sid, _ in requests])
        return real(store, requests, **kwargs)

    monkeypatch.setattr(station, "sign_station_csrs", counted)
    signer = CertificateSigner(pki.store, PW)
    names = [f"CP-Q{i}" for i in range(12)] + ["alice"]
    csrs = {name: new_key_and_csr(name)[1] for name in [*names, "CP-GONE"]}
    outcomes: dict[str, object] = {}

    async def one(name, hub):
        try:
            outcomes[name] = await signer._signed(hub, name, csrs[name])
        except InvalidInput as exc:
            outcomes[name] = exc

    async with trio.open_nursery() as nursery:
        hub = types.SimpleNamespace(nursery=nursery)
        async with signer._signing:  # a batch under way: everything below queues behind it
            for name in names:
                nursery.start_soon(one, name, hub)
            gone = trio.CancelScope()  # a station whose session ends while it waits
            nursery.start_soon(_cancelled_after_queueing, signer, hub, csrs["CP-GONE"], gone)
            await trio.testing.wait_all_tasks_blocked()
            assert len(signer._to_sign) == len(names) + 1
            gone.cancel()
            await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(60):
            while len(outcomes) < len(names):
                await trio.sleep(0.01)
    assert [sorted(b) for b in batches] == [sorted(names)], batches  # one store operation, not the abandoned CSR
    assert isinstance(outcomes.pop("alice"), InvalidInput)
    index = pki.store.load_index()
    for name, (entry, chain) in outcomes.items():
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        assert leaf.serial_number == entry.serial == index.current(name).serial
    assert index.current("CP-GONE") is None


async def _cancelled_after_queueing(signer, hub, csr, scope):
    with scope:
        await signer._signed(hub, "CP-GONE", csr)


async def test_a_store_failure_fails_each_csr_of_the_batch_with_it(tmp_path):
    pki = build_hub_pki(tmp_path / "pki")
    signer = CertificateSigner(pki.store, b"not the passphrase")
    errors = []

    async def one(name, hub):
        try:
            await signer._signed(hub, name, new_key_and_csr(name)[1])
        except Exception as exc:  # noqa: BLE001 (the test looks at what each waiter got)
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        hub = types.SimpleNamespace(nursery=nursery)
        for name in ("CP-A", "CP-B", "CP-C"):
            nursery.start_soon(one, name, hub)
    assert len(errors) == 3 and all("passphrase" in str(e).lower() for e in errors), errors
    assert not signer._draining and not signer._to_sign


async def test_a_fault_in_signing_fails_each_csr_and_leaves_the_hub_running(tmp_path, monkeypatch):
    pki = build_hub_pki(tmp_path / "pki")

    def broken(store, requests, **kwargs):
        raise RuntimeError("a bug in the signing code")

    monkeypatch.setattr(station, "sign_station_csrs", broken)
    signer = CertificateSigner(pki.store, PW)
    errors = []

    async def one(name, hub):
        try:
            await signer._signed(hub, name, new_key_and_csr(name)[1])
        except StoreError as exc:
            errors.append(exc.message)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:  # the hub's nursery: not torn down by the fault
            hub = types.SimpleNamespace(nursery=nursery)
            for name in ("CP-A", "CP-B"):
                nursery.start_soon(one, name, hub)
    assert errors == ["signing failed: RuntimeError: a bug in the signing code"] * 2
    assert not signer._draining
