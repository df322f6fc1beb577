"""`wsctl certs est`: the plant CA as an EST server (RFC 7030) for devices that enroll themselves."""

from __future__ import annotations

import click

from wsctl.cli.certs.common import get_store, password_file_option, store_dir_option, store_password
from wsctl.cli.support.env import Environment
from wsctl.core.errors import UsageError


@click.command("est")
@click.option("--listen", default="127.0.0.1:9443", show_default=True, help="HOST:PORT to listen on; port 0 picks one.")
@click.option(
    "--label",
    "label_specs",
    multiple=True,
    metavar="SPEC",
    help="An enrollment label LABEL[:kind=,auth=a+b,domain=,role=,days=,approve] (repeatable; "
    "the first also answers /.well-known/est/) [default: one device label, auth=code].",
)
@click.option(
    "--bootstrap-ca",
    "bootstrap_cas",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Manufacturer CA (PEM) whose device certificates may enroll (auth=bootstrap; repeatable).",
)
@click.option(
    "--bootstrap-crl",
    "bootstrap_crls",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A manufacturer's CRL (PEM or DER, signed by a --bootstrap-ca): bootstrap certificates in it are refused.",
)
@click.option(
    "--basic-users",
    type=click.Path(dir_okay=False),
    help="NAME:HASH lines of HTTP Basic accounts (auth=basic; lines from 'wsctl certs est-user').",
)
@click.option("--device", "tls_device", help="Device certificate NAME from the store this server presents.")
@click.option("--cert", type=click.Path(dir_okay=False), help="Server certificate chain (PEM), instead of --device.")
@click.option("--key", type=click.Path(dir_okay=False), help="Server private key (PEM), with --cert.")
@click.option(
    "--retry-after",
    type=click.IntRange(1, 86400),
    default=60,
    show_default=True,
    help="Seconds a device waiting for approval is told to wait before asking again.",
)
@click.option(
    "--pending-ttl",
    default="7d",
    show_default=True,
    help="How long an enrollment waits for 'wsctl certs approve' before it is refused: 15m, 8h, 7d.",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024, 2**20),
    default=64 * 1024,
    show_default=True,
    help="Largest request body in bytes (413 beyond).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Open connections; more are answered 503.",
)
@click.option(
    "--handshake-timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds for the TLS handshake and the first request head.",
)
@password_file_option
@store_dir_option
@click.pass_context
def est(
    ctx: click.Context,
    listen: str,
    label_specs,
    bootstrap_cas,
    bootstrap_crls,
    basic_users,
    tls_device,
    cert,
    key,
    retry_after,
    pending_ttl,
    max_body,
    max_connections,
    handshake_timeout,
    password_file,
) -> None:
    """Serve EST (RFC 7030) at https://HOST:PORT/.well-known/est/[LABEL/].

    cacerts, csrattrs, simpleenroll and simplereenroll. A first enrollment is
    proven per label by a bootstrap certificate from --bootstrap-ca
    (auth=bootstrap), an HTTP Basic account from --basic-users (auth=basic) or
    a one-time code from 'wsctl certs enroll-code NAME' sent as the Basic
    password with NAME as the user (auth=code). Bootstrap and Basic enrollments
    wait (202, Retry-After) for 'wsctl certs approve ID' when the label says
    approve, or when it has no domain= (devices) / role= (operators) to certify.
    A re-enrollment needs the current certificate as TLS client certificate.
    The CSR is checked as 'wsctl certs sign' checks it; every enrollment is in
    the store's index and audit.log. See docs/enrollment.md.

    \b
    EXAMPLES
      wsctl certs issue device est.plant.local --dns est.plant.local
      wsctl certs est --listen 0.0.0.0:9443 --device est.plant.local
      wsctl certs est --device est --label device:auth=bootstrap+code,domain=plant.local \\
          --bootstrap-ca vendor-root.pem --label operator:kind=operator,auth=basic,approve --basic-users users.txt
    """
    from wsctl.cli.support.listen import parse_listen
    from wsctl.core.errors import InvalidInput
    from wsctl.core.est_http import parse_duration
    from wsctl.net.est.server import Limits

    env: Environment = ctx.obj
    host, port = parse_listen(listen)
    try:
        pending_seconds = parse_duration(pending_ttl)
    except ValueError as exc:
        raise InvalidInput(f"--pending-ttl: {exc}") from None
    store = get_store(ctx)
    store.require()
    labels = _labels(label_specs, bootstrap_cas, basic_users)
    tls_files = _tls_files(store, tls_device, cert, key)
    password = store_password(env, password_file)
    if bootstrap_crls and not bootstrap_cas:
        raise UsageError("--bootstrap-crl needs the --bootstrap-ca that signed it")
    enroller = _enroller(
        store, labels, password, (bootstrap_cas, bootstrap_crls), basic_users, retry_after, pending_seconds
    )
    ssl_context = _ssl_context(env, store, tls_files, bootstrap_cas, password)
    limits = Limits(handshake_timeout=handshake_timeout, max_body=max_body, max_connections=max_connections)
    _serve(env, enroller, ssl_context, host, port, limits)


