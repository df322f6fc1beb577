"""Refusals of EST requests that proved no identity do not grow audit.log without bound:
per source address a few full lines a minute, then one "N more refusals from ADDR
suppressed" line once the minute is over (or the server stops).  Refusals of requests
that proved an identity are all audited."""

from __future__ import annotations

import base64
import ssl

import trio
from est_helpers import PW, audit_lines, openssl_csr, start_est

from wsctl.pki.est_auth import Authenticator, Credentials
from wsctl.pki.est_enroll import Enroller
from wsctl.pki.est_labels import Label
from wsctl.pki.est_refusals import PER_WINDOW, WINDOW

PKCS10 = b"application/pkcs10"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def enroller_of(plant, clock: Clock) -> Enroller:
    return Enroller(
        plant.store, plant.book, [Label(name="default")], PW, Authenticator(plant.book, [], {}), clock=clock
    )


def anonymous(enroller: Enroller, remote: str, n: int, body: bytes = b"AAAA") -> None:
    for _ in range(n):
        assert enroller.enroll(None, "simpleenroll", Credentials(remote), PKCS10, body).status == 400


def suppressed_lines(plant) -> list[dict]:
    return audit_lines(plant, "est-refusals")


def test_anonymous_refusals_are_audited_a_few_per_address_then_summed_up(plant):
    clock = Clock()
    enroller = enroller_of(plant, clock)
    anonymous(enroller, "198.51.100.9:40001", 30)
    anonymous(enroller, "198.51.100.9:40002", 20)  # another connection, the same address
    # the HTTP layer's refusals (a body too large or too slow) count against the same budget
    enroller.audit_refusal("simpleenroll", {"label": "default", "client": "198.51.100.9:40003"}, 413, "too large")
    anonymous(enroller, "[2001:db8::7]:443", 10)
    lines = audit_lines(plant, "est-simpleenroll")
    assert [line["client"].rsplit(":", 1)[0] for line in lines] == ["198.51.100.9"] * PER_WINDOW + [
        "[2001:db8::7]"
    ] * PER_WINDOW
    assert all((line["result"], line["status"]) == ("error", 400) for line in lines)
    assert suppressed_lines(plant) == []  # the minute is not over

    clock.now += WINDOW
    anonymous(enroller, "198.51.100.9:40004", 1)
    summaries = {line["client"]: line for line in suppressed_lines(plant)}
    assert summaries["198.51.100.9"]["suppressed"] == 30 + 20 + 1 - PER_WINDOW
    assert summaries["198.51.100.9"]["error"] == "46 more refusals from 198.51.100.9 suppressed"
    assert summaries["2001:db8::7"]["suppressed"] == 10 - PER_WINDOW
    assert summaries["198.51.100.9"]["result"] == "error"
    # a new minute, a new budget: the refusal that closed the old one is audited in full
    assert len(audit_lines(plant, "est-simpleenroll")) == 2 * PER_WINDOW + 1


def test_a_window_nobody_closes_is_summed_up_by_the_sweep(plant):
    clock = Clock()
    enroller = enroller_of(plant, clock)
    anonymous(enroller, "198.51.100.9:1", PER_WINDOW + 3)
    enroller.sweep_refusals()
    assert suppressed_lines(plant) == []
    clock.now += WINDOW
    enroller.sweep_refusals()
    [line] = suppressed_lines(plant)
    assert line["suppressed"] == 3
    enroller.sweep_refusals(everything=True)  # nothing left to sum up
    assert len(suppressed_lines(plant)) == 1


async def test_refusals_of_requests_that_proved_an_identity_are_all_audited(plant):
    clock = Clock()
    enroller = enroller_of(plant, clock)
    secret, _ = plant.book.issue_code("plc-18", kind="device", ttl=3600, dns=["plc-18.plant.local"])
    csr, _ = await openssl_csr(plant.dir, "plc-19")  # a valid code, a CSR for another name: 403
    body = csr.read_bytes()
    for _ in range(3 * PER_WINDOW):
        answer = enroller.enroll(
            None, "simpleenroll", Credentials("198.51.100.9:1", basic=("plc-18", secret)), PKCS10, body
        )
        assert answer.status == 403
    lines = audit_lines(plant, "est-simpleenroll")
    assert len(lines) == 3 * PER_WINDOW and {line["subject"] for line in lines} == {"device:plc-18"}
    anonymous(enroller, "198.51.100.9:2", 1)  # the identified ones did not use up the anonymous budget
    assert len(audit_lines(plant, "est-simpleenroll")) == 3 * PER_WINDOW + 1


async def test_a_pipelined_anonymous_flood_writes_a_few_lines_and_one_summary_at_shutdown(plant):
    n = 60
    request = (
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\n"
        b"Content-Length: 4\r\n\r\n" + base64.b64encode(b"abc")
    )
    with trio.fail_after(30):
        async with trio.open_nursery() as server_nursery:
            server = await start_est(server_nursery, plant)
            ctx = ssl.create_default_context(cafile=str(plant.ca_bundle))
            tls = trio.SSLStream(await trio.open_tcp_stream("127.0.0.1", server.port), ctx, server_hostname="127.0.0.1")
            await tls.send_all(request * n)
            answers = b""
            while answers.count(b"HTTP/1.1 ") < n:
                answers += await tls.receive_some(65536)
            await tls.aclose()
            assert answers.count(b"HTTP/1.1 400 ") == n
            assert len(audit_lines(plant, "est-simpleenroll")) == PER_WINDOW
            assert suppressed_lines(plant) == []
            server_nursery.cancel_scope.cancel()
    [line] = suppressed_lines(plant)
    assert (line["client"], line["suppressed"]) == ("127.0.0.1", n - PER_WINDOW)
