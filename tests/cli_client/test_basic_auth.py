"""HTTP Basic auth from client verbs (issue 8, item 10), against a
python-websockets device that checks it: userinfo in the URL, --basic-auth with
the password from a file or the environment; a password is never printed."""

from __future__ import annotations

import pytest
from client_helpers import WebsocketsDevice, device_context, wsctl

USER, SECRET = "CP-1", "correct-horse-battery-17"


@pytest.fixture
def basic_auth_device(plant):
    from websockets.asyncio.server import basic_auth

    async def handler(ws):
        async for message in ws:
            await ws.send(f"{ws.username}:{message}")

    with WebsocketsDevice(
        handler, device_context(plant), process_request=basic_auth(credentials=(USER, SECRET))
    ) as port:
        yield port


def test_url_userinfo_is_sent_as_basic_auth(plant, basic_auth_device):
    out = wsctl(
        "-v",
        "send",
        f"wss://{USER}:{SECRET}@127.0.0.1:{basic_auth_device}/ocpp/{USER}",
        "--raw",
        "hello",
        *plant.op("alice"),
    )
    assert out.returncode == 0, out.stderr
    assert f"{USER}:hello" in out.stdout
    assert SECRET not in out.stdout + out.stderr


def test_basic_auth_option_with_password_file(plant, basic_auth_device, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    out = wsctl(
        "send",
        f"wss://127.0.0.1:{basic_auth_device}/",
        "--raw",
        "hi",
        *plant.op("alice"),
        "--basic-auth",
        USER,
        "--basic-auth-password-file",
        str(secret_file),
    )
    assert out.returncode == 0, out.stderr
    assert f"{USER}:hi" in out.stdout


def test_url_user_without_password_takes_it_from_the_environment(plant, basic_auth_device):
    out = wsctl(
        "send",
        f"wss://{USER}@127.0.0.1:{basic_auth_device}/",
        "--raw",
        "hi",
        *plant.op("alice"),
        env={"WSCTL_BASIC_AUTH_PASSWORD": SECRET},
    )
    assert out.returncode == 0, out.stderr


def test_wrong_password_is_a_401_rejection_without_echoing_it(plant, basic_auth_device):
    out = wsctl(
        "--json",
        "send",
        f"wss://{USER}:wrong-password-here@127.0.0.1:{basic_auth_device}/",
        "--raw",
        "hi",
        *plant.op("alice"),
    )
    assert out.returncode == 5, out.stderr
    assert "401" in out.stdout + out.stderr and "wrong-password-here" not in out.stdout + out.stderr


def test_credentials_given_twice_are_refused(plant, basic_auth_device):
    out = wsctl(
        "send",
        f"wss://{USER}:{SECRET}@127.0.0.1:{basic_auth_device}/",
        "--raw",
        "hi",
        *plant.op("alice"),
        "--header",
        "Authorization: Basic Zm9vOmJhcg==",
    )
    assert out.returncode == 2 and "twice" in out.stderr and SECRET not in out.stderr


def test_password_never_printed_in_usage_errors(plant):
    out = wsctl("send", f"ws://{USER}:{SECRET}@127.0.0.1:1/", "--raw", "hi")
    assert out.returncode == 2 and SECRET not in out.stderr and f"ws://{USER}@127.0.0.1:1/" in out.stderr


def test_recording_of_a_basic_auth_session_holds_no_password(plant, basic_auth_device, tmp_path):
    out_file = tmp_path / "session.jsonl"
    out = wsctl(
        "record",
        f"wss://{USER}:{SECRET}@127.0.0.1:{basic_auth_device}/",
        "-o",
        str(out_file),
        *plant.op("alice"),
        "--duration",
        "0.5",
    )
    assert out.returncode == 0, out.stderr
    text = out_file.read_text()
    assert f"wss://{USER}@127.0.0.1:{basic_auth_device}/" in text and SECRET not in text


def test_a_password_holding_an_at_sign_is_never_printed_even_in_part(plant):
    out = wsctl("send", f"ws://{USER}:Sek@r3t-pw@127.0.0.1:1/", "--raw", "hi")
    assert out.returncode == 2 and "r3t-pw" not in out.stderr and "Sek" not in out.stderr
    assert f"ws://{USER}@127.0.0.1:1/" in out.stderr
