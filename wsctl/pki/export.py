"""Exporting store material in the formats devices, browsers and old tools eat.

* pem / der: the certificate alone (DER is what many embedded stacks load);
* bundle: the chain a server presents (leaf + issuing CA; for `ca`, issuing + root);
* p12: key (when the store holds it), certificate and CA certificates.  Modern
  by default: PBES2 / PBKDF2-SHA256 / AES-256-CBC with an HMAC-SHA256 MAC, as
  OpenSSL 3 writes.  `legacy` uses PBE-SHA1-3DES and a SHA-1 MAC, which old
  Windows, Java 8 and older firmware import; it is weak and only on request.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, pkcs12

from wsctl.core.errors import InvalidInput, PasswordError
from wsctl.pki import keys
from wsctl.pki.store import Store

FORMATS = ("pem", "der", "p12", "bundle")
P12_KDF_ROUNDS = 100_000


def p12_encryption(password: bytes, *, legacy: bool = False):
    if not password:
        raise PasswordError("a PKCS#12 file needs a non-empty passphrase")
    builder = PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        return (
            builder.kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(password)
        )
    return (
        builder.kdf_rounds(P12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )


def export(
    store: Store,
    target: str,
    fmt: str,
    *,
    p12_password: bytes | None = None,
    key_password: bytes | None = None,
    legacy: bool = False,
) -> bytes:
    """The bytes to write for `target` (a store name or serial, or "ca") in `fmt`.

    `key_password` decrypts the leaf key for p12; `p12_password` encrypts the p12.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    root, issuing = store.root_cert(), store.issuing_cert()
    if target == "ca":
        if fmt == "pem":
            return root.public_bytes(Encoding.PEM)
        if fmt == "der":
            return root.public_bytes(Encoding.DER)
        if fmt == "bundle":
            return issuing.public_bytes(Encoding.PEM) + root.public_bytes(Encoding.PEM)
        # a trust-store p12: CA certificates only, no key ever leaves the CA this way
        return pkcs12.serialize_key_and_certificates(
            None, None, None, [root, issuing], p12_encryption(p12_password or b"", legacy=legacy)
        )
    entry = store.find(target)
    cert = store.leaf_cert(entry)
    if fmt == "pem":
        return cert.public_bytes(Encoding.PEM)
    if fmt == "der":
        return cert.public_bytes(Encoding.DER)
    if fmt == "bundle":
        return cert.public_bytes(Encoding.PEM) + issuing.public_bytes(Encoding.PEM)
    key = None
    if entry.has_key and entry.paths.key.exists():
        data = entry.paths.key.read_bytes()
        key = keys.load_private_key(data, key_password, source=entry.paths.key)
    data = pkcs12.serialize_key_and_certificates(
        entry.name.encode(), key, cert, [issuing, root], p12_encryption(p12_password or b"", legacy=legacy)
    )
    if key is not None:
        # a private key leaving the store is worth a line in the audit trail
        store.audit("export", f"{entry.kind}:{entry.name}", entry.serial, "ok", format="p12", legacy=legacy)
    return data
