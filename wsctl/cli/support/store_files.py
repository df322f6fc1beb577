"""Which files of a PKI store (`wsctl certs`) a verb uses, in one place.

Client verbs, `serve`, `serve --dial` and `record --listen` all take `--certs
DIR`; what they trust and which CRL they check must not differ between them.
"""

from __future__ import annotations

from pathlib import Path

from wsctl.core.errors import InvalidInput, UsageError


def ca_files(store: Path) -> list[str]:
    """Root and issuing CA.

    A peer that sends only its leaf certificate (what `certs export --format
    der` gives a device; openssl, browsers and many device stacks do the same)
    is then verified too.  The issuing CA only helps build the path: without
    partial-chain verification OpenSSL must still reach the self-signed root.
    """
    if not (store / "ca" / "root.crt").is_file():
        raise InvalidInput(
            f"no PKI store at {store} (missing ca/root.crt)", hint="wsctl certs init, or point --certs at the store"
        )
    return [str(store / "ca" / "root.crt"), str(store / "ca" / "issuing.crt")]


def operator_files(store: Path, operator: str) -> tuple[str, str]:
    """(chain.pem, key.pem) of an operator certificate in the store."""
    leaf = store / "operators" / operator
    if not (leaf / "chain.pem").is_file():
        from wsctl.core.suggest import did_you_mean  # only for the error (start-up time)

        known = names_in(store, "operators")
        raise InvalidInput(
            f"no operator {operator!r} in {store}{did_you_mean(operator, known)}",
            hint=(f"operators there: {', '.join(known)}; " if known else "")
            + f"or wsctl certs --dir {store} issue operator {operator} --role ROLE",
        )
    return str(leaf / "chain.pem"), str(leaf / "key.pem")


def device_files(store: Path, device: str) -> tuple[str, str]:
    """(chain.pem, key.pem) of a device certificate in the store."""
    leaf = store / "devices" / device
    if not (leaf / "chain.pem").is_file():
        from wsctl.core.suggest import did_you_mean

        known = names_in(store, "devices")
        raise InvalidInput(
            f"no device {device!r} in {store}{did_you_mean(device, known)}",
            hint=f"wsctl certs --dir {store} issue device {device} --ip ...",
        )
    return str(leaf / "chain.pem"), str(leaf / "key.pem")


def names_in(store: Path, kind: str) -> list[str]:
    """Certificate names of one kind ("operators", "devices") in the store, sorted."""
    try:
        return sorted(p.name for p in (store / kind).iterdir() if (p / "chain.pem").is_file())
    except OSError:
        return []


def default_store(environ: dict[str, str]) -> Path | None:
    """The store `wsctl certs` uses without --dir: $WSCTL_CERTS, else ./certs (if it is a store)."""
    named = environ.get("WSCTL_CERTS")
    if named:
        return Path(named)
    here = Path("certs")
    return here if (here / "ca" / "root.crt").is_file() else None


def crl_file_if_any(store: Path) -> str | None:
    """The store's CRL for a client that trusts the store's CA; None when the
    store has none (an operator's copy may hold only the CA and their own
    certificate)."""
    for name in ("crl.pem", "crl.der"):
        path = store / "ca" / name
        if path.is_file():
            return str(path)
    return None


def crl_file(store: Path) -> str:
    """The store's CRL, PEM preferred, DER accepted; a store without one is refused.

    A server that checks client certificates against the store must never run
    with revocation silently off because the CRL file went missing.
    """
    found = crl_file_if_any(store)
    if found is not None:
        return found
    raise InvalidInput(
        f"the PKI store {store} has no readable CRL ({store / 'ca' / 'crl.pem'} is missing): revoked clients would be accepted",
        hint=f"publish one with: wsctl certs --dir {store} crl",
    )


def trusts_store_ca(ca: str | list[str], store: Path) -> bool:
    """Does the CA file (or files) hold the store's root or issuing CA certificate?"""
    from wsctl.core.pem import certificate_ders

    def ders(path: str | Path) -> set[bytes]:
        try:
            with open(path, "rb") as fh:
                return certificate_ders(fh.read(1 << 20))
        except OSError:
            return set()  # the TLS set-up reports a missing or unreadable file

    mine = ders(store / "ca" / "root.crt") | ders(store / "ca" / "issuing.crt")
    return any(mine & ders(path) for path in ([ca] if isinstance(ca, str) else ca))


def client_certificate_hint(exc: BaseException, environ: dict[str, str]) -> None:
    """A device wants a client certificate and none was given: name the
    operators of the default store in the error's hint (`--operator NAME`)."""
    if not getattr(exc, "wants_client_certificate", False) or getattr(exc, "hint", None):
        return
    store = default_store(environ)
    operators = names_in(store, "operators") if store is not None else []
    if operators:
        exc.hint = f"give --operator NAME (operators in {store}: {', '.join(operators)}), or --cert/--key"  # type: ignore[attr-defined]
    else:
        exc.hint = "give --certs DIR --operator NAME, or --cert/--key"  # type: ignore[attr-defined]


def server_tls_files(environ: dict[str, str], certs: str | None, device: str | None, cert, key, ca, crl) -> dict:
    """What a listening verb (`serve`, `record --listen`) serves with and checks clients against:
    the device certificate from the store (or files), the store's CA and CRL."""

    if device and not certs:
        # the store `wsctl certs` uses by default ($WSCTL_CERTS, ./certs)
        found = default_store(environ)
        certs = str(found) if found is not None else None
    if certs or device:
        if not (certs and device):
            raise UsageError(
                "--certs and --device go together (the device certificate to serve with)",
                hint="no PKI store in ./certs or $WSCTL_CERTS" if device else None,
            )
        store = Path(certs)
        chain, leaf_key = device_files(store, device)
        cert = cert or chain
        key = key or leaf_key
        if not ca:
            ca = ca_files(store)
            # the store's CA means the store's CRL: revocation is never silently off
            crl = crl or crl_file(store)
        elif not crl and trusts_store_ca(ca, store):
            # --ca naming the store's own CA (a bundle of it, say) is still the store's CA
            crl = crl_file(store)
    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together")
    return {"cert_chain": cert, "key": key, "ca": ca, "crl": crl}
