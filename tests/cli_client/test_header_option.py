"""`--header`: what HTTP or the upgrade itself would refuse is a usage error
before anything is sent, never an internal error from the HTTP library."""

from __future__ import annotations

import json

import pytest
from client_helpers import wsctl_in_process as wsctl

from wsctl.core.exit_table import ExitCode


@pytest.mark.parametrize(
    "header, fragment",
    [
        ("Host: evil", "set by wsctl"),
        ("connection: close", "set by wsctl"),
        ("Sec-WebSocket-Key: abc", "set by wsctl"),
        ("Sec-WebSocket-Version: 8", "set by wsctl"),
        ("Sec-WebSocket-Extensions: permessage-deflate", "negotiates no extensions"),
        ("Content-Length: 5", "set by wsctl"),
        ("Sec-WebSocket-Protocol: conveyor.v1", "--subprotocol"),
        ("X-A: é€", "Latin-1"),
        ("X-A: a\x00b", "control character"),
        ("X(A): b", "Name: value"),
        ("Ä: b", "Name: value"),
    ],
)
@pytest.mark.parametrize("verb", ["send", "connect"])
def test_a_header_http_would_refuse_is_a_usage_error(plant, echo_server, verb, header, fragment):
    extra = ["--raw", "x"] if verb == "send" else []
    out = wsctl("--json", verb, echo_server.url, *plant.op("bob"), "--header", header, *extra, input="x\n")
    assert out.returncode == ExitCode.USAGE, out.stderr
    error = json.loads(out.stderr.splitlines()[-1])
    assert error["error"] == "usage" and fragment in error["message"] and "internal" not in out.stderr
    assert out.stdout == ""


def test_an_extra_header_still_reaches_the_device(plant, echo_server):
    out = wsctl("send", echo_server.url, *plant.op("bob"), "--header", "X-Trace: é 1", "--raw", "hi")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hi\n"
