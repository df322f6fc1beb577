"""wsctl: WebSocket over TLS (wss, mutual TLS) for automation equipment.

The public Python API is re-exported here lazily, so that `import wsctl` (and the
CLI's start-up) does not pay for trio and cryptography until they are used.
"""

from __future__ import annotations

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access
_LAZY = {
    "open_device": "wsctl.net.api",
    "serve": "wsctl.net.api",
    "Device": "wsctl.net.api",
    "Store": "wsctl.pki.store",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'wsctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
