"""One bad client never takes the EST server down, and every wait it causes is bounded."""

from __future__ import annotations

import ssl

import trio
from est_helpers import audit_lines, curl, start_est

from wsctl.net.est.server import Limits

SHORT = Limits(handshake_timeout=0.5, idle_timeout=0.5, request_timeout=0.5)


async def tls_client(server, plant) -> trio.SSLStream:
    ctx = ssl.create_default_context(cafile=str(plant.ca_bundle))
    tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
    tls = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
    await tls.do_handshake()
    return tls


async def until(condition) -> None:
    """Wait (within the caller's deadline) for the server's access record to be written."""
    while not condition():
        await trio.sleep(0.01)


async def read_all(stream) -> bytes:
    data = b""
    try:
        while chunk := await stream.receive_some(65536):
            data += chunk
    except trio.BrokenResourceError:
        pass
    return data


async def test_a_silent_tcp_client_is_dropped_and_others_are_served_meanwhile(nursery, plant):
    access: list = []
    server = await start_est(nursery, plant, limits=SHORT, access=access)
    with trio.fail_after(10):
        silent = await trio.open_tcp_stream("127.0.0.1", server.port)
        assert (await curl(server, plant, "cacerts")).status == 200
        assert await read_all(silent) == b""  # closed by the server, not by us
        await until(lambda: any(rec.outcome == "timeout" and "TLS handshake" in rec.error for rec in access))


async def test_plaintext_on_the_tls_port_fails_tls_and_the_server_goes_on(nursery, plant):
    access: list = []
    server = await start_est(nursery, plant, limits=SHORT, access=access)
    with trio.fail_after(10):
        plain = await trio.open_tcp_stream("127.0.0.1", server.port)
        await plain.send_all(b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_all(plain)
    assert (await curl(server, plant, "cacerts")).status == 200
    with trio.fail_after(10):
        await until(lambda: any(rec.outcome == "tls-failed" for rec in access))


async def test_a_malformed_request_is_400_and_closed(nursery, plant):
    server = await start_est(nursery, plant, limits=SHORT)
    with trio.fail_after(10):
        tls = await tls_client(server, plant)
        await tls.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await read_all(tls)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
    assert (await curl(server, plant, "cacerts")).status == 200


async def test_a_huge_header_is_431(nursery, plant):
    server = await start_est(nursery, plant, limits=SHORT)
    with trio.fail_after(10):
        tls = await tls_client(server, plant)
        await tls.send_all(b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40000 + b"\r\n\r\n")
        answer = await read_all(tls)
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_a_body_that_stalls_is_408_and_audited(nursery, plant):
    server = await start_est(nursery, plant, limits=SHORT)
    with trio.fail_after(10):
        tls = await tls_client(server, plant)
        await tls.send_all(
            b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\n"
            b"Content-Length: 100\r\n\r\nMIIB"
        )
        answer = await read_all(tls)
    assert answer.startswith(b"HTTP/1.1 408 ")
    last = audit_lines(plant)[-1]
    assert (last["action"], last["status"]) == ("est-simpleenroll", 408)


async def test_keep_alive_serves_several_requests_on_one_connection(nursery, plant):
    access: list = []
    server = await start_est(nursery, plant, access=access)
    url = f"https://127.0.0.1:{server.port}/.well-known/est/"
    reply = await curl(server, plant, "cacerts", extra=(url + "csrattrs",))
    assert reply.status == 200
    answered = [rec for rec in access if rec.outcome == "answered"]
    assert [rec.path.rsplit("/", 1)[1] for rec in answered] == ["csrattrs", "cacerts"]  # curl goes in URL order
    assert answered[0].remote == answered[1].remote  # the same connection


async def test_over_max_connections_a_client_gets_503_with_retry_after(nursery, plant):
    server = await start_est(nursery, plant, limits=Limits(max_connections=1, idle_timeout=30))
    with trio.fail_after(10):
        held = await tls_client(server, plant)
        await held.send_all(b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await held.receive_some(65536)).startswith(b"HTTP/1.1 200 ")
        busy = await curl(server, plant, "cacerts")
    assert busy.status == 503 and busy.headers["retry-after"] == "1"
    await held.aclose()
