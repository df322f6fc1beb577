"""What the listening verbs (`serve`, `hub`) share once their options are read:
the server's TLS material and key passphrase, the access line each connection
leaves, and the optional Prometheus listener."""

from __future__ import annotations

from wsctl.cli.support.env import Environment
from wsctl.cli.support.store_files import server_tls_files
from wsctl.core.errors import UsageError


def _typed_store(certs: str | None, device: str | None, cert: str | None, key: str | None) -> str | None:
    """The store, unless it came from $WSCTL_CERTS or a config file while --cert/--key
    were given without --device: the files typed on the command line win (a
    store typed next to them, with no --device, is still refused as a mistake)."""
    if not certs or device or not (cert or key):
        return certs
    import click
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("certs") if ctx is not None else None
    return certs if source in (None, ParameterSource.COMMANDLINE) else None


def server_tls(
    env: Environment,
    certs,
    device,
    cert,
    key,
    ca,
    crl,
    password_file,
    client_auth,
    allow_plaintext,
    *,
    missing: str = "a wss server needs a certificate: --certs DIR --device NAME, or --cert/--key",
    open_warning: str = "any client may connect",
) -> tuple[dict, bytes | None, str]:
    """The TLS files, the key's passphrase, and the client-auth mode (warned about when off):
    the one server TLS set-up of serve, hub and record --listen."""
    from wsctl.cli.support.passwords import KEY_ENV, STORE_ENV, read_password

    tls = server_tls_files(env.environ, _typed_store(certs, device, cert, key), device, cert, key, ca, crl)
    if tls["cert_chain"] is None and not allow_plaintext:
        raise UsageError(missing, hint="or --allow-plaintext for ws://" if "--allow-plaintext" not in missing else None)
    password = None
    from wsctl.cli.support.client_options import key_file_is_encrypted

    if tls["key"] and key_file_is_encrypted(tls["key"]):
        password = read_password(
            env,
            password_file=password_file,
            env_var=KEY_ENV,
            fallbacks=[(None, STORE_ENV)],
            prompt=f"passphrase for {tls['key']}",
        )
    if client_auth is None:
        client_auth = "required" if tls["ca"] else "none"
    if client_auth == "none" and tls["cert_chain"]:
        env.warn(f"client certificates are not checked (--client-auth none): {open_warning}")
    elif client_auth != "none" and tls["ca"] and not tls["crl"]:
        env.warn(
            "client certificates are not checked for revocation: give --crl (the CRL of the --ca that issues them)"
        )
    return tls, password, client_auth


def access_line(env: Environment, metrics=None):
    def access_log(record) -> None:
        if metrics is not None:
            metrics.access(record)
        data = record.as_dict()
        ident = data["identity"]
        who = f"{data['remote']}" + (
            f" {ident['kind'] or 'cert'}={ident['name'] or ident['subject']} role={ident['role']}" if ident else ""
        )
        human = (
            f"{who} {data['path'] or '-'} {data['outcome']} close={data['close_code'] or '-'} "
            f"in={data['messages_in']}/{data['bytes_in']}B out={data['messages_out']}/{data['bytes_out']}B "
            f"{data['duration']:.3f}s" + (f" error={data['error']}" if data["error"] else "")
        )
        if env.verbosity >= 0 or env.json:
            env.emit({"event": "connection", **data}, human)

    return access_log


def metrics_listener(listen: str | None, kind: str = "server") -> tuple | None:
    """(metrics, host, port) for --metrics, or None; the library only when asked
    for.  ``kind``: "server" (`serve`) or "hub" (the server's series and the hub's).
    ``--metrics tls``: host and port are None (``/metrics`` on the TLS port)."""
    if listen is None:
        return None
    from wsctl.cli.support.listen import parse_listen

    host, port = (None, None) if listen == "tls" else parse_listen(listen if ":" in listen else f"127.0.0.1:{listen}")
    try:
        if kind == "hub":
            from wsctl.net.hub.metrics import HubMetrics

            return HubMetrics(), host, port
        from wsctl.net.metrics import ServerMetrics

        return ServerMetrics(), host, port
    except ImportError:
        raise UsageError("--metrics needs prometheus-client", hint="pip install prometheus-client") from None


def metrics_on_tls_port(metrics: tuple | None, tls: dict) -> dict:
    """The serve kwargs for ``--metrics tls`` (none otherwise)."""
    if metrics is None or metrics[1] is not None:
        return {}
    if tls.get("cert_chain") is None:
        raise UsageError(
            "--metrics tls serves /metrics on the TLS port: it needs a certificate", hint="or --metrics [HOST:]PORT"
        )
    from wsctl.net.metrics_tls import MetricsOnTLSPort

    return {"http_endpoint": MetricsOnTLSPort(metrics[0])}


def start_metrics(metrics: tuple, server) -> str:
    """Bind the gauges to ``server``, start the plain listener unless on the TLS
    port; the URL to scrape."""
    from wsctl.core.errors import InvalidInput

    registry, host, port = metrics
    registry.bind(server)
    if host is None:
        return server.url.replace("wss://", "https://", 1) + "metrics"
    try:
        m_host, m_port = registry.start(host, port)
    except OSError as exc:
        raise InvalidInput(f"--metrics: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return f"http://{m_host}:{m_port}/metrics"
