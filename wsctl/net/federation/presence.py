"""Who is where, as the broker's retained messages say: each hub's state and
each device's presence.  A device's presence counts only while the hub it
names is online — a hub killed with -9 leaves its devices' retained state
saying "online on hub-a" until they reconnect elsewhere, and its Last Will is
what makes that claim void."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Seen:
    hub: str | None
    online: bool


class Presence:
    def __init__(self) -> None:
        self.hubs: dict[str, bool] = {}
        self.devices: dict[str, Seen] = {}

    def hub_state(self, hub: str, doc: dict[str, Any] | None) -> bool:
        """Record a hub's state (None: its retained state was cleared, and
        the hub is forgotten); True when it went offline."""
        now = bool(doc and doc.get("online") is True)
        was = self.hubs.pop(hub, False) if doc is None else self.hubs.get(hub, False)
        if doc is not None:
            self.hubs[hub] = now
        return was and not now

    def device_state(self, device_id: str, doc: dict[str, Any] | None) -> Seen:
        """Record a device's presence (None: its retained state was cleared,
        and the device is forgotten: ids nobody holds must not pile up)."""
        if doc is None:
            self.devices.pop(device_id, None)
            return Seen(None, False)
        hub = doc.get("hub")
        seen = Seen(hub if isinstance(hub, str) else None, doc.get("online") is True)
        self.devices[device_id] = seen
        return seen

    def holder(self, device_id: str) -> str | None:
        """The online hub the device is online on, if the broker says so."""
        seen = self.devices.get(device_id)
        if seen is None or not seen.online or seen.hub is None:
            return None
        return seen.hub if self.hubs.get(seen.hub) else None

    def named(self, device_id: str) -> str | None:
        """The hub the device's retained state names (online or not)."""
        seen = self.devices.get(device_id)
        return seen.hub if seen is not None else None

    def claimed_by(self, hub: str) -> list[str]:
        """Devices whose retained state says online on ``hub``."""
        return [d for d, s in self.devices.items() if s.online and s.hub == hub]
