"""A CRL file is only ever CRLs to OpenSSL: a certificate block in it (someone
else's CA, cat'ed in, or a CRL fetched from an untrusted distribution point)
never becomes a trust anchor, on either side."""

from __future__ import annotations

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.net.tls import client_context, server_context


def _subjects(ctx) -> set[str]:
    return {dict(x[0] for x in ca["subject"])["commonName"] for ca in ctx.get_ca_certs()}


@pytest.fixture
def crl_with_a_rogue_ca(pki, tmp_path):
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(pki.other_root.read_bytes() + pki.crl.read_bytes() + pki.other_root.read_bytes())
    return mixed


def test_a_certificate_in_the_crl_file_is_not_trusted_by_a_client(pki, crl_with_a_rogue_ca):
    ctx = client_context(ca=pki.root, crl=crl_with_a_rogue_ca)
    assert not any("Rogue" in s for s in _subjects(ctx)), _subjects(ctx)
    assert any("Test CA" in s for s in _subjects(ctx))


def test_a_certificate_in_the_crl_file_is_not_trusted_by_a_server(pki, crl_with_a_rogue_ca):
    ctx = server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root, crl=crl_with_a_rogue_ca)
    assert not any("Rogue" in s for s in _subjects(ctx)), _subjects(ctx)


async def test_a_rogue_device_stays_refused(start_server, pki, alice_kw, crl_with_a_rogue_ca):
    from wsctl.core.errors import TLSError
    from wsctl.net.api import open_device

    server = await start_server(cert_chain=pki.other_device.chain, key=pki.other_device.key)
    with pytest.raises(TLSError, match="unknown CA"):
        async with open_device(f"wss://127.0.0.1:{server.port}/", **alice_kw, crl=crl_with_a_rogue_ca):
            pass


def test_a_file_without_a_crl_is_refused(pki):
    with pytest.raises(InvalidInput, match="does not parse"):
        client_context(ca=pki.root, crl=pki.other_root)
