"""Property-based fuzzing of every EST parser: whatever a client sends, each returns
its value or raises `EstRequestError` (an HTTP status for the client) — never
anything else, which the server would only log as a failed connection.

Bounded for CI: fixed example counts, derandomized, no example database.
"""

from __future__ import annotations

import base64

import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wsctl.core.errors import InvalidInput
from wsctl.core.est_http import (
    OPERATIONS,
    EstRequestError,
    decode_base64_body,
    media_type,
    parse_basic,
    parse_duration,
    parse_route,
)
from wsctl.net.est.http import HttpConnection
from wsctl.pki.csr import create_csr
from wsctl.pki.csr_der import without_ecdsa_null_parameter
from wsctl.pki.est_labels import parse_label
from wsctl.pki.est_messages import csr_from_body

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PATH_PIECES = st.sampled_from(
    ["/.well-known/est/", "cacerts", "simpleenroll", "device", "/", "..", "%2F", "?x=1", "A", "-", "é", "\x00", ""]
)


@FUZZ
@given(st.lists(PATH_PIECES, max_size=8).map("".join).map(str.encode) | st.binary(max_size=200))
@example(b"/.well-known/est/simpleenroll/cacerts")
@example(b"/.well-known/est/device/simpleenroll?x")
def test_parse_route_is_total(target):
    try:
        route = parse_route(target)
    except EstRequestError as exc:
        assert exc.status == 404
        return
    assert route.operation in OPERATIONS
    assert route.label is None or route.label not in OPERATIONS


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=120),
        st.builds(lambda s: b"Basic " + base64.b64encode(s), st.binary(max_size=80)),
        st.builds(lambda t: b"Basic " + t.encode("utf-8", "surrogatepass"), st.text(max_size=40)),
    )
)
@example(b"Basic " + base64.b64encode(b"plc:"))
@example(b"Basic " + base64.b64encode(b":x"))
def test_parse_basic_is_total(header):
    try:
        user, password = parse_basic(header)
    except EstRequestError as exc:
        assert exc.status == 401
        return
    assert user and isinstance(password, str)


_CSR_DER = None


def _csr_der() -> bytes:
    global _CSR_DER
    if _CSR_DER is None:
        from cryptography.hazmat.primitives.serialization import Encoding

        _CSR_DER = create_csr("plc-1", dns=["plc-1.local"])[1].public_bytes(Encoding.DER)
    return _CSR_DER


def _mutated_csr_body(data: st.DataObject) -> bytes:
    der = bytearray(_csr_der())
    for _ in range(data.draw(st.integers(0, 4))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(der)))
    text = base64.b64encode(bytes(der[:cut] if data.draw(st.booleans()) else der))
    if data.draw(st.booleans()):
        text = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    if data.draw(st.booleans()):
        text = b"-----BEGIN CERTIFICATE REQUEST-----\n" + text + b"\n-----END CERTIFICATE REQUEST-----\n"
    return text


@FUZZ
@given(st.data())
def test_csr_bodies_parse_or_are_refused_with_400_or_413(data):
    body = data.draw(st.one_of(st.binary(max_size=300), st.just(None))) or _mutated_csr_body(data)
    try:
        der, csr = csr_from_body(body)
    except EstRequestError as exc:
        assert exc.status in (400, 413)
        return
    assert csr.is_signature_valid and der


@FUZZ
@given(st.data())
def test_the_mbedtls_csr_repair_is_total(data):
    der = bytearray(_csr_der())
    for _ in range(data.draw(st.integers(0, 3))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    raw = (
        bytes(der[: data.draw(st.integers(0, len(der)))])
        if data.draw(st.booleans())
        else data.draw(st.binary(max_size=64))
    )
    fixed = without_ecdsa_null_parameter(raw)
    assert fixed is None or isinstance(fixed, bytes)


@FUZZ
@given(st.binary(max_size=200))
def test_base64_body_decoding_is_total(body):
    try:
        decode_base64_body(body)
    except EstRequestError as exc:
        assert exc.status == 400


@FUZZ
@given(st.binary(max_size=80) | st.none())
def test_media_type_is_total(value):
    found = media_type(value)
    assert found is None or found == found.lower()


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "device",
                ":",
                ",",
                "kind=",
                "operator",
                "auth=",
                "code",
                "+",
                "bootstrap",
                "basic",
                "approve",
                "domain=",
                "plant.local",
                "role=",
                "observer",
                "days=",
                "30",
                "=",
                "x",
                "",
            ]
        ),
        max_size=12,
    ).map("".join)
    | st.text(max_size=40)
)
def test_label_specs_parse_or_are_invalid_input(spec):
    try:
        label = parse_label(spec)
    except InvalidInput:
        return
    assert label.kind in ("device", "operator") and label.auth


@FUZZ
@given(st.text(max_size=12))
def test_durations_parse_or_are_value_errors(text):
    try:
        assert parse_duration(text) > 0
    except ValueError:
        pass


def _request_bytes(data: st.DataObject) -> bytes:
    pieces = [
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n",
        b"GET /.well-known/est/cacerts HTTP/1.0\r\n",
        b"Host: est\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 99999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Expect: 100-continue\r\n",
        b"\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
        b"hello",
        b"ffffffff\r\n",
    ]
    chosen = data.draw(st.lists(st.sampled_from(pieces), max_size=8))
    return b"".join(chosen) + data.draw(st.binary(max_size=40))


@FUZZ
@given(data=st.data())
def test_http_requests_parse_or_are_refused_with_a_status(data):
    """Raw bytes into the server's HTTP reader (h11 over an in-memory stream)."""
    raw = _request_bytes(data) if data.draw(st.booleans()) else data.draw(st.binary(max_size=300))

    async def main() -> None:
        client, server = trio.testing.memory_stream_pair()
        await client.send_all(raw)
        await client.send_eof()
        http = HttpConnection(server)
        with trio.fail_after(5):
            try:
                request = await http.next_request()
                if request is not None:
                    await http.body(request, 64)
            except EstRequestError as exc:
                assert 400 <= exc.status < 500
            except trio.BrokenResourceError:
                pass

    trio.run(main)
