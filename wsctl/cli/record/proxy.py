"""`wsctl record proxy`: a recording proxy between operators' tools and a device."""

from __future__ import annotations

import functools

import click

from wsctl.cli.record.common import recording_options
from wsctl.cli.support.client_options import ClientOptions, client_options_without_crl
from wsctl.cli.support.env import Environment
from wsctl.cli.support.listen import limit_options
from wsctl.core.urls import public_url


@click.command("proxy")
@click.option(
    "--listen",
    default="127.0.0.1:9443",
    show_default=True,
    help="HOST:PORT for the tools to connect to; port 0 picks a free one.",
)
@click.option("--upstream", required=True, metavar="TARGET", help="The device: wss:// URL or inventory alias.")
@recording_options
@click.option("--device", "device_name", help="Certificate NAME from the store (--certs) the proxy serves with.")
@click.option(
    "--server-cert", type=click.Path(dir_okay=False), help="Server certificate chain (PEM), instead of the store."
)
@click.option("--server-key", type=click.Path(dir_okay=False), help="Server private key (PEM).")
@click.option(
    "--client-ca",
    type=click.Path(dir_okay=False),
    help="CA that issues the tools' client certificates [default with --certs: the store's].",
)
@click.option(
    "--crl",
    type=click.Path(dir_okay=False),
    help="CRL checked against the tools' client certificates [default with --certs: the store's; the device's "
    "certificate is checked against the store's too, with the store's CA, or an inventory's crl].",
)
@click.option(
    "--client-auth",
    type=click.Choice(["required", "optional", "none"]),
    default=None,
    help="Client certificates [default: required when a CA is given].",
)
@click.option(
    "--profile",
    "profile_name",
    help="Profile noted in the recording; its subprotocols and path are used upstream; commands are checked against the tool's role.",
)
@limit_options(peers="tools", connections=100, handshakes=32, per_source=8)
@click.option(
    "--forward-client-cert",
    is_flag=True,
    help="Tell the device who each tool is: an x-forwarded-client-cert header (Envoy's form: Hash, Subject, URI, Role "
    "of the tool's certificate) on the upstream upgrade. Off by default; a tool can never send it itself.",
)
@click.option(
    "--metrics",
    "metrics_listen",
    metavar="[HOST:]PORT|tls",
    default=None,
    help="Serve Prometheus metrics (the proxy's connections and the recording's bytes written) over plain HTTP at "
    "http://HOST:PORT/metrics [HOST default: 127.0.0.1], or with 'tls' at /metrics on --listen for operator "
    "certificates (needs prometheus-client).",
)
@client_options_without_crl
@click.pass_obj
def proxy(
    env: Environment,
    listen: str,
    upstream: str,
    output: str,
    max_size,
    redact,
    device_name,
    server_cert,
    server_key,
    client_ca,
    crl,
    client_auth,
    profile_name,
    max_connections,
    max_handshakes,
    max_handshakes_per_source,
    max_buffered_bytes,
    forward_client_cert,
    metrics_listen,
    client: ClientOptions,
) -> None:
    """Relay tools ↔ device unchanged and record both directions.

    Tools connect to --listen over wss (the proxy's certificate: --certs DIR
    --device NAME; their client certificates checked against the store's CA
    and CRL). For each tool the proxy connects to --upstream as the operator
    given by --operator (or --cert/--key), relays every message both ways
    (text as text, binary as binary, close codes passed on) and records them
    on one connection id: tool → device "out", device → tool "in".

    The device sees the proxy's operator, so each tool's own role (from its
    client certificate) is checked: with --profile per command (a command the
    tool's role may not run is answered with the protocol's not_authorized
    error and not forwarded); without one per connection (tools need at least
    the proxy operator's role, else HTTP 403). With --profile a message that
    parsers could read two ways (a key twice, a request that is also a reply,
    a second command after a line break or ';') is refused for every tool.
    --forward-client-cert tells the device each tool's identity in an x-forwarded-client-cert
    header. Pings and pongs are relayed and recorded. --metrics: docs/monitoring.md.

    An upstream that refuses closes the tool with 1011 "bad gateway: ...", one that drops
    with 1011 "upstream connection lost"; both are recorded. Ctrl-C/SIGTERM stops it
    (tools get close 1001, the recording is complete, exit 130/143).

    \b
    EXAMPLES
      wsctl record proxy --listen 127.0.0.1:9443 --upstream wss://10.0.0.17:8443/ -o s.jsonl \\
            --certs certs --device recorder --operator alice
      wsctl --json record proxy --listen 127.0.0.1:0 --upstream plc-17 -o s.jsonl --certs certs --device recorder --operator alice
    """
    from wsctl.cli.record.common import one_device, run_recording
    from wsctl.cli.support.listen import parse_listen, probe_listen
    from wsctl.cli.support.server_output import server_stdout
    from wsctl.cli.support.server_setup import metrics_listener
    from wsctl.net.recorder import Recorder

    host, port = parse_listen(listen)
    probe_listen(host, port)
    metrics = metrics_listener(metrics_listen)
    url, kwargs, profile = one_device(env, upstream, client, profile_name, "--upstream")
    tls, password, client_auth = _proxy_tls(
        env, client, device_name, (server_cert, server_key, client_ca, crl), client_auth
    )
    profile_id = profile.id if profile is not None else None
    rec = Recorder.for_client(output, url, kwargs, profile=profile_id, max_size=max_size, redact=redact, source="proxy")
    limits = dict(
        max_connections=max_connections, max_handshakes=max_handshakes,
        max_handshakes_per_source=max_handshakes_per_source, max_buffered_bytes=max_buffered_bytes,
    )  # fmt: skip
    main = functools.partial(
        _relay, env, url, kwargs, rec, profile, forward_client_cert, (host, port), password, client_auth,
        client.max_message_size, limits, tls, metrics, output,
    )  # fmt: skip

    try:
        with server_stdout(env):
            run_recording(env, rec, main)
    finally:
        if metrics:
            metrics[0].stop()