def _labels(specs, bootstrap_cas, basic_users):
    from wsctl.pki.est_labels import check_labels, parse_label

    labels = check_labels([parse_label(s) for s in specs])
    for label in labels:
        if "bootstrap" in label.auth and not bootstrap_cas:
            raise UsageError(f"label {label.name} takes bootstrap certificates: give --bootstrap-ca FILE")
        if "basic" in label.auth and not basic_users:
            raise UsageError(f"label {label.name} takes Basic accounts: give --basic-users FILE")
    return labels


def _tls_files(store, tls_device, cert, key) -> tuple[str, str]:
    from wsctl.cli.support.store_files import device_files

    if tls_device and (cert or key):
        raise UsageError("--device or --cert/--key, not both")
    if tls_device:
        return device_files(store.path, tls_device)
    if not (cert and key):
        raise UsageError(
            "the EST server needs a TLS certificate: --device NAME (from the store) or --cert FILE --key FILE",
            hint=f"wsctl certs --dir {store.path} issue device est --dns HOSTNAME-DEVICES-DIAL",
        )
    return cert, key


def _enroller(store, labels, password, bootstrap, basic_users, retry_after, pending_ttl):
    from wsctl.pki.enrollment_db import EnrollmentBook
    from wsctl.pki.est_auth import Authenticator, load_basic_users, load_bootstrap_crl
    from wsctl.pki.est_enroll import Enroller

    store._issuing(password)  # a wrong passphrase is refused now, not at the first enrollment
    bootstrap_cas, bootstrap_crls = bootstrap
    cas = [cert for path in bootstrap_cas for cert in _certificates(path)]
    crls = [load_bootstrap_crl(path, cas) for path in bootstrap_crls]
    users = load_basic_users(basic_users) if basic_users else {}
    book = EnrollmentBook(store.path)
    auth = Authenticator(book, cas, users, crls)
    return Enroller(store, book, labels, password, auth, retry_after=retry_after, pending_ttl=pending_ttl)


def _ssl_context(env: Environment, store, tls_files, bootstrap_cas, password: bytes):
    from wsctl.cli.support.passwords import KEY_ENV
    from wsctl.cli.support.store_files import ca_files
    from wsctl.net.tls import server_context

    chain, key = tls_files
    key_password = env.environ.get(KEY_ENV, "").encode() or password
    # client certificates optional: Basic and code enrollments have none; revocation
    # is checked per request against the index and CRL (an HTTP 403, audited).  Expiry
    # is OpenSSL's: an expired one fails the handshake (ssl has no verify callback to
    # let it through safely), as docs/enrollment.md says
    return server_context(
        cert_chain=chain,
        key=key,
        password=key_password,
        ca=[*ca_files(store.path), *bootstrap_cas],
        client_auth="optional",
    )


def _serve(env: Environment, enroller, ssl_context, host: str, port: int, limits) -> None:
    from wsctl.cli.support.runtime import run_async

    def access(rec) -> None:
        data = {
            "event": "request",
            "remote": rec.remote,
            "method": rec.method,
            "path": rec.path,
            "status": rec.status,
            "outcome": rec.outcome,
            "error": rec.error,
            "duration": round(rec.duration, 4),
        }
        human = f"{rec.remote} {rec.method} {rec.path} {rec.status or '-'} {rec.outcome}" + (
            f" error={rec.error}" if rec.error else ""
        )
        env.emit(data, human)

    async def main() -> None:
        import functools

        import trio

        from wsctl.net.est.server import serve_est

        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(
                    serve_est, enroller, ssl_context=ssl_context, host=host, port=port, limits=limits, on_access=access
                )
            )
            labels = list(enroller.labels)
            env.emit(
                {"event": "listening", "url": server.url, "port": server.port, "labels": labels},
                f"EST on {server.url} (labels: {', '.join(labels)}; the first, {labels[0]}, also unlabelled)",
            )

    from wsctl.cli.support.server_output import server_stdout

    with server_stdout(env):
        run_async(main)


def _certificates(path: str) -> list:
    """Every certificate of a PEM file (a manufacturer root with its intermediates), or one DER one."""
    from pathlib import Path

    from cryptography import x509

    from wsctl.core.errors import InvalidInput
    from wsctl.pki.store import parse_certificate

    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise InvalidInput(f"cannot read --bootstrap-ca {path}: {exc.strerror}") from None
    if b"-----BEGIN" in data:
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            raise InvalidInput(f"--bootstrap-ca {path} holds no readable certificate") from None
    return [parse_certificate(data, Path(path))]
