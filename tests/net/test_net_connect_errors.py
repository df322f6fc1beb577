"""Client-side failures other than certificate checks: each one a wsctl error with
the right exit code, fast, and every wait bounded."""

from __future__ import annotations

import functools
import ssl

import pytest
import trio

from wsctl.core.errors import ConnectError, HandshakeRejected, PasswordError, Timeout, TLSError, UsageError
from wsctl.core.exit_table import ExitCode
from wsctl.net.api import Reject, echo_handler, open_device


async def _raises(exc_type, url, *, times_out=False, **kw):
    """The error opening URL raises.  "At once" without a timed assertion: unless the
    test is about the timeout (`times_out`), the open's own deadline is far beyond
    this wait's bound, so an error of the expected type (not `Timeout`, not
    `TooSlowError`) cannot have come from waiting."""
    if not times_out:
        kw["connect_timeout"] = 600
    with trio.fail_after(30):
        with pytest.raises(exc_type) as info:
            async with open_device(url, **kw):
                pass
    return info.value


async def test_refused_port_is_connect_error(alice_kw):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # now nothing listens there
    err = await _raises(ConnectError, f"wss://127.0.0.1:{port}/", **alice_kw)
    assert "refused" in str(err) and err.exit_code == ExitCode.CONNECT


async def test_dns_failure_is_connect_error(alice_kw):
    err = await _raises(ConnectError, "wss://no-such-device.invalid/", **alice_kw)
    assert "resolve" in str(err)


async def test_trap3_silent_peer_times_out_in_bounded_time(silent_port, alice_kw):
    """trap 3: a peer that accepts TCP and never answers must not hang the open."""
    err = await _raises(
        Timeout, f"wss://127.0.0.1:{silent_port}/", times_out=True, **{**alice_kw, "connect_timeout": 0.5}
    )
    # a Timeout from the open's deadline inside the bound, not the bound's TooSlowError
    assert "TLS handshake" in str(err) and err.exit_code == ExitCode.TIMEOUT


async def test_plaintext_refused_unless_allowed(alice_kw):
    err = await _raises(UsageError, "ws://127.0.0.1:1/", **alice_kw)
    assert "plaintext" in str(err)
    err = await _raises(UsageError, "https://example.com/", **alice_kw)
    assert "not a WebSocket URL" in str(err)


async def test_plaintext_when_allowed(nursery):
    from wsctl.net.api import serve

    server = await nursery.start(functools.partial(serve, echo_handler, allow_plaintext=True))
    assert server.url.startswith("ws://")
    with trio.fail_after(5):
        async with open_device(server.url, allow_plaintext=True) as dev:
            await dev.send("plain")
            assert await dev.receive(timeout=2) == "plain"


async def test_tls_to_plaintext_port_says_so(nursery, alice_kw):
    from wsctl.net.api import serve

    server = await nursery.start(functools.partial(serve, echo_handler, allow_plaintext=True))
    err = await _raises(TLSError, f"wss://127.0.0.1:{server.port}/", **alice_kw)
    assert "did not answer with TLS" in str(err)


async def test_http_rejection_status_and_body_from_authorize(start_server, alice_kw):
    def authorize(request):
        if request.path.startswith("/admin") and request.identity.role != "security-admin":
            raise Reject(403, f"role {request.identity.role} may not open {request.path}")

    server = await start_server(authorize=authorize)
    err = await _raises(HandshakeRejected, server.url + "admin", **alice_kw)
    assert err.status == 403 and err.body == "role engineer may not open /admin"
    assert "HTTP 403" in str(err) and err.exit_code == ExitCode.HANDSHAKE
    with trio.fail_after(5):
        async with open_device(server.url + "plant", **alice_kw) as dev:
            await dev.send("ok")
            assert await dev.receive(timeout=2) == "ok"