def _proxy_tls(env: Environment, client: ClientOptions, device_name, files: tuple, client_auth):
    """(TLS material, key passphrase, client-auth mode) of the proxy's listener; files: cert, key, client CA, CRL."""
    from wsctl.cli.support.server_setup import server_tls

    cert, key, client_ca, crl = files
    return server_tls(
        env,
        client.certs if device_name else None,
        device_name,
        cert,
        key,
        client_ca,
        crl,
        None,
        client_auth,
        False,
        missing="the proxy needs a server certificate: --certs DIR --device NAME, or --server-cert/--server-key",
        open_warning="tools have no role, so the proxy forwards only what a role-less tool may do "
        "(nothing at all when its own operator has a role and no --profile is given)",
    )


async def _relay(
    env: Environment,
    url: str,
    kwargs: dict,
    rec,
    profile,
    forward_client_cert: bool,
    address: tuple[str, int],
    password,
    client_auth: str,
    max_message_size: int,
    limits: dict,
    tls: dict,
    metrics,
    output: str,
) -> None:
    """Serve tools on ADDRESS, relaying each to the device at URL, until cancelled."""
    import trio

    from wsctl.cli.support.server_setup import metrics_on_tls_port
    from wsctl.net.proxy import RecordingProxy

    shown = public_url(url)  # the lines it prints never hold the upstream's password
    relay = RecordingProxy(
        url, kwargs, rec, profile=profile, forward_client_cert=forward_client_cert, on_event=_event_printer(env, shown)
    )
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(
                relay.run,
                host=address[0],
                port=address[1],
                password=password,
                client_auth=client_auth,
                subprotocols=tuple(kwargs.get("subprotocols") or ()),
                max_message_size=max_message_size,
                access_log=metrics[0].access if metrics else None,
                **limits,
                **tls,
                **metrics_on_tls_port(metrics, tls),
            )
        )
        _say_listening(env, server, shown, output, client_auth, metrics, rec)


def _say_listening(env: Environment, server, url: str, output: str, client_auth: str, metrics, rec) -> None:
    from wsctl.cli.support.server_setup import start_metrics

    extra = {}
    if metrics:
        metrics[0].bind_recorder(rec)
        extra["metrics"] = start_metrics(metrics, server)
    env.emit(
        {"event": "listening", "url": server.url, "upstream": url, "file": output, "client_auth": client_auth, **extra},
        f"recording proxy on {server.url} -> {url}, recording to {output}"
        + (f"; metrics at {extra['metrics']}" if extra else ""),
    )


def _event_printer(env: Environment, url: str):
    """The proxy's per-connection events as lines (--json: objects `proxy-<event>`)."""

    def on_event(fields: dict) -> None:
        peer = fields.get("peer") or {}
        who = peer.get("name") or peer.get("remote", "?")
        text = {
            "opened": lambda: f"#{fields['conn']} {who}: connected through to {url}",
            "refused": lambda: f"#{fields['conn']} {who}: upstream refused: {fields.get('error')}",
            "closed": lambda: f"#{fields['conn']} {who}: closed by {fields.get('by')} ({fields.get('code')})",
            "denied": lambda: f"#{fields['conn']} {who}: not forwarded: {fields.get('error')}",
            "forbidden": lambda: f"{who}: refused (HTTP 403): {fields.get('error')}",
        }[fields["event"]]()
        if env.verbosity >= 0 or env.json:
            env.emit({**fields, "event": f"proxy-{fields['event']}"}, text)

    return on_event
