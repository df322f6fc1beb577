"""One device as a client verb connects to it, from a URL or an inventory entry.

Apart from `wsctl.core.inventory` (which parses inventory files) so that a verb
given only URLs does not load the inventory code.
"""

from __future__ import annotations

from typing import Any, NamedTuple


# A NamedTuple, not a frozen dataclass: it is on every client verb's start-up, and a
# frozen dataclass of 14 fields costs ~0.7 ms to build at import (docs/performance.md, Start-up)
class DeviceEntry(NamedTuple):
    """One device as the client connects to it; unset fields are None."""

    name: str
    url: str
    profile: str | None = None
    certs: str | None = None
    operator: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    crl: str | None = None
    pin: str | None = None
    tls_server_name: str | None = None
    subprotocols: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    password_file: str | None = None


def url_entry(url: str) -> DeviceEntry:
    """The entry of a target given as a URL: named by the URL without its credentials."""
    from wsctl.core.urls import public_url

    return DeviceEntry(name=public_url(url), url=url)


def with_overrides(entry: DeviceEntry, **overrides: Any) -> DeviceEntry:
    """Command-line options win over the inventory; None means "not given"."""
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    return entry._replace(**given)
