"""`--listen HOST:PORT` for the verbs that listen (`serve`, `record --listen`)."""

from __future__ import annotations

from wsctl.core.errors import InvalidInput, UsageError


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT, or :PORT (all interfaces)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen expects HOST:PORT, got {value!r}")
    host = host.strip("[]")
    return (host or "0.0.0.0"), int(port)


def probe_listen(host: str, port: int) -> None:
    """Refuse a busy port before anything is written (the proxy truncates its
    output file when it starts).  Binds the way trio's listeners do, with
    SO_REUSEADDR, so the answer is the one the real listener will get; port 0
    always works."""
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidInput(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="pick another port, or stop what holds it",
            ) from None


def limit_options(*, peers: str, connections: int, handshakes: int, per_source: int):
    """--max-connections, --max-handshakes, --max-handshakes-per-source and
    --max-buffered-bytes for a listening verb (`serve`: peers; `record --listen`:
    tools), with that verb's defaults: the same limits, one definition."""
    import click

    options = [
        click.option(
            "--max-connections",
            type=click.IntRange(min=1),
            default=connections,
            show_default=True,
            help=f"Open connections; more {peers} are refused with HTTP 503.",
        ),
        click.option(
            "--max-handshakes",
            type=click.IntRange(min=1),
            default=handshakes,
            show_default=True,
            help=f"{peers.capitalize()} still in their TLS or WebSocket handshake; when full, the oldest is dropped for a new one.",
        ),
        click.option(
            "--max-handshakes-per-source",
            type=click.IntRange(min=1),
            default=per_source,
            show_default=True,
            help="Handshakes at once from one IP address; further ones from it wait for a slot.",
        ),
        click.option(
            "--max-buffered-bytes",
            type=click.IntRange(min=1),
            default=None,
            help=f"Bytes received from one of the {peers} and not yet handled; over it that connection is closed "
            "with 1008  [default: 4 MiB or --max-message-size if larger].",
        ),
    ]

    def apply(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def timing_options(*, message_size: int, handshake_timeout: float, idle_timeout: float):
    """--max-message-size, --handshake-timeout and --idle-timeout for a server
    verb (`serve`, `hub`), with that verb's defaults: one definition."""
    import click

    options = [
        click.option(
            "--max-message-size",
            type=click.IntRange(min=1),
            default=message_size,
            show_default=True,
            help="Larger messages are refused with close 1009.",
        ),
        click.option(
            "--handshake-timeout",
            type=click.FloatRange(min=0.1),
            default=handshake_timeout,
            show_default=True,
            help="Seconds for TLS + WebSocket handshake.",
        ),
        click.option(
            "--idle-timeout",
            type=click.FloatRange(min=0.0),
            default=idle_timeout,
            show_default=True,
            help="Close (1001) a connection whose peer sent nothing, not even a ping, for S seconds; 0: never.",
        ),
    ]

    def apply(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def server_limits(given: dict) -> dict:
    """The `serve()` limits from the options `limit_options` and `timing_options` declared
    (an idle timeout of 0 is none)."""
    return dict(
        max_message_size=given["max_message_size"],
        max_connections=given["max_connections"],
        max_handshakes=given["max_handshakes"],
        max_handshakes_per_source=given["max_handshakes_per_source"],
        max_buffered_bytes=given["max_buffered_bytes"],
        handshake_timeout=given["handshake_timeout"],
        idle_timeout=given["idle_timeout"] or None,
    )
