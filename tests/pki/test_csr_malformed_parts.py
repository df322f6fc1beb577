"""A CSR whose signature is valid but whose subject or extension request does not
parse (a UTF8String CN of bytes ff fe fd fc fb; a SAN that holds no GeneralName) is
refused by `load_csr` as invalid input, so every caller refuses it the usual way:
`certs sign`, a station's SignCertificate (the hub answers Rejected), EST (400)."""

from __future__ import annotations

import pytest
from csr_crafting import bad_cn_csr, bad_san_csr, pem
from pki_helpers import CA_PASS, snapshot

from wsctl.core.errors import InvalidInput
from wsctl.pki.csr import load_csr
from wsctl.pki.station import check_station_csr, sign_station_csrs
from wsctl.pki.station_side import new_key_and_csr

MALFORMED = {
    "subject": (bad_cn_csr, "CP-17", "malformed subject"),
    "extension": (bad_san_csr, "CP-17", "malformed extension request"),
}


@pytest.mark.parametrize("part", MALFORMED)
@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_load_csr_refuses_it_as_invalid_input(part, encoding):
    craft, name, words = MALFORMED[part]
    der = craft(name)
    data = der if encoding == "der" else pem(der).encode()
    with pytest.raises(InvalidInput, match=words):
        load_csr(data, source="the CSR")


@pytest.mark.parametrize("part", MALFORMED)
def test_a_station_csr_is_invalid_input_which_the_hub_answers_rejected(part):
    craft, name, words = MALFORMED[part]
    with pytest.raises(InvalidInput, match=words):
        check_station_csr(pem(craft(name)), name)


def test_a_batch_refuses_it_alone_and_signs_the_rest(store):
    bad, good = sign_station_csrs(
        store, [("CP-17", pem(bad_cn_csr("CP-17"))), ("CP-18", new_key_and_csr("CP-18")[1])], password=CA_PASS
    )
    assert isinstance(bad, InvalidInput) and "malformed subject" in bad.message
    assert store.load_index().current("CP-18").serial == good.serial
    assert store.load_index().current("CP-17") is None


@pytest.mark.parametrize("part", MALFORMED)
def test_store_sign_csr_refuses_it_and_changes_nothing(store, part):
    craft, name, words = MALFORMED[part]
    before = snapshot(store.path)
    with pytest.raises(InvalidInput, match=words):
        store.sign_csr(craft(name), kind="device", dns=["cp-17.plant"], password=CA_PASS)
    assert snapshot(store.path) == before