async def test_max_connections_rejected_with_503(start_server, alice_kw):
    records = []
    server = await start_server(max_connections=1, access_log=records.append)
    with trio.fail_after(5):
        async with open_device(server.url, **alice_kw) as first:
            err = await _raises(HandshakeRejected, server.url, **alice_kw)
            assert err.status == 503 and "server busy" in err.body
            await first.send("still fine")
            assert await first.receive(timeout=2) == "still fine"
    assert any(r.outcome == "rejected" and r.status == 503 for r in records)


async def test_pin_match_without_ca(start_server, pki, alice_kw):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from wsctl.pki.identity import fingerprint

    der = x509.load_pem_x509_certificate(pki.device.cert.read_bytes()).public_bytes(Encoding.DER)
    server = await start_server()
    kw = {**alice_kw, "ca": None}
    with trio.fail_after(5):
        # the pin is the whole trust decision: no CA needed, colons/case tolerated
        pin = fingerprint(der).upper().replace("SHA256:", "sha256:")
        async with open_device(server.url, pin=pin, **kw) as dev:
            assert dev.peer_fingerprint == fingerprint(der)


async def test_pin_mismatch_names_both(start_server, alice_kw):
    server = await start_server()
    wrong = "sha256:" + "ab" * 32
    err = await _raises(TLSError, server.url, pin=wrong, **alice_kw)
    assert wrong in str(err) and "got sha256:" in str(err)


async def test_known_devices_first_use_then_changed_then_trust_new(start_server, pki, alice_kw, tmp_path):
    known = tmp_path / "conf" / "known_devices"
    server = await start_server()
    key = f"127.0.0.1:{server.port}"
    with trio.fail_after(5):
        async with open_device(server.url, known_devices=known, **alice_kw) as dev:
            assert dev.known_device == "record"
            first = dev.peer_fingerprint
        assert known.read_text() == f"{key} {first}\n"
        async with open_device(server.url, known_devices=known, **alice_kw) as dev:
            assert dev.known_device == "known"
    # the device is re-provisioned: same names, new certificate, same address
    server2 = await start_server(cert_chain=pki.device2.chain, key=pki.device2.key)
    key2 = f"127.0.0.1:{server2.port}"
    known.write_text(f"# my plant\n{key} {first}\n{key2} {first}\n")
    err = await _raises(TLSError, server2.url, known_devices=known, **alice_kw)
    assert "changed" in str(err) and first in str(err) and "now presented sha256:" in str(err)
    assert "--trust-new" in err.hint
    with trio.fail_after(5):
        async with open_device(server2.url, known_devices=known, trust_new=True, **alice_kw) as dev:
            assert dev.known_device == "replace"
            new = dev.peer_fingerprint
    assert new != first
    assert known.read_text() == f"# my plant\n{key} {first}\n{key2} {new}\n"


async def test_wrong_key_passphrase(start_server, pki, alice_kw):
    kw = {**alice_kw, "cert": pki.carol.chain, "key": pki.carol.key}
    err = await _raises(PasswordError, "wss://127.0.0.1:1/", **kw, password="nope")
    assert "wrong passphrase" in str(err) and str(pki.carol.key) in str(err)
    err = await _raises(PasswordError, "wss://127.0.0.1:1/", **kw)
    assert "encrypted" in str(err)
    server = await start_server()
    with trio.fail_after(5):
        async with open_device(server.url, **kw, password="secret") as dev:
            await dev.send("k")
            assert await dev.receive(timeout=2) == "k"


