"""A private key file of a kind wsctl cannot sign or serve TLS with (DSA, Ed448,
X25519) is refused when it is read, naming the file and the kind, instead of
failing later inside a signature or a TLS handshake."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, x25519

from wsctl.core.errors import InvalidInput
from wsctl.pki.keys import load_private_key


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: dsa.generate_private_key(2048), "DSAPrivateKey"),
        (ed448.Ed448PrivateKey.generate, "Ed448PrivateKey"),
        (x25519.X25519PrivateKey.generate, "X25519PrivateKey"),
    ],
)
def test_a_key_of_another_kind_is_refused_naming_file_and_kind(make, kind):
    with pytest.raises(InvalidInput) as caught:
        load_private_key(_pem(make()), None, source="odd.pem")
    assert caught.value.message.startswith("odd.pem holds a ")
    assert kind in caught.value.message and "not an EC, RSA or Ed25519 key" in caught.value.message


def test_the_kinds_wsctl_makes_still_load():
    key = ec.generate_private_key(ec.SECP256R1())
    assert isinstance(load_private_key(_pem(key), None, source="k.pem"), ec.EllipticCurvePrivateKey)
