"""`send --expect N` that gets fewer replies prints what arrived, then fails
(issue 9, item 15); an HTTP rejection body is one shortened line."""

from __future__ import annotations

import json

from client_helpers import wsctl


def test_partial_replies_are_printed_before_the_timeout(plant, echo_server):
    out = wsctl("send", echo_server.url, "--raw", "only-one", "--expect", "2", "--timeout", "1", *plant.op("bob"))
    assert out.returncode == 6
    assert out.stdout.strip() == "only-one"
    assert "got 1 of 2" in out.stderr


def test_partial_replies_are_in_the_json_error_result(plant, echo_server):
    out = wsctl(
        "--json", "send", echo_server.url, "--raw", "only-one", "--expect", "2", "--timeout", "1", *plant.op("bob")
    )
    assert out.returncode == 6
    (result,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert result["error"] == "timeout" and [r["data"] for r in result["replies"]] == ["only-one"]


def test_rejection_body_is_one_line():
    from wsctl.net.client_open import Target, _rejected

    class Rejected:  # what trio_websocket.ConnectionRejected carries
        status_code = 503
        headers: list[tuple[bytes, bytes]] = []
        body = b"<html>\n<head><title>503</title></head>\n<body>\n" + b"busy " * 100 + b"\n</body></html>"

    err = _rejected(Target(url="wss://x/", secure=True, host="x", port=443, resource="/"), Rejected())
    assert "\n" not in str(err) and str(err).endswith("...") and len(str(err)) < 300
