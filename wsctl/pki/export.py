"""Exporting store material in the formats devices, browsers and old tools eat.

* pem / der: the certificate alone (DER is what many embedded stacks load);
* bundle: the chain a server presents (leaf + issuing CA; for `ca`, issuing + root);
* p12: key (when the store holds it), certificate and CA certificates.  Modern
  by default: PBES2 / PBKDF2-SHA256 / AES-256-CBC with an HMAC-SHA256 MAC, as
  OpenSSL 3 writes.  `legacy` uses PBE-SHA1-3DES and a SHA-1 MAC, which old
  Windows, Java 8 and older firmware import; it is weak and only on request.
* pem-key / der-key: the leaf key, decrypted, as unencrypted PKCS#8 — what
  mbedtls_pk_parse_key() (ESP-IDF, lwIP's altcp_tls) reads in either encoding;
* device bundle (`device_bundle`): everything a device is flashed with, as files.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat, pkcs12

from wsctl.core.errors import InvalidInput, PasswordError, StoreError
from wsctl.pki import fsutil, keys
from wsctl.pki.index import Entry
from wsctl.pki.store import Store

KEY_FORMATS = ("pem-key", "der-key")
FORMATS = ("pem", "der", "p12", "bundle", *KEY_FORMATS)
DEVICE_BUNDLE = "device-bundle"

# Which file goes into which mbedTLS call, and the NUL rule that trips most first ports.
KEY_LINES = """\
  key.pem, key.der     the private key, UNENCRYPTED (PKCS#8). Copy one to the device,
                       then delete this bundle.        -> mbedtls_pk_parse_key()
"""
NO_KEY_LINES = """\
  (no key file)        signed from a CSR: the key never left the device
"""
BUNDLE_README = """\
Device bundle for {kind} {name} (serial {serial}), from wsctl.

{key_lines}  cert.pem, cert.der   its certificate alone
  chain.pem            certificate + issuing CA: what it presents in TLS
                                                       -> mbedtls_x509_crt_parse() + mbedtls_ssl_conf_own_cert()
  root.pem, root.der   the plant root CA: the trust anchor for checking its peers
                                                       -> mbedtls_x509_crt_parse() + mbedtls_ssl_conf_ca_chain()

PEM from a buffer (ESP-IDF EMBED_TXTFILES, a C string): mbedTLS needs the
terminating NUL inside the buffer and counted in the length (strlen(pem) + 1),
or it reports a parse error. DER has no terminator: pass its exact length.
The *_file() variants read files and add the NUL themselves.
"""
P12_KDF_ROUNDS = 100_000


def refuse_ca_key(target: str, fmt: str) -> None:
    """Formats that hold a plain key exist for leaves only: no CA key ever leaves the store."""
    if target == "ca" and (fmt in KEY_FORMATS or fmt == DEVICE_BUNDLE):
        raise InvalidInput(
            f"{fmt} is for a device or operator NAME: the CA's keys never leave the store",
            hint="'--format der' or '--format bundle' export the CA certificates",
        )


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
    refuse_ca_key(target, fmt)
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
    if fmt in KEY_FORMATS:
        data = plain_key(store, entry, cert, key_password, der=fmt == "der-key")
        store.audit("export", f"{entry.kind}:{entry.name}", entry.serial, "ok", format=fmt)
        return data
    if fmt == "pem":
        return cert.public_bytes(Encoding.PEM)
    if fmt == "der":
        return cert.public_bytes(Encoding.DER)
    if fmt == "bundle":
        return cert.public_bytes(Encoding.PEM) + issuing.public_bytes(Encoding.PEM)
    key = _leaf_key(store, entry, cert, key_password) if entry.has_key and entry.paths.key.exists() else None
    data = pkcs12.serialize_key_and_certificates(
        entry.name.encode(), key, cert, [issuing, root], p12_encryption(p12_password or b"", legacy=legacy)
    )
    if key is not None:
        # a private key leaving the store is worth a line in the audit trail
        store.audit("export", f"{entry.kind}:{entry.name}", entry.serial, "ok", format="p12", legacy=legacy)
    return data


def _leaf_key(store: Store, entry: Entry, cert, key_password: bytes | None):
    try:
        data = fsutil.read_no_follow(store.path, entry.paths.key)
    except FileNotFoundError:
        raise StoreError(
            f"{entry.paths.key} is missing", hint="the store is incomplete; restore it from a backup"
        ) from None
    key = keys.load_private_key(data, key_password, source=entry.paths.key)
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise StoreError(
            f"{entry.paths.key} does not belong to the certificate of {entry.name}",
            hint="the store was edited by hand; restore it from a backup",
        )
    return key


def plain_key(store: Store, entry: Entry, cert, key_password: bytes | None, *, der: bool) -> bytes:
    """The leaf's private key as unencrypted PKCS#8 (PEM or DER): what a device without a keystore loads."""
    if not entry.has_key:
        raise StoreError(
            f"{entry.name} was signed from a CSR: its key never entered the store, it is on the device",
            hint="export the certificate and chain only (--format device-bundle leaves the key out)",
        )
    return _pkcs8(_leaf_key(store, entry, cert, key_password), der=der)


def _pkcs8(key, *, der: bool) -> bytes:
    return key.private_bytes(Encoding.DER if der else Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def device_bundle(store: Store, target: str, *, key_password: bytes | None) -> dict[str, bytes]:
    """File name -> bytes of everything a device is flashed with: plain key (PEM and DER,
    unless signed from a CSR), certificate (PEM and DER), chain, root (PEM and DER), README.txt."""
    refuse_ca_key(target, DEVICE_BUNDLE)
    entry = store.find(target)
    cert, root = store.leaf_cert(entry), store.root_cert()
    files = {}
    if entry.has_key:
        key = _leaf_key(store, entry, cert, key_password)
        files["key.pem"], files["key.der"] = _pkcs8(key, der=False), _pkcs8(key, der=True)
    files.update(
        {
            "cert.pem": cert.public_bytes(Encoding.PEM),
            "cert.der": cert.public_bytes(Encoding.DER),
            "chain.pem": cert.public_bytes(Encoding.PEM) + store.issuing_cert().public_bytes(Encoding.PEM),
            "root.pem": root.public_bytes(Encoding.PEM),
            "root.der": root.public_bytes(Encoding.DER),
            "README.txt": BUNDLE_README.format(
                kind=entry.kind,
                name=entry.name,
                serial=format(entry.serial, "x"),
                key_lines=KEY_LINES if entry.has_key else NO_KEY_LINES,
            ).encode(),
        }
    )
    store.audit("export", f"{entry.kind}:{entry.name}", entry.serial, "ok", format=DEVICE_BUNDLE, key=entry.has_key)
    return files
