"""`wsctl serve`'s limits for handshakes and buffered bytes, as a process
(issue 8, items 5 and 6; the network tests prove the mechanisms)."""

from __future__ import annotations

import socket

from client_helpers import start_server, wsctl

from wsctl.core.exit_table import ExitCode


def test_stalled_handshakes_from_other_addresses_do_not_lock_out_an_operator(plant):
    server = start_server(
        "--echo",
        "--certs",
        str(plant.certs),
        "--device",
        "dev",
        "--handshake-timeout",
        "60",
        "--max-connections",
        "2",
        "--max-handshakes",
        "2",
        "--max-handshakes-per-source",
        "1",
    )
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    stalled = []
    try:
        for i in range(2, 6):  # one idle socket from each of four addresses: twice the handshake slots
            s = socket.socket()
            s.bind((f"127.0.0.{i}", 0))
            s.connect(("127.0.0.1", port))
            stalled.append(s)
        out = wsctl("send", server.url, *plant.op("bob"), "--raw", "still serving")
        assert out.returncode == 0 and out.stdout == "still serving\n", out.stderr
    finally:
        for s in stalled:
            s.close()
    lines = server.lines()
    assert any(line["outcome"] == "refused" and "max_handshakes" in line["error"] for line in lines)
    assert any(line["identity"] and line["identity"]["name"] == "bob" and line["outcome"] == "closed" for line in lines)


def test_buffered_bytes_below_the_message_size_is_invalid(plant):
    out = wsctl(
        "serve",
        "--echo",
        "--certs",
        str(plant.certs),
        "--device",
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--max-message-size",
        "2000",
        "--max-buffered-bytes",
        "1000",
    )
    assert out.returncode == ExitCode.INVALID and "--max-buffered-bytes" in out.stderr and "Traceback" not in out.stderr


def test_listening_line_says_what_is_bound(plant):
    from client_helpers import start_server

    server = start_server("--echo", "--certs", str(plant.certs), "--device", "dev", "--listen", "0.0.0.0:0")
    try:
        first = server.first
        assert first["urls"][0].startswith("wss://0.0.0.0:")
        assert "wss://127.0.0.1:" + first["urls"][0].rsplit(":", 1)[1] in first["client_urls"]
    finally:
        server.proc.kill()
        server.proc.wait(timeout=10)
