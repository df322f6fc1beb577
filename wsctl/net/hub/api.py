"""`serve_hub`: the hub from Python (what `wsctl hub` runs)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import trio

from wsctl.net.hub.hub import Hub


async def serve_hub(
    registry: Any,
    *,
    cert_chain: str | os.PathLike[str],
    key: str | os.PathLike[str],
    ca: str | os.PathLike[str],
    crl: str | os.PathLike[str] | None = None,
    password: str | bytes | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    default_profile: str | None = None,
    device_paths: Sequence[str] = (),
    approval: bool = False,
    record_dir: str | None = None,
    signer: Any = None,
    task_status: trio.TaskStatus[Hub] = trio.TASK_STATUS_IGNORED,
    **serve_kwargs: Any,
) -> None:
    """Run a hub until cancelled; ``await nursery.start(serve_hub, ...)`` gives
    the `Hub` (``hub.server.port``, ``hub.links``: the connected devices).

    ``registry``: an open `wsctl.registry.Registry` or a path (opened here and
    closed on return).  TLS material as for `wsctl.serve`; ``serve_kwargs`` are
    its limits (max_connections, handshake_timeout, idle_timeout ...).
    ``signer``: a `wsctl.net.hub.cert_manager.CertificateSigner` signs the
    chargers' CSRs with the plant CA (what `wsctl hub --sign-certificates` runs).
    """
    from wsctl.files.profiles import load_profile
    from wsctl.registry import Registry

    own = not isinstance(registry, Registry)
    reg = Registry.open(registry) if own else registry
    try:
        hub = Hub(
            reg,
            load_profile=load_profile,
            default_profile=default_profile,
            device_paths=device_paths,
            approval=approval,
            record_dir=record_dir,
            signer=signer,
        )

        async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            await hub.run(
                task_status=task_status,
                host=host,
                port=port,
                cert_chain=os.fspath(cert_chain),
                key=os.fspath(key),
                ca=os.fspath(ca),
                crl=os.fspath(crl) if crl is not None else None,
                password=password,
                **serve_kwargs,
            )

        async with trio.open_nursery() as nursery:
            hub.server = await nursery.start(run)
            task_status.started(hub)
    finally:
        if own:
            reg.close()
