"""`[transport]` `path` and `subprotocols` go into the handshake's request
line and headers: a CR/LF, a space or another character HTTP does not allow
there is refused when the profile is validated (exit 8, naming the field),
not met as an internal error when the profile is first used."""

from __future__ import annotations

import json

import pytest
from profile_helpers import run_cli

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.loader import parse_profile

BASE = """\
format = "wsctl-profile/1"
[profile]
id = "t"
[transport]
{transport}
[framing]
preset = "jsonrpc2"
[commands.ping]
name = "ping"
"""


def profile(transport: str):
    return parse_profile(BASE.format(transport=transport), source="dev.toml")


def error_of(transport: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        profile(transport)
    assert exc.value.exit_code == 8 and "\n" not in exc.value.message
    return exc.value.message


@pytest.mark.parametrize(
    "path, why",
    [
        ("/rpc\\r\\nX-Evil: 1", "character '\\r' is not allowed"),
        ("/a b", "character ' ' is not allowed"),
        ("/a\\tb", "character '\\t' is not allowed"),
        ("/a\\u0000", "character '\\x00' is not allowed"),
        ("/caf\\u00e9", "character 'é' is not allowed"),
        ("/rpc?token=1", "character '?' is not allowed"),
        ("/rpc#top", "character '#' is not allowed"),
        ('/a\\"b', "character '\"' is not allowed"),
        ("/50%", "a '%' not followed by two hex digits"),
        ("/%zz", "a '%' not followed by two hex digits"),
        ("rpc", "does not start with '/'"),
        ("http://evil/x", "does not start with '/'"),
        ("", "does not start with '/'"),
    ],
)
def test_a_path_that_is_not_an_rfc3986_path_is_refused(path, why):
    message = error_of(f'path = "{path}"')
    assert message.startswith(f"dev.toml: transport.path: {why}"), message


@pytest.mark.parametrize("path", ["/", "/rpc", "/ocpp/{id}", "/a%20b", "/.well-known/est/x", "/a-b_c~d!$&'()*+,;=:@"])
def test_paths_of_rfc3986_characters_and_placeholders_are_kept(path):
    assert profile(f'path = "{path}"').path == path


@pytest.mark.parametrize(
    "name, why",
    [
        ("conv eyor\\r\\nX-Evil: 1", "character ' ' is not allowed"),
        ("a\\r\\nb", "character '\\r' is not allowed"),
        ("a,b", "character ',' is not allowed"),
        ("a/b", "character '/' is not allowed"),
        ("ocpp1.6;q", "character ';' is not allowed"),
        ("\\u00e9", "character 'é' is not allowed"),
        ("", "empty"),
    ],
)
def test_a_subprotocol_that_is_not_a_token_is_refused(name, why):
    message = error_of(f'subprotocols = ["ocpp1.6", "{name}"]')
    assert message.startswith(f"dev.toml: transport.subprotocols[1]: {why}"), message


def test_token_subprotocols_are_kept():
    names = ["ocpp1.6", "ocpp2.0.1", "conveyor.v1", "x!#$%&'*+-.^_`|~9"]
    assert profile(f"subprotocols = {json.dumps(names)}").subprotocols == tuple(names)  # JSON strings are TOML's


def test_validate_refuses_them_with_exit_8(tmp_path):
    for name, transport in (("path", 'path = "/rpc\\r\\nX-Evil: 1"'), ("sub", 'subprotocols = ["a b"]')):
        (tmp_path / f"{name}.toml").write_text(BASE.format(transport=transport))
        code, _, err = run_cli(["profile", "validate", str(tmp_path / f"{name}.toml")], environ={})
        assert code == 8 and "transport." in err and "internal error" not in err, err