def _old_tls_context(server_side: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
async def test_old_tls_client_refused_by_server(start_server, version):
    records = []
    server = await start_server(access_log=records.append)
    ctx = _old_tls_context(server_side=False)
    ctx.maximum_version = getattr(ssl.TLSVersion, version)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with trio.fail_after(5):
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        tls = trio.SSLStream(tcp, ctx, server_hostname="localhost")
        with pytest.raises(trio.BrokenResourceError) as info:
            await tls.do_handshake()
        while not records:
            await trio.sleep(0.01)
    assert "version" in str(info.value.__cause__).lower()
    assert records[0].outcome == "tls-failed" and "older than 1.2" in records[0].error


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
async def test_old_tls_server_refused_by_client(nursery, pki, alice_kw, version):
    ctx = _old_tls_context(server_side=True)
    ctx.maximum_version = getattr(ssl.TLSVersion, version)
    ctx.load_cert_chain(pki.device.chain, pki.device.key)
    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")

    async def old_device(stream):
        # a real TLS 1.1 stack answers with a protocol_version alert; trio's
        # server side needs wsctl's flush to send it
        from wsctl.net.server import _flush_alert

        with trio.move_on_after(2):
            try:
                await stream.do_handshake()
            except trio.BrokenResourceError:
                await _flush_alert(stream)

    nursery.start_soon(functools.partial(trio.serve_listeners, old_device, listeners))
    port = listeners[0].transport_listener.socket.getsockname()[1]
    err = await _raises(TLSError, f"wss://127.0.0.1:{port}/", **alice_kw)
    assert "TLS" in str(err) and ("1.2" in str(err))


async def test_expired_crl_is_refused_at_start(pki, tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    from wsctl.net.tls import server_context
    from wsctl.pki import keys

    issuing = x509.load_pem_x509_certificate(pki.store.issuing_cert_path.read_bytes())
    issuing_key = keys.load_private_key(pki.store.issuing_key_path.read_bytes(), b"pw", source="issuing")
    now = dt.datetime.now(dt.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuing.subject)
        .last_update(now - dt.timedelta(days=10))
        .next_update(now - dt.timedelta(days=1))
        .sign(issuing_key, hashes.SHA256())
    )
    stale = tmp_path / "stale.crl.pem"
    stale.write_bytes(crl.public_bytes(Encoding.PEM))
    with pytest.raises(TLSError, match="expired"):
        server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root, crl=stale)
    from wsctl.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not found"):
        server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root, crl=tmp_path / "missing.pem")
    # DER works as well as PEM
    der = tmp_path / "crl.der"
    der.write_bytes(pki.store.crl_der_path.read_bytes())
    ctx = server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root, crl=der)
    assert ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF


def test_client_context_defaults(pki):
    from wsctl.net.tls import client_context, server_context

    for ctx in (
        client_context(ca=pki.root),
        server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root),
    ):
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
        names = {c["name"] for c in ctx.get_ciphers()}
        assert "ECDHE-ECDSA-AES128-GCM-SHA256" in names and "TLS_AES_128_GCM_SHA256" in names
    ctx = client_context(ca=pki.root)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    srv = server_context(cert_chain=pki.device.chain, key=pki.device.key, ca=pki.root)
    assert srv.verify_mode == ssl.CERT_REQUIRED  # a CA means client certificates are required
    assert server_context(cert_chain=pki.device.chain, key=pki.device.key).verify_mode == ssl.CERT_NONE


async def test_authorize_bug_is_http_500_not_a_tls_guess(start_server, alice_kw):
    def authorize(request):
        raise ZeroDivisionError("policy bug")

    records = []
    server = await start_server(authorize=authorize, access_log=records.append)
    err = await _raises(HandshakeRejected, server.url, **alice_kw)
    assert err.status == 500
    with trio.fail_after(2):
        while not records:
            await trio.sleep(0.01)
    assert records[0].outcome == "handler-error" and "policy bug" in records[0].error


async def test_a_device_that_finishes_tls_but_never_answers_the_upgrade_is_a_timeout(nursery, pki, alice_kw):
    """Not "connection lost": our own close at the deadline must not hide the timeout."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.device.chain), str(pki.device.key))
    held = []

    async def mute(stream):
        await stream.do_handshake()
        held.append(stream)
        await trio.sleep_forever()

    listeners = await trio.open_ssl_over_tcp_listeners(0, ctx, host="127.0.0.1")
    port = listeners[0].transport_listener.socket.getsockname()[1]
    nursery.start_soon(trio.serve_listeners, mute, listeners)
    err = await _raises(Timeout, f"wss://127.0.0.1:{port}/", times_out=True, **{**alice_kw, "connect_timeout": 1})
    assert "no WebSocket upgrade answer" in str(err) and err.exit_code == ExitCode.TIMEOUT
