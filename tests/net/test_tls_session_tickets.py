"""TLS 1.3 session tickets from wsctl's server, seen by ``openssl s_client``
(a peer nobody here wrote): one ticket per connection, and a device that keeps
it resumes its next connection without a full handshake."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import trio
from net_helpers import UPGRADE, close_payload, frame

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")


def _s_client(port: int, pki, *extra: str) -> str:
    """One connection: the upgrade, a close frame, until the server hangs up; s_client's report."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki.root),
         "-cert", str(pki.alice.cert), "-cert_chain", str(pki.alice.chain), "-key", str(pki.alice.key),
         "-tls1_3", "-msg", "-ign_eof", *extra],
        input=UPGRADE + frame(0x8, close_payload(1000)), capture_output=True, timeout=20,
    )  # fmt: skip
    return out.stdout.decode("latin-1")


async def test_one_ticket_per_connection_and_the_device_resumes_with_it(start_server, pki, tmp_path):
    server = await start_server()
    session = tmp_path / "session.pem"
    first = await trio.to_thread.run_sync(_s_client, server.port, pki, "-sess_out", str(session))
    assert "HTTP/1.1 101" in first
    assert first.count(", NewSessionTicket") == 1, first[-2000:]
    assert "\nNew, TLSv1.3" in first
    again = await trio.to_thread.run_sync(_s_client, server.port, pki, "-sess_in", str(session))
    assert "\nReused, TLSv1.3" in again, again[-2000:]
    assert "HTTP/1.1 101" in again


async def test_a_ticket_from_before_a_crl_reload_is_not_resumed(start_server, pki, tmp_path):
    """A re-issued CRL rebuilds the server's context, ticket keys included: a
    revoked peer's ticket cannot skip the new revocation check."""
    import os
    import shutil as sh

    crl = tmp_path / "crl.pem"
    sh.copyfile(pki.crl, crl)
    server = await start_server(crl=crl)
    session = tmp_path / "session.pem"
    first = await trio.to_thread.run_sync(_s_client, server.port, pki, "-sess_out", str(session))
    assert "\nNew, TLSv1.3" in first
    stat = crl.stat()
    os.utime(crl, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # as `certs revoke` rewrites it
    again = await trio.to_thread.run_sync(_s_client, server.port, pki, "-sess_in", str(session))
    assert "HTTP/1.1 101" in again
    assert "\nNew, TLSv1.3" in again and "Reused" not in again, again[-2000:]
