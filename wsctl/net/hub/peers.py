"""What a hub expects of its federation (other hubs on an MQTT 5 broker,
DESIGN.md section 12): the interface `Hub.peers` is typed against.  A hub
alone has ``peers = None`` and none of this runs.

Every hook is called on the hub's trio thread and must not block: a
federation hands the work to its own tasks (a broker that is slow or gone
never slows a device or an operator down)."""

from __future__ import annotations

from typing import Any, Protocol

from wsctl.core.hub.outcome import CallOutcome
from wsctl.core.profile.events import CodecEvent
from wsctl.core.profile.model import Command


class Peers(Protocol):
    def device_online(self, device_id: str, record: Any) -> None:
        """``device_id`` connected to this hub (``record``: its registry record)."""

    def device_offline(self, device_id: str, reason: str) -> None:
        """``device_id`` left this hub."""

    def device_message(self, device_id: str, item: CodecEvent) -> None:
        """A message from the device (telemetry, a request the hub answered,
        anything unmatched), decoded by its profile; ``item.raw`` is the frame."""

    def holder(self, device_id: str) -> str | None:
        """The id of the other hub that holds ``device_id`` now, if one does."""

    def unreachable(self, device_id: str) -> str | None:
        """Why the other hub holding ``device_id`` cannot be asked now (the
        broker is away), or None."""

    async def call_remote(self, caller: Any, command: Command, params: dict[str, Any]) -> CallOutcome | None:
        """Run the call on the hub that holds the device (`holder`), which
        authorizes and audits it as its own; None when no other hub holds it
        (the call then runs here: offline, or queued)."""
