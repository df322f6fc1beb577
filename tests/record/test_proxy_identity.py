"""The device learns who the real tool is (x-forwarded-client-cert), only when asked,
and a tool cannot write that header itself."""

from __future__ import annotations

import functools
import hashlib
import ssl
from pathlib import Path

import trio

from wsctl.net.api import open_device
from wsctl.net.proxy import RecordingProxy
from wsctl.net.recorder import Recorder
from wsctl.net.server import serve

FORGED = ("X-Forwarded-Client-Cert", 'Hash=00;Subject="CN=root,OU=supervisor";Role=supervisor')


def fingerprint_hex(chain_pem: str) -> str:
    text = Path(chain_pem).read_text()
    first = text[: text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


async def headers_through_proxy(plant, tmp_path, *, forward: bool, proxy_headers=()) -> list[tuple[str, str]]:
    """The x-forwarded-client-cert headers the device got for one session of
    alice's (engineer) through a proxy that holds bob's role (operator) upstream."""
    seen: list = []

    async def device(conn):
        seen.append(conn.headers)
        async for message in conn:
            await conn.send(message)

    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        kwargs = {**plant.client_kwargs("bob"), "headers": proxy_headers}
        relay = RecordingProxy(
            f"wss://localhost:{upstream.port}/",
            kwargs,
            Recorder(tmp_path / "id.jsonl", source="proxy"),
            forward_client_cert=forward,
        )
        server = await nursery.start(functools.partial(relay.run, host="127.0.0.1", port=0, **plant.server_kwargs()))
        async with open_device(
            f"wss://localhost:{server.port}/", headers=[FORGED], **plant.client_kwargs("alice")
        ) as dev:
            await dev.send("hello")
            assert await dev.receive(timeout=5) == "hello"
        nursery.cancel_scope.cancel()
    (headers,) = seen
    return [(k, v) for k, v in headers if k == "x-forwarded-client-cert"]


async def test_with_forward_client_cert_the_device_gets_the_tools_identity(plant, tmp_path):
    (header,) = await headers_through_proxy(plant, tmp_path, forward=True)
    fields = dict(part.split("=", 1) for part in header[1].split(";", 3)[:2])
    assert fields["Hash"] == fingerprint_hex(plant.leaf("operators", "alice")[0])
    assert fields["Subject"].startswith('"') and "CN=alice" in fields["Subject"] and "OU=engineer" in fields["Subject"]
    assert header[1].endswith(";URI=urn:wsctl:operator:alice;Role=engineer")


async def test_a_tool_cannot_forge_the_header_and_it_is_off_by_default(plant, tmp_path):
    assert await headers_through_proxy(plant, tmp_path, forward=False) == []
    # nor can the proxy's own --header stand in for the tool's identity when forwarding
    (header,) = await headers_through_proxy(plant, tmp_path, forward=True, proxy_headers=[FORGED])
    assert "Role=engineer" in header[1] and "supervisor" not in header[1]


async def test_record_listen_forward_client_cert_option(plant, tmp_path):
    from record_helpers import Process

    seen: list = []

    async def device(conn):
        seen.append(dict(conn.headers).get("x-forwarded-client-cert"))
        async for message in conn:
            await conn.send(message)

    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(
            functools.partial(serve, device, host="127.0.0.1", port=0, **plant.server_kwargs())
        )
        proxy = await trio.to_thread.run_sync(
            lambda: Process(
                "record",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                f"wss://localhost:{upstream.port}/",
                "-o",
                str(tmp_path / "cli.jsonl"),
                "--certs",
                str(plant.certs),
                "--device",
                "dev",
                "--operator",
                "bob",
                "--forward-client-cert",
            )
        )
        try:
            async with open_device(proxy.url.replace("127.0.0.1", "localhost"), **plant.client_kwargs("alice")) as dev:
                await dev.send("hi")
                assert await dev.receive(timeout=5) == "hi"
        finally:
            await trio.to_thread.run_sync(proxy.kill)
        nursery.cancel_scope.cancel()
    assert seen[0].startswith("Hash=") and seen[0].endswith(";URI=urn:wsctl:operator:alice;Role=engineer")
