"""The chain a hub sends a station is the one of the certificate it signed: a
`wsctl certs renew` of the same name between signing and reading the chain is
an error, not another certificate sent."""

from __future__ import annotations

from wsctl.core.errors import StoreError
from wsctl.net.hub.cert_manager import _with_chain
from wsctl.pki.store import Store

PW = b"chain-test-pass"


def test_a_chain_replaced_meanwhile_is_not_sent(tmp_path):
    store = Store(tmp_path / "certs")
    store.init(name="Chain CA", password=PW)
    first = store.issue_device("CP-1", ips=["10.0.0.1"], password=PW, key_password=None)
    entry, chain = _with_chain(first)
    assert entry is first and "BEGIN CERTIFICATE" in chain
    second = store.renew("CP-1", password=PW)  # another process renews the name meanwhile
    refused = _with_chain(first)
    assert isinstance(refused, StoreError) and "replaced" in refused.message
    assert _with_chain(second)[0] is second
