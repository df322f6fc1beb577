"""wsctl: WebSocket over TLS (wss, mutual TLS) for automation equipment.

The public Python API is exactly the names in `__all__`, re-exported here
(docs/python-api.md lists them; tests/test_public_api.py checks that the two
agree).  Everything else — `wsctl.net.*`, `wsctl.core.*`, `wsctl.pki.*`,
`wsctl.cli.*` — is private and may change between versions.

The names are imported on first use (a module `__getattr__`), so that
``import wsctl`` and the CLI's start-up do not pay for trio and cryptography
until they are used; type checkers and IDEs see them through the
`TYPE_CHECKING` imports below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access
_LAZY = {
    # client: one device, its messages, its profile commands
    "open_device": "wsctl.net.api",
    "Device": "wsctl.net.api",
    # what Device.events() yields (and what Device.call() reads replies from)
    "CodecEvent": "wsctl.core.profile.events",
    "Reply": "wsctl.core.profile.events",
    "Telemetry": "wsctl.core.profile.events",
    "DeviceRequest": "wsctl.core.profile.events",
    "Unmatched": "wsctl.core.profile.events",
    "Malformed": "wsctl.core.profile.events",
    "Received": "wsctl.core.profile.events",
    "load_profile": "wsctl.files.profiles",
    "Profile": "wsctl.core.profile.model",
    # reconnect
    "run_with_reconnect": "wsctl.net.reconnect",
    "Gap": "wsctl.net.reconnect",
    "Backoff": "wsctl.core.backoff",
    # server
    "serve": "wsctl.net.server",
    "Server": "wsctl.net.server",
    "ServerConnection": "wsctl.net.serverconn",
    "ConnectionRequest": "wsctl.net.serverconn",
    "Accept": "wsctl.net.serverconn",
    "Reject": "wsctl.net.serverconn",
    "AccessRecord": "wsctl.net.serverconn",
    "echo_handler": "wsctl.net.serverconn",
    "Simulator": "wsctl.net.simulate",
    # hub: the central side devices dial into
    "serve_hub": "wsctl.net.hub.api",
    "Hub": "wsctl.net.hub.hub",
    "Registry": "wsctl.registry",
    "AuditLog": "wsctl.net.simulate",
    # recordings
    "Recorder": "wsctl.net.recorder",
    "open_recording": "wsctl.files.recording_reader",
    # certificates
    "Store": "wsctl.pki.store",
    "Identity": "wsctl.pki.identity",
    # errors: each carries exit_code (docs/exit-codes.md) and a one-line message
    "WsctlError": "wsctl.core.errors",
    "UsageError": "wsctl.core.errors",
    "InvalidInput": "wsctl.core.errors",
    "StoreError": "wsctl.core.errors",
    "PasswordError": "wsctl.core.errors",
    "ConnectError": "wsctl.core.errors",
    "TLSError": "wsctl.core.errors",
    "HandshakeRejected": "wsctl.core.errors",
    "Timeout": "wsctl.core.errors",
    "DeviceError": "wsctl.core.errors",
    "NotAuthorized": "wsctl.core.errors",
    "ConnectionClosed": "wsctl.core.errors",
    "RecordingError": "wsctl.core.record.format",
}

__all__ = [  # a literal, so type checkers read it (tests/test_public_api.py: the same names as _LAZY)
    "__version__",
    "Accept",
    "AccessRecord",
    "AuditLog",
    "Backoff",
    "CodecEvent",
    "ConnectError",
    "ConnectionClosed",
    "ConnectionRequest",
    "Device",
    "DeviceError",
    "DeviceRequest",
    "Gap",
    "HandshakeRejected",
    "Hub",
    "Identity",
    "InvalidInput",
    "Malformed",
    "NotAuthorized",
    "PasswordError",
    "Profile",
    "Received",
    "Recorder",
    "RecordingError",
    "Registry",
    "Reject",
    "Reply",
    "Server",
    "ServerConnection",
    "Simulator",
    "Store",
    "StoreError",
    "TLSError",
    "Telemetry",
    "Timeout",
    "Unmatched",
    "UsageError",
    "WsctlError",
    "echo_handler",
    "load_profile",
    "open_device",
    "open_recording",
    "run_with_reconnect",
    "serve",
    "serve_hub",
]

if TYPE_CHECKING:  # the same names, for type checkers (tests/test_public_api.py keeps them equal)
    from wsctl.core.backoff import Backoff
    from wsctl.core.errors import (
        ConnectError,
        ConnectionClosed,
        DeviceError,
        HandshakeRejected,
        InvalidInput,
        NotAuthorized,
        PasswordError,
        StoreError,
        Timeout,
        TLSError,
        UsageError,
        WsctlError,
    )
    from wsctl.core.profile.events import CodecEvent, DeviceRequest, Malformed, Received, Reply, Telemetry, Unmatched
    from wsctl.core.profile.model import Profile
    from wsctl.core.record.format import RecordingError
    from wsctl.files.profiles import load_profile
    from wsctl.files.recording_reader import open_recording
    from wsctl.net.api import Device, open_device
    from wsctl.net.hub.api import serve_hub
    from wsctl.net.hub.hub import Hub
    from wsctl.net.reconnect import Gap, run_with_reconnect
    from wsctl.net.recorder import Recorder
    from wsctl.net.server import Server, serve
    from wsctl.net.serverconn import Accept, AccessRecord, ConnectionRequest, Reject, ServerConnection, echo_handler
    from wsctl.net.simulate import AuditLog, Simulator
    from wsctl.pki.identity import Identity
    from wsctl.pki.store import Store
    from wsctl.registry import Registry


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'wsctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
