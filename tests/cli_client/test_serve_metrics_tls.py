"""`serve --metrics tls` (issue 15, section 3): ``/metrics`` on the TLS port for
operator certificates.  curl scrapes it with an observer's certificate (the
text passes `promtool check metrics`), is refused (403, and the access line
says why) with a device's certificate, and WebSocket upgrades on the same
port — also one to ``/metrics``, and one sent in pieces — still work."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
from types import SimpleNamespace

import pytest
from client_helpers import PASSWORD, start_server, wsctl

pytest.importorskip("prometheus_client")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@pytest.fixture
def tls_metered(plant):
    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--metrics", "tls")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait(timeout=10)


def curl(plant, url: str, *cert: str) -> tuple[int, str]:
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "--cacert", str(plant.certs / "ca" / "root.crt"), *cert,
         "-w", "\n%{http_code}", url],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    body, _, status = out.stdout.rpartition("\n")
    return int(status or 0), body


def operator_cert(plant, name: str) -> list[str]:
    base = plant.certs / "operators" / name
    return ["--cert", str(base / "chain.pem"), "--key", str(base / "key.pem")]


def device_cert(plant) -> list[str]:
    base = plant.certs / "devices" / "dev"
    return ["--cert", str(base / "chain.pem"), "--key", str(base / "key.pem"), "--pass", PASSWORD]


@needs_curl
def test_an_observer_scrapes_the_tls_port_and_a_device_is_refused(plant, tls_metered):
    url = tls_metered.first["metrics"]
    assert url == tls_metered.url.replace("wss://", "https://") + "metrics"
    assert wsctl("send", tls_metered.url, "--raw", "ping", *plant.op("bob")).returncode == 0
    status, text = curl(plant, url, *operator_cert(plant, "bob"))
    assert status == 200
    assert "# TYPE wsctl_connections_open gauge" in text and "# TYPE wsctl_command_seconds histogram" in text
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
    status, text = curl(plant, url, *device_cert(plant))
    assert status == 403 and "operator certificates" in text
    lines = [line for line in tls_metered.lines() if line.get("event") == "connection"]
    by_outcome = {(line["outcome"], line["status"]): line for line in lines if line["path"] == "/metrics"}
    assert by_outcome[("scraped", 200)]["identity"]["name"] == "bob"
    refused = by_outcome[("rejected", 403)]
    assert refused["identity"]["kind"] == "device" and "operator certificates" in refused["error"]
    # the echo before the scrapes was a WebSocket like any other
    assert any(line["outcome"] == "closed" and line["messages_in"] == 1 for line in lines)


@needs_curl
def test_a_scrape_counts_itself_as_scraped(plant, tls_metered):
    url = tls_metered.first["metrics"]
    assert curl(plant, url, *operator_cert(plant, "bob"))[0] == 200
    status, text = curl(plant, url, *operator_cert(plant, "bob"))
    assert status == 200 and 'wsctl_connections_total{outcome="scraped"} 1.0' in text


def test_a_websocket_to_metrics_is_the_handlers(plant, tls_metered):
    out = wsctl("send", tls_metered.url + "metrics", "--raw", "hello", *plant.op("bob"))
    assert out.returncode == 0 and "hello" in out.stdout


def _client_context(plant) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(plant.certs / "ca" / "root.crt"))
    base = plant.certs / "operators" / "bob"
    ctx.load_cert_chain(base / "chain.pem", base / "key.pem")
    return ctx


def test_an_upgrade_sent_in_pieces_is_replayed_whole(plant, tls_metered):
    # the first pieces could still be "GET /metrics": the endpoint reads on,
    # then hands every byte it read to the upgrade
    port = int(tls_metered.url.rsplit(":", 1)[1].strip("/"))
    key = base64.b64encode(b"0123456789abcdef").decode()
    request = (
        f"GET /metricsX HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with _client_context(plant).wrap_socket(raw, server_hostname="localhost") as tls:
            for piece in (request[:4], request[4:10], request[10:40], request[40:]):
                tls.sendall(piece)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = tls.recv(4096)
                assert chunk, answer
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 101 ")


def test_metrics_tls_needs_a_certificate():
    out = wsctl("serve", "--echo", "--allow-plaintext", "--listen", "127.0.0.1:0", "--metrics", "tls", timeout=30)
    assert out.returncode == 2 and "--metrics tls" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("identity", "allowed"),
    [
        (None, False),
        (SimpleNamespace(kind="device", role=None), False),
        (SimpleNamespace(kind="operator", role=None), False),
        (SimpleNamespace(kind="operator", role="security-admin"), False),
        (SimpleNamespace(kind="operator", role="observer"), True),
        (SimpleNamespace(kind="operator", role="supervisor"), True),
    ],
)
def test_who_may_read_the_metrics(identity, allowed):
    from wsctl.net.metrics_tls import refusal

    assert (refusal(identity) is None) == allowed


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
def test_a_websocket_past_the_endpoint_still_ends_with_close_notify(plant, tls_metered):
    # the replaying stream must close TLS as the server does (close_notify),
    # or OpenSSL 3 peers log "unexpected eof while reading"
    port = tls_metered.url.rsplit(":", 1)[1].strip("/")
    base = plant.certs / "operators" / "bob"
    key = base64.b64encode(b"0123456789abcdef").decode()
    upgrade = (
        f"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    close_1000 = b"\x88\x82\x00\x00\x00\x00\x03\xe8"  # masked with zeros
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(plant.certs / "ca" / "root.crt"),
         "-cert", str(base / "cert.pem"), "-cert_chain", str(base / "chain.pem"), "-key", str(base / "key.pem"),
         "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        proc.stdin.write(upgrade)
        proc.stdin.flush()
        seen = b""
        while b"\r\n\r\n" not in seen:
            chunk = proc.stdout.read1(4096)
            assert chunk, seen
            seen += chunk
        assert seen.startswith(b"HTTP/1.1 101"), seen
        proc.stdin.write(close_1000)
        proc.stdin.flush()
        out, errors = proc.communicate(timeout=20)  # to EOF: the server hung up
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert (seen + out).endswith(b"\x88\x02\x03\xe8")  # the server's close frame came back
    assert b"unexpected eof" not in errors, errors.decode()


def test_a_client_that_sends_nothing_is_dropped_at_the_handshake_timeout(plant):
    server = start_server(
        "--echo", "--certs", str(plant.certs), "--device", "dev", "--metrics", "tls", "--handshake-timeout", "1"
    )
    try:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with _client_context(plant).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /met")  # could still become a scrape
                assert tls.recv(4096) == b""  # bounded by the socket timeout; the server hangs up first
    finally:
        lines = [line for line in server.lines() if line.get("event") == "connection"]
    assert [(line["outcome"], line["error"]) for line in lines] == [
        ("timeout", "no WebSocket upgrade request within 1 s")
    ]


def test_the_scrape_check_and_the_upgrade_share_one_handshake_timeout(plant):
    """A head whose first bytes could be a scrape ("GET /"), whose rest comes
    after the handshake timeout: dropped at the timeout, not given a second
    one when the scrape check hands it to the upgrade (it took 9.5 s at 5 s)."""
    import time

    server = start_server(
        "--echo", "--certs", str(plant.certs), "--device", "dev", "--metrics", "tls", "--handshake-timeout", "1"
    )
    key = base64.b64encode(b"0123456789abcdef").decode()
    rest = (
        f"Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    try:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with _client_context(plant).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /")  # could still become "GET /metrics"
                time.sleep(0.6)
                tls.sendall(b"x HTTP/1.1\r\n")  # not a scrape after all: the upgrade reads on
                time.sleep(0.7)  # 1.3 s since the first byte: past the one timeout, within two
                try:
                    tls.sendall(rest)
                    answer = tls.recv(4096)
                except OSError:
                    answer = b""
        assert not answer.startswith(b"HTTP/1.1 101")
    finally:
        lines = [line for line in server.lines() if line.get("event") == "connection"]
    assert [line["outcome"] for line in lines] == ["timeout"]
