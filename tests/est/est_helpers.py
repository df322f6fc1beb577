"""An EST server of a fresh plant store, started in-process on port 0 with real TLS,
and the clients RFC 7030's examples use: curl for HTTP, openssl for CSRs and PKCS#7.

Every subprocess is bounded (`CLIENT_TIMEOUT`); the server's own waits are bounded
by its `Limits`.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
import subprocess
from pathlib import Path

import trio
from cryptography import x509

from wsctl.net.est.server import EstServer, Limits, serve_est
from wsctl.net.tls import server_context
from wsctl.pki.enrollment_db import EnrollmentBook
from wsctl.pki.est_auth import Authenticator
from wsctl.pki.est_enroll import Enroller
from wsctl.pki.est_labels import Label, parse_label
from wsctl.pki.store import Store

PW = b"est-test-pass"
CLIENT_TIMEOUT = 30


@dataclasses.dataclass
class Plant:
    """A fresh store with the EST server's own device certificate, and a vendor (manufacturer) CA."""

    dir: Path
    store: Store
    book: EnrollmentBook
    vendor: Store
    ca_bundle: Path  # issuing + root: what curl trusts the server with

    def bootstrap(self, name: str) -> tuple[Path, Path]:
        """A manufacturer (IDevID-style) certificate CN=NAME and its key."""
        if self.vendor.load_index().current(name) is None:
            self.vendor.issue_device(name, dns=[f"{name}.vendor.example"], password=PW, key_password=None)
        paths = self.vendor.leaf_paths("device", name)
        return paths.chain, paths.key


def make_plant(base: Path, vendor: Store) -> Plant:
    store = Store(base / "certs")
    store.init(name="EST Test CA", password=PW)
    store.issue_device("est", dns=["localhost"], ips=["127.0.0.1"], password=PW, key_password=None)
    bundle = base / "ca-bundle.pem"
    bundle.write_bytes(store.issuing_cert_path.read_bytes() + store.root_cert_path.read_bytes())
    return Plant(base, store, EnrollmentBook(store.path), vendor, bundle)


def make_vendor(base: Path) -> Store:
    vendor = Store(base / "vendor")
    vendor.init(name="Vendor Manufacturing CA", password=PW)
    return vendor


async def start_est(
    nursery: trio.Nursery,
    plant: Plant,
    *labels: str | Label,
    basic_users: dict[str, str] | None = None,
    limits: Limits | None = None,
    access: list | None = None,
    bootstrap_crls: list | None = None,
) -> EstServer:
    store = plant.store
    chosen = [parse_label(lb) if isinstance(lb, str) else lb for lb in labels] or [Label(name="default")]
    vendor_root = [x509.load_pem_x509_certificate(plant.vendor.issuing_cert_path.read_bytes())]
    auth = Authenticator(plant.book, vendor_root, basic_users or {}, bootstrap_crls or ())
    enroller = Enroller(store, plant.book, chosen, PW, auth, retry_after=7)
    leaf = store.leaf_paths("device", "est")
    ctx = server_context(
        cert_chain=leaf.chain,
        key=leaf.key,
        ca=[store.root_cert_path, store.issuing_cert_path, plant.vendor.root_cert_path, plant.vendor.issuing_cert_path],
        client_auth="optional",
    )
    return await nursery.start(
        functools.partial(
            serve_est,
            enroller,
            ssl_context=ctx,
            limits=limits or Limits(),
            on_access=access.append if access is not None else None,
        )
    )


async def run(*cmd: str | Path, stdin: bytes = b"", check: bool = True) -> subprocess.CompletedProcess:
    with trio.fail_after(CLIENT_TIMEOUT):
        result = await trio.run_process(
            [str(c) for c in cmd], stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
        )
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed ({result.returncode}): {result.stderr.decode()[-800:]}")
    return result


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def curl(
    server: EstServer,
    plant: Plant,
    operation: str,
    *,
    label: str | None = None,
    data: Path | None = None,
    user: str | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    content_type: str = "application/pkcs10",
    extra: tuple[str, ...] = (),
) -> Reply:
    """`curl` as RFC 7030's examples use it: --data-binary @req.b64 -H Content-Type: application/pkcs10."""
    path = f"/.well-known/est/{label + '/' if label else ''}{operation}"
    out, head = plant.dir / "curl.body", plant.dir / "curl.head"
    cmd: list[str | Path] = ["curl", "-sS", "--cacert", plant.ca_bundle, "-o", out, "-D", head]
    if data is not None:
        cmd += ["--data-binary", f"@{data}", "-H", f"Content-Type: {content_type}"]
    if user is not None:
        cmd += ["-u", user]
    if cert is not None:
        cmd += ["--cert", cert, "--key", key]
    await run(*cmd, *extra, f"https://127.0.0.1:{server.port}{path}")
    lines = head.read_text().splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, out.read_bytes())


async def openssl_csr(
    directory: Path, cn: str | None, *, addext: tuple[str, ...] = (), key: Path | None = None
) -> tuple[Path, Path]:
    """(base64 CSR file, key) made by `openssl req` as a device would, DER then base64."""
    tag = cn or "nocn"
    key = key or directory / f"{tag}.key"
    der = directory / f"{tag}.csr.der"
    cmd: list[str | Path] = [
        "openssl",
        "req",
        "-new",
        "-outform",
        "DER",
        "-out",
        der,
        "-subj",
        f"/CN={cn}" if cn else "/O=nobody",
    ]
    if key.exists():
        cmd += ["-key", key]
    else:
        cmd += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]
    for ext in addext:
        cmd += ["-addext", ext]
    await run(*cmd)
    b64 = directory / f"{tag}.csr.b64"
    b64.write_bytes((await run("openssl", "base64", "-in", der)).stdout)
    return b64, key


async def pkcs7_certs(body: bytes) -> list[x509.Certificate]:
    """`openssl base64 -d | openssl pkcs7 -inform DER -print_certs`, as in RFC 7030's examples."""
    der = (await run("openssl", "base64", "-d", stdin=body)).stdout
    pem = (await run("openssl", "pkcs7", "-inform", "DER", "-print_certs", stdin=der)).stdout
    return x509.load_pem_x509_certificates(pem)


def store_snapshot(plant: Plant) -> dict[str, bytes]:
    """Every store file but audit.log and the lock: what a refusal must leave as it was."""
    root = plant.store.path
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("audit.log", ".lock") and not p.name.startswith("enroll.db")
    }


def audit_lines(plant: Plant, action_prefix: str = "est-") -> list[dict]:
    import json

    lines = plant.store.audit_path.read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["action"].startswith(action_prefix)]


def expire_codes(plant: Plant) -> None:
    """Move every code's expiry into the past (instead of waiting out a TTL)."""
    with sqlite3.connect(plant.book.path) as db:
        db.execute("UPDATE codes SET expires = expires - 86400 * 30")
