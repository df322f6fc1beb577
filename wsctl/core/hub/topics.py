"""The federation's MQTT topic tree and payload shapes (docs/federation.md), pure.

Version 1 of the tree; a change that breaks a reader is ``wsctl/v2``, never
an edit here::

    wsctl/v1/<site>/hubs/<hub>/state                  retained: the hub online/offline (its Last Will)
    wsctl/v1/<site>/hubs/<hub>/calls/<to-hub>         a call <hub> asks <to-hub> to run (hubs only)
    wsctl/v1/<site>/hubs/<hub>/replies/<to-hub>       <hub>'s answer to a call of <to-hub>
    wsctl/v1/<site>/devices/<id>/state                retained: presence (online, hub, since, profile, firmware)
    wsctl/v1/<site>/devices/<id>/telemetry/<name>     the device's unsolicited messages, decoded
    wsctl/v1/<site>/devices/<id>/events/<name>        the device's requests (boot, status, meter values ...)
    wsctl/v1/<site>/devices/<id>/cmd                  commands from the plant's own tools

Every level that comes from a name (site, hub, device, message name) obeys the
device id rule (`wsctl.core.hub.ids`): no ``/ + #``, never empty, so nothing a
device sends can reach a topic outside its own subtree.  A hub only ever
publishes under its own ``hubs/<hub>/`` level, so a broker ACL with ``%u``
(the certificate's CN as the user name) proves to the receiver which hub a
call came from.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.ids import check_device_id

ROOT = "wsctl"
VERSION = "v1"
#: payloads carry this, so a reader can tell the shape it got
PAYLOAD_VERSION = 1
#: message name level for device messages without a (valid) name in the profile
UNNAMED = "unknown"
#: largest payload a hub reads from the broker (calls and commands are small)
MAX_PAYLOAD = 64 * 1024
#: largest MQTT packet a hub takes from the broker (its MQTT 5 Maximum Packet
#: Size): `MAX_PAYLOAD` and room for the topic and the properties (a response
#: topic, correlation data), so a larger publish is never read, let alone copied
MAX_PACKET = 2 * MAX_PAYLOAD
#: most levels of a plant tool's response topic below ``replies/``
MAX_REPLY_LEVELS = 8


def check_level(text: str, what: str) -> str:
    """A name that becomes a topic level: the device id rule, named for what it is."""
    try:
        return check_device_id(text)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("device id", what)) from None


@dataclass(frozen=True)
class Tree:
    """The topics of one site."""

    site: str

    def __post_init__(self) -> None:
        check_level(self.site, "site")

    @property
    def base(self) -> str:
        return f"{ROOT}/{VERSION}/{self.site}"

    def hub_state(self, hub: str) -> str:
        return f"{self.base}/hubs/{hub}/state"

    def call(self, from_hub: str, to_hub: str) -> str:
        return f"{self.base}/hubs/{from_hub}/calls/{to_hub}"

    def reply(self, from_hub: str, to_hub: str) -> str:
        return f"{self.base}/hubs/{from_hub}/replies/{to_hub}"

    def device_state(self, device_id: str) -> str:
        return f"{self.base}/devices/{check_device_id(device_id)}/state"

    def device_message(self, device_id: str, kind: str, name: str | None) -> str:
        """``kind``: "telemetry" or "events"; an unusable name becomes ``unknown``."""
        return f"{self.base}/devices/{check_device_id(device_id)}/{kind}/{message_level(name)}"

    def command(self, device_id: str) -> str:
        return f"{self.base}/devices/{check_device_id(device_id)}/cmd"

    def registration(self, kind: str, key: str) -> str:
        """A shared registry record (retained; hubs only: a device's holds its
        secret's hash): ``kind`` "device" (key: its id) or "id-tag" (the tag)."""
        if kind == "device":
            return f"{self.base}/registry/devices/{check_device_id(key)}"
        return f"{self.base}/registry/id-tags/{tag_level(key)}"

    def is_reply_topic(self, topic: str) -> bool:
        """A response topic a hub may answer a plant tool's command on: under
        ``replies/``, 1 to `MAX_REPLY_LEVELS` levels, each by the device id
        rule.  The ACL lets a hub write far more (presence, telemetry, its own
        state): the tool's choice must not reach those."""
        prefix = self.base + "/replies/"
        if not topic.startswith(prefix):
            return False
        levels = topic[len(prefix) :].split("/", MAX_REPLY_LEVELS)
        return len(levels) <= MAX_REPLY_LEVELS and all(_valid(level) for level in levels)

    def subscriptions(self, hub: str) -> list[str]:
        """What a hub subscribes to: presence of hubs and devices, calls and
        replies addressed to it, and the plant tools' commands."""
        return [
            f"{self.base}/hubs/+/state",
            f"{self.base}/devices/+/state",
            f"{self.base}/hubs/+/calls/{hub}",
            f"{self.base}/hubs/+/replies/{hub}",
            f"{self.base}/devices/+/cmd",
        ]

    def registry_subscriptions(self) -> list[str]:
        """The shared registry's records (a state, not a stream of events: taken
        at QoS 0, since every (re)connection is sent the retained newest again)."""
        return [f"{self.base}/registry/devices/+", f"{self.base}/registry/id-tags/+"]

    def parse(self, topic: str) -> tuple[str, ...] | None:
        """``("hub-state", hub)``, ``("device-state", id)``, ``("call", from, to)``,
        ``("reply", from, to)``, ``("cmd", id)``, ``("registration", kind,
        level)`` (kind "device" or "id-tag"), or None for anything else."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix) :].split("/")
        if len(levels) == 3 and levels[0] == "registry":
            kind = _REGISTRY_KINDS.get(levels[1])
            return ("registration", kind, levels[2]) if kind is not None and _valid(levels[2]) else None
        shapes = {
            ("hubs", 3, "state"): "hub-state",
            ("devices", 3, "state"): "device-state",
            ("devices", 3, "cmd"): "cmd",
            ("hubs", 4, "calls"): "call",
            ("hubs", 4, "replies"): "reply",
        }
        if len(levels) not in (3, 4):
            return None
        kind = shapes.get((levels[0], len(levels), levels[2]))
        if kind is None or not _valid(levels[1]) or (len(levels) == 4 and not _valid(levels[3])):
            return None
        return (kind, levels[1]) if len(levels) == 3 else (kind, levels[1], levels[3])


_REGISTRY_KINDS = {"devices": "device", "id-tags": "id-tag"}


def tag_level(tag: str) -> str:
    """The topic level of an id tag: the tag itself where it is a valid level
    (RFID UIDs, tokens), else ``x-`` and 160 bits of its SHA-256 (a tag may
    hold ``/``, ``+``, ``#`` or spaces, which no topic level may)."""
    if _valid(tag) and not tag.startswith("x-"):
        return tag
    return "x-" + hashlib.sha256(tag.encode("utf-8")).hexdigest()[:40]


def _valid(level: str) -> bool:
    try:
        check_device_id(level)
    except InvalidInput:
        return False
    return True


def message_level(name: str | None) -> str:
    return name if isinstance(name, str) and _valid(name) else UNNAMED


# -- payloads ---------------------------------------------------------------------


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


def decode(payload: bytes) -> Any:
    """The JSON object of a payload; InvalidInput with one line for anything else."""
    if len(payload) > MAX_PAYLOAD:
        raise InvalidInput(f"payload of {len(payload)} bytes, more than {MAX_PAYLOAD}")
    try:
        doc = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("payload is not a JSON object")
    return doc


def state_problem(doc: dict[str, Any], key: str, name: str) -> str | None:
    """Why a hub's or a device's retained state (``key`` "hub" or "device")
    does not belong on the topic of ``name``, or None: the name in the
    document must be the topic's level and ``online`` a boolean (a document
    that says neither is no presence, whoever wrote it)."""
    if doc.get(key) != name:
        return f'"{key}" is {doc.get(key)!r}, not the topic\'s {name!r}'
    if not isinstance(doc.get("online"), bool):
        return '"online" is not true or false'
    return None


def hub_state(hub: str, *, online: bool, at: str | None, reason: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"v": PAYLOAD_VERSION, "hub": hub, "online": online, "since": at}
    if reason is not None:
        doc["reason"] = reason
    return doc


def device_state(
    device_id: str, hub: str, *, online: bool, at: str, record: Any = None, reason: str | None = None
) -> dict[str, Any]:
    """Presence as plant tools read it; ``record``: the hub's registry record."""
    doc: dict[str, Any] = {"v": PAYLOAD_VERSION, "device": device_id, "online": online, "hub": hub, "since": at}
    for key in ("profile", "vendor", "model", "firmware"):
        doc[key] = getattr(record, key, None)
    if reason is not None:
        doc["reason"] = reason
    return doc


def device_message(
    device_id: str, hub: str, *, at: str, kind: str, name: str | None, payload: Any, raw: str | bytes
) -> dict[str, Any]:
    """A device's message: decoded ``payload`` for plain readers, ``raw`` (or
    ``raw_base64`` for a binary frame) for lossless ones."""
    doc: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "device": device_id,
        "hub": hub,
        "at": at,
        "kind": kind,
        "name": name,
        "payload": payload,
    }
    if isinstance(raw, bytes):
        doc["raw_base64"] = base64.b64encode(raw).decode()
    else:
        doc["raw"] = raw
    return doc


@dataclass(frozen=True)
class CallRequest:
    """A call from the broker: another hub's (operator and role vouched for by
    that hub) or a plant tool's (role from ``--mqtt-command-role``)."""

    device: str
    command: str
    params: dict[str, Any]
    operator: str | None
    role: str | None
    timeout: float | None


def call_request(
    device_id: str, *, operator: str, role: str | None, command: str, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    return {
        "v": PAYLOAD_VERSION,
        "device": device_id,
        "operator": operator,
        "role": role,
        "command": command,
        "params": params,
        "timeout": timeout,
    }


def parse_call(doc: dict[str, Any], device_id: str | None = None) -> CallRequest:
    """A call's fields, checked for shape (the hub that runs it checks the
    command and parameters against the profile); InvalidInput naming the field."""
    device = device_id if device_id is not None else doc.get("device")
    if not isinstance(device, str):
        raise InvalidInput("call without a device")
    check_device_id(device)
    command = doc.get("command")
    if not isinstance(command, str) or not command:
        raise InvalidInput('call without a "command" (text)')
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise InvalidInput('"params" must be a JSON object')
    operator, role = doc.get("operator"), doc.get("role")
    for name, value in (("operator", operator), ("role", role)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 128):
            raise InvalidInput(f'"{name}" must be text of 1 to 128 characters')
    timeout = doc.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise InvalidInput('"timeout" must be a positive number of seconds')
    return CallRequest(device, command, params, operator, role, float(timeout) if timeout is not None else None)
