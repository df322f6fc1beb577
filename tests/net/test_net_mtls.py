"""Mutual TLS end to end, and each certificate failure reported as what it is."""

from __future__ import annotations

import ssl

import pytest
import trio

from wsctl.core.errors import TLSError
from wsctl.core.exit_table import ExitCode
from wsctl.net.api import echo_handler, open_device


async def test_mutual_tls_roundtrip_and_identity_in_handler(start_server, alice_kw):
    seen = []

    async def handler(conn):
        seen.append((conn.identity, conn.path, conn.remote))
        await echo_handler(conn)

    server = await start_server(handler)
    with trio.fail_after(5):
        async with open_device(server.url + "plant?x=1", **alice_kw) as dev:
            await dev.send("hello")
            assert await dev.receive(timeout=2) == "hello"
            await dev.send(b"\x00\xff")
            assert await dev.receive(timeout=2) == b"\x00\xff"
            assert dev.tls_version == "TLSv1.3"
            assert dev.peer_fingerprint.startswith("sha256:") and len(dev.peer_fingerprint) == 71
    identity, path, remote = seen[0]
    assert identity.kind == "operator" and identity.name == "alice" and identity.role == "engineer"
    assert identity.uri == "urn:wsctl:operator:alice"
    assert path == "/plant?x=1"
    assert remote.startswith("127.0.0.1:")


async def _fails(url, **kw) -> TLSError:
    # reported at once (DESIGN.md section 6), shown without timing it: the open's
    # deadline is far past the bound, so a TLSError cannot have come from waiting
    with trio.fail_after(30):
        with pytest.raises(TLSError) as info:
            async with open_device(url, **{**kw, "connect_timeout": 600}):
                pass
    assert info.value.exit_code == ExitCode.TLS
    return info.value


async def test_unknown_ca(start_server, pki, alice_kw):
    server = await start_server()
    err = await _fails(server.url, **{**alice_kw, "ca": pki.other_root})
    assert "unknown CA" in str(err) and "Test CA Issuing" in str(err)


async def test_hostname_mismatch_names_both(start_server, alice_kw):
    server = await start_server()
    err = await _fails(server.url, **alice_kw, tls_server_name="plc-99.example")
    assert "'plc-99.example'" in str(err) and "DNS:localhost" in str(err) and "IP:127.0.0.1" in str(err)


async def test_ip_mismatch_names_both(pki, nursery, alice_kw):
    import functools

    from wsctl.net.api import serve

    # 127.0.0.2 is loopback on Linux but not in the device certificate
    server = await nursery.start(
        functools.partial(
            serve, echo_handler, host="127.0.0.2", cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root
        )
    )
    err = await _fails(f"wss://127.0.0.2:{server.port}/", **alice_kw)
    assert "IP address 127.0.0.2" in str(err) and "IP:127.0.0.1" in str(err)


async def test_hostname_by_name_works(start_server, alice_kw):
    server = await start_server()
    with trio.fail_after(5):
        async with open_device(f"wss://localhost:{server.port}/", **alice_kw) as dev:
            await dev.send("x")
            assert await dev.receive(timeout=2) == "x"


async def test_expired_device_certificate(start_server, pki, alice_kw):
    server = await start_server(cert_chain=pki.expired_chain, key=pki.expired_key)
    err = await _fails(server.url, **alice_kw)
    assert "expired" in str(err)


async def test_revoked_operator_refused(start_server, pki, alice_kw):
    records = []
    server = await start_server(access_log=records.append)
    err = await _fails(server.url, **{**alice_kw, "cert": pki.mallory.chain, "key": pki.mallory.key})
    assert "revoked" in str(err)
    with trio.fail_after(2):
        while not records:
            await trio.sleep(0.01)
    assert records[0].outcome == "tls-failed" and "revoked" in records[0].error


async def test_operator_from_other_ca_refused(start_server, pki, alice_kw):
    server = await start_server()
    err = await _fails(server.url, **{**alice_kw, "cert": pki.other_operator.chain, "key": pki.other_operator.key})
    assert "does not trust the CA of our client certificate" in str(err)


@pytest.mark.parametrize("version", ["TLSv1_3", "TLSv1_2"])
async def test_no_client_certificate_reported_fast(start_server, pki, version):
    server = await start_server()
    ctx = ssl.create_default_context(cafile=str(pki.root))
    ctx.maximum_version = getattr(ssl.TLSVersion, version)
    err = await _fails(server.url, ssl_context=ctx)
    assert "requires a client certificate" in str(err) or "handshake failure" in str(err)
    if version == "TLSv1_3":
        # trap 4: the alert that TLS 1.3 delivers only after the handshake
        assert "requires a client certificate" in str(err)


async def test_trap4_client_without_certificate_is_not_held(start_server, pki):
    """trap 4: with TLS 1.3 the server notices the missing certificate after the
    client finished; the client must hear about it at once, not after a timeout."""
    # both sides' timeouts are far past the bound: the error cannot be a timeout's
    server = await start_server(handshake_timeout=600)
    with pytest.raises(TLSError, match="requires a client certificate"):
        with trio.fail_after(30):
            async with open_device(server.url, ca=pki.root, connect_timeout=600):
                pass
