"""Private keys: generate, serialize (encrypted at rest), load, pick the signature hash.

cryptography is imported inside the functions: the key type names are read by
verbs and by `Store` methods that never touch a key (`wsctl certs list`), and
importing cryptography costs more than those verbs' whole run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wsctl.core.errors import InvalidInput, PasswordError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

KEY_TYPES = ("p256", "p384", "rsa2048", "rsa3072", "ed25519")
DEFAULT_KEY_TYPE = "p256"


def generate_key(key_type: str = DEFAULT_KEY_TYPE) -> PrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type in ("rsa2048", "rsa3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise InvalidInput(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")


def key_type_of(key) -> str:
    """The KEY_TYPES name of a private or public key ("rsa4096" for sizes we do not generate)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return {"secp256r1": "p256", "secp384r1": "p384"}.get(key.curve.name, key.curve.name)
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa{key.key_size}"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    return type(key).__name__


def check_public_key(public_key) -> None:
    """Refuse key kinds and sizes a plant PKI should not certify (e.g. from a CSR)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise InvalidInput(f"unsupported EC curve {public_key.curve.name}; use P-256 or P-384")
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < 2048:
            raise InvalidInput(f"RSA key of {public_key.key_size} bits is too small; at least 2048")
    elif not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise InvalidInput(f"unsupported public key type {type(public_key).__name__}")


def signature_hash(signing_key) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash to sign with: SHA-384 to go with P-384, none for Ed25519, else SHA-256."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(signing_key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(signing_key, ec.EllipticCurvePrivateKey) and signing_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def serialize_private_key(key: PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted with the best scheme cryptography offers unless password is None."""
    from cryptography.hazmat.primitives import serialization

    if password is not None and not password:
        raise PasswordError("empty passphrase; give a non-empty one (or --no-password for a leaf key)")
    encryption = (
        serialization.BestAvailableEncryption(password) if password is not None else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def is_encrypted_pem(data: bytes) -> bool:
    from wsctl.core.pem import is_encrypted_pem as rule

    return rule(data)


def load_private_key(data: bytes, password: bytes | None, *, source: str | Path) -> PrivateKey:
    """Load a PEM key; a wrong or missing passphrase is a PasswordError naming the file."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    encrypted = is_encrypted_pem(data)
    if encrypted and not password:
        raise PasswordError(f"{source} is encrypted and no passphrase was given")
    try:
        key = serialization.load_pem_private_key(data, password if encrypted else None)
    except ValueError as exc:
        if encrypted:
            # a wrong passphrase usually fails the padding check ("bad
            # password"), but about 1 time in 256 the padding happens to fit and
            # the garbage fails to parse instead; both mean the same to the user
            hint = "" if "password" in str(exc).lower() else " (or the key file is damaged)"
            raise PasswordError(f"wrong passphrase for {source}{hint}") from None
        raise InvalidInput(f"{source} is not a readable private key ({_first_line(exc)})") from None
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(f"{source} is not a usable private key ({_first_line(exc)})") from None
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        # DSA, DH, Ed448 and the post-quantum kinds: nothing here can sign or serve TLS with them
        raise InvalidInput(f"{source} holds a {type(key).__name__.removeprefix('_')}, not an EC, RSA or Ed25519 key")
    return key


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    # cryptography appends an FAQ link to PEM errors; the operator needs the gist
    return text.split(". See https://")[0][:160]
