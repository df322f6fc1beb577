"""A CRL read without cryptography (`pki.crlinfo`): its DER from PEM or DER, its
nextUpdate, and PEM made from DER; what cryptography makes of the same bytes
is the reference.  The file is one the user names (`--crl`): bad bytes are a
ValueError (InvalidInput at the callers), never another exception."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from wsctl.pki.crlinfo import crl_der, crl_next_update, crl_pem, der_next_update


def test_the_store_s_crl_reads_as_cryptography_reads_it(pki, tmp_path):
    pem = pki.crl.read_bytes()
    parsed = x509.load_pem_x509_crl(pem)
    der = parsed.public_bytes(Encoding.DER)
    assert crl_der(pem) == der
    assert crl_pem(der) == pem == parsed.public_bytes(Encoding.PEM)
    assert der_next_update(crl_der(pem)) == parsed.next_update_utc
    (tmp_path / "crl.der").write_bytes(der)
    assert crl_next_update(tmp_path / "crl.der") == crl_next_update(pki.crl) == parsed.next_update_utc
    assert parsed.next_update_utc > dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    "data",
    [b"-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
     b"-----END X509 CRL----- -----BEGIN X509 CRL-----", b"", b"\x30", b"\x30\x80"],
)  # fmt: skip
def test_bad_crl_bytes_are_a_value_error(data):
    with pytest.raises(ValueError):
        der_next_update(crl_der(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused(data):
    try:
        der_next_update(crl_der(data))
    except ValueError:
        pass
    assert crl_der(crl_pem(data)) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_pem_block_is_read_or_refused(body):
    try:
        der_next_update(crl_der(b"-----BEGIN X509 CRL-----\n" + body + b"\n-----END X509 CRL-----\n"))
    except ValueError:
        pass
