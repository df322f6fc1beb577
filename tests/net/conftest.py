"""Fixtures for the network tests: real servers on port 0, nothing mocked, with
the shared PKI (`pki`, tests/conftest.py and tests/shared_pki.py)."""

from __future__ import annotations

import functools

import pytest
import trio

from wsctl.net.api import echo_handler, serve


@pytest.fixture
def alice_kw(pki):
    """open_device keyword arguments for a good mutual-TLS client."""
    return dict(ca=pki.root, cert=pki.alice.chain, key=pki.alice.key, connect_timeout=5)


@pytest.fixture
def start_server(pki, nursery):
    """``server = await start_server(handler, **serve_kwargs)``; stopped with the test."""

    async def start(handler=echo_handler, **kw):
        opts = dict(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root, crl=pki.crl)
        opts.update(kw)
        return await nursery.start(functools.partial(serve, handler, **opts))

    return start


@pytest.fixture
async def silent_port(nursery) -> int:
    """A TCP port that accepts and then never says a word."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    held = []

    async def hold(stream):
        held.append(stream)
        await trio.sleep_forever()

    nursery.start_soon(functools.partial(trio.serve_listeners, hold, listeners))
    return listeners[0].socket.getsockname()[1]
