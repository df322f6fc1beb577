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
