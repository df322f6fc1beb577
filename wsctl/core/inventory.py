"""Inventory files: named devices and groups (ssh-config style, in TOML).

```toml
[defaults]                     # applies to every device unless it overrides
certs = "./certs"              # a wsctl PKI store: CA from it, operator cert from it
operator = "alice"
ca = "ca/root.crt"             # or explicit files (relative to this file)

[devices.plc-17]
url = "wss://10.0.0.17:8443/"
profile = "conveyor"
pin = "sha256:3f1c..."

[groups]
line-1 = ["plc-17", "plc-18"]
```

Pure: parses text, resolves names; the CLI finds and reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from wsctl.core.device_entry import DeviceEntry, url_entry, with_overrides
from wsctl.core.errors import InvalidInput

__all__ = ["DeviceEntry", "Inventory", "parse_inventory", "with_overrides"]

# keys a device (or [defaults]) may set, and the type each must have
DEVICE_KEYS: dict[str, type] = {
    "url": str,
    "profile": str,
    "certs": str,
    "operator": str,
    "ca": str,
    "cert": str,
    "key": str,
    "crl": str,
    "pin": str,
    "tls_server_name": str,
    "subprotocols": list,
    "headers": list,
    "password_file": str,
}
PATH_KEYS = ("certs", "ca", "cert", "key", "crl", "password_file")


@dataclass
class Inventory:
    source: str = "<none>"
    devices: dict[str, DeviceEntry] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def resolve(self, target: str) -> list[DeviceEntry]:
        """A URL, a device alias, or a group (expanded in order, duplicates dropped)."""
        if "://" in target:
            return [url_entry(target)]
        if target in self.devices:
            return [self.devices[target]]
        if target in self.groups:
            return [self.devices[name] for name in self.groups[target]]
        known = sorted({*self.devices, *self.groups})
        hint = (
            f"known names in {self.source}: {', '.join(known)}"
            if known
            else "give a wss:// URL or add the device to an inventory file"
        )
        from wsctl.core.suggest import did_you_mean

        raise InvalidInput(
            f"unknown target {target!r}: not a URL, device or group{did_you_mean(target, known)}", hint=hint
        )

    def resolve_all(self, targets: list[str]) -> list[DeviceEntry]:
        seen: dict[str, DeviceEntry] = {}
        for target in targets:
            for entry in self.resolve(target):
                seen.setdefault(entry.name, entry)
        return list(seen.values())


def _check_fields(where: str, table: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        expected = DEVICE_KEYS.get(key)
        if expected is None:
            raise InvalidInput(f"{source}: {where}: unknown key {key!r} (known: {', '.join(DEVICE_KEYS)})")
        if not isinstance(value, expected):
            raise InvalidInput(f"{source}: {where}.{key}: expected {expected.__name__}, got {type(value).__name__}")
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise InvalidInput(f"{source}: {where}.{key}: expected a list of strings")
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def _anchor(values: dict[str, Any], base: PurePath | None) -> dict[str, Any]:
    # relative paths mean "next to the inventory file", whatever the working directory
    if base is None:
        return values
    return {k: (str(base / v) if k in PATH_KEYS and not PurePath(v).is_absolute() else v) for k, v in values.items()}


def parse_inventory(text: str, *, source: str = "<inventory>", base: PurePath | None = None) -> Inventory:
    from wsctl.core.toml_text import parse_toml  # only with an inventory: a single-URL send never loads tomllib

    data = parse_toml(text, source)
    unknown = set(data) - {"defaults", "devices", "groups"}
    if unknown:
        raise InvalidInput(
            f"{source}: unknown section(s) {', '.join(sorted(unknown))} (known: defaults, devices, groups)"
        )
    for section, what in (("defaults", "a table"), ("devices", "a table of devices"), ("groups", "a table of groups")):
        if not isinstance(data.get(section, {}), dict):
            raise InvalidInput(
                f"{source}: {section}: expected {what} ([{section}]), got {type(data[section]).__name__}"
            )
    defaults = _anchor(_check_fields("defaults", data.get("defaults", {}), source), base)
    defaults.pop("url", None)
    inventory = Inventory(source=source)
    for name, table in data.get("devices", {}).items():
        if not isinstance(table, dict):
            raise InvalidInput(f"{source}: devices.{name}: expected a table")
        values = {**defaults, **_anchor(_check_fields(f"devices.{name}", table, source), base)}
        url = values.get("url")
        if not url:
            raise InvalidInput(f"{source}: devices.{name}: missing url")
        _check_url(url, f"{source}: devices.{name}.url")
        inventory.devices[name] = DeviceEntry(name=name, **values)
    for group, members in data.get("groups", {}).items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InvalidInput(f"{source}: groups.{group}: expected a list of device names")
        if not members:
            # a fleet command on it would run on nothing and report success
            raise InvalidInput(f"{source}: groups.{group}: an empty group (list at least one device)")
        if group in inventory.devices:
            raise InvalidInput(f"{source}: groups.{group}: a device has the same name")
        missing = [m for m in members if m not in inventory.devices]
        if missing:
            raise InvalidInput(f"{source}: groups.{group}: unknown device(s) {', '.join(missing)}")
        inventory.groups[group] = tuple(dict.fromkeys(members))
    return inventory


def _check_url(url: Any, where: str) -> None:
    """A device's URL, checked when the inventory is read: a bad one names its
    entry (exit 8) before anything is sent to the others; never shown with its password."""
    from urllib.parse import urlsplit

    from wsctl.core.urls import public_url

    if not isinstance(url, str) or not url.startswith(("wss://", "ws://")):
        shown = public_url(url) if isinstance(url, str) else url
        raise InvalidInput(f"{where}: expected wss://... , got {shown!r}")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        raise InvalidInput(f"{where}: not a valid URL: {public_url(url)!r} ({exc})") from None
    if not parts.hostname:
        raise InvalidInput(f"{where}: no host in {public_url(url)!r}")
