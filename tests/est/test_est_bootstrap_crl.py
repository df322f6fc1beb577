"""A manufacturer's CRL (`wsctl certs est --bootstrap-crl FILE`): a factory
certificate it lists no longer enrolls (403, audited, nothing written), the
others still do; a CRL no --bootstrap-ca signed is refused at start."""

from __future__ import annotations

import pytest
from est_helpers import PW, audit_lines, curl, openssl_csr, start_est, store_snapshot
from test_est_cli import one_error, wsctl

from wsctl.core.errors import InvalidInput
from wsctl.pki.est_auth import load_bootstrap_crl
from wsctl.pki.store import Store


async def test_a_bootstrap_certificate_its_manufacturer_revoked_is_refused(nursery, plant):
    revoked_chain, revoked_key = plant.bootstrap("cam-9")
    good_chain, good_key = plant.bootstrap("cam-10")
    plant.vendor.revoke("cam-9", reason="key-compromise", password=PW)
    vendor_ca = plant.vendor.issuing_cert()
    crl = load_bootstrap_crl(plant.vendor.crl_der_path, [vendor_ca])
    server = await start_est(nursery, plant, "cams:auth=bootstrap,domain=plant.local", bootstrap_crls=[crl])
    csr, _ = await openssl_csr(plant.dir, "cam-9")
    before = store_snapshot(plant)
    refused = await curl(server, plant, "simpleenroll", label="cams", data=csr, cert=revoked_chain, key=revoked_key)
    assert refused.status == 403 and b"revoked by its manufacturer's CRL" in refused.body
    assert store_snapshot(plant) == before
    last = audit_lines(plant)[-1]
    assert (last["action"], last["result"], last["status"]) == ("est-simpleenroll", "error", 403)
    csr, _ = await openssl_csr(plant.dir, "cam-10")
    accepted = await curl(server, plant, "simpleenroll", label="cams", data=csr, cert=good_chain, key=good_key)
    assert accepted.status == 200, accepted.body
    assert plant.store.load_index().current("cam-10") is not None


def test_a_crl_of_another_ca_or_not_a_crl_is_refused(plant, tmp_path):
    other = Store(tmp_path / "other")
    other.init(name="Other CA", password=PW)
    vendor_ca = plant.vendor.issuing_cert()
    with pytest.raises(InvalidInput, match="not signed by any --bootstrap-ca"):
        load_bootstrap_crl(other.crl_pem_path, [vendor_ca])
    with pytest.raises(InvalidInput, match="not a CRL"):
        load_bootstrap_crl(plant.vendor.issuing_cert_path, [vendor_ca])


def test_est_refuses_a_bootstrap_crl_at_start(plant, tmp_path):
    other = Store(tmp_path / "other")
    other.init(name="Other CA", password=PW)
    vendor_ca = str(plant.vendor.issuing_cert_path)
    label = ("--label", "cams:auth=bootstrap")
    alone = wsctl(plant, "certs", "est", "--device", "est", "--bootstrap-crl", str(other.crl_pem_path))
    assert "--bootstrap-crl needs the --bootstrap-ca" in one_error(alone, 2)
    foreign = wsctl(
        plant, "certs", "est", "--device", "est", *label, "--bootstrap-ca", vendor_ca,
        "--bootstrap-crl", str(other.crl_pem_path),
    )  # fmt: skip
    assert "not signed by any --bootstrap-ca" in one_error(foreign, 8)
    missing = wsctl(
        plant, "certs", "est", "--device", "est", *label, "--bootstrap-ca", vendor_ca,
        "--bootstrap-crl", str(tmp_path / "nope.crl"),
    )  # fmt: skip
    assert "cannot read the bootstrap CRL" in one_error(missing, 8)
