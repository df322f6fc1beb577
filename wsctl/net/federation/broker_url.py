"""The broker a hub federates through: ``--broker mqtts://HOST[:PORT]``
(kept apart from `wsctl.net.federation.mqtt` so the command line reads it
without paho or trio)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from wsctl.core.errors import InvalidInput, UsageError


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int
    tls: bool

    @property
    def shown(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str, *, allow_plain: bool = False) -> BrokerURL:
    """``mqtts://HOST[:8883]``; ``mqtt://`` only with ``allow_plain``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"--broker {url!r}: {exc}") from None
    if parts.scheme not in ("mqtts", "mqtt") or not parts.hostname:
        raise InvalidInput(f"--broker {url!r}: expected mqtts://HOST[:PORT]")
    if parts.username or parts.password or parts.path not in ("", "/"):
        raise InvalidInput(f"--broker {url!r}: only mqtts://HOST[:PORT] (the hub logs in with its certificate)")
    if parts.scheme == "mqtt" and not allow_plain:
        raise UsageError(
            f"--broker {url}: plain MQTT sends every command and reading in clear text, unauthenticated",
            hint="use mqtts://, or say so with --allow-plain-mqtt",
        )
    tls = parts.scheme == "mqtts"
    return BrokerURL(parts.hostname, port or (8883 if tls else 1883), tls)
