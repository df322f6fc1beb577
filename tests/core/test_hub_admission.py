"""The hub's admission rules and path templates, pure (no sockets): every
security profile's rule, and bounded fuzzing of what a peer controls (path,
headers)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsctl.core.errors import InvalidInput
from wsctl.core.hub import addressing, admission


@dataclass(frozen=True)
class Ident:
    kind: str | None
    name: str | None
    role: str | None = None
    common_name: str | None = None


@dataclass(frozen=True)
class Record:
    status: str = "approved"
    security_profile: int = 3


OCPP = addressing.template("/ocpp/{id}")
PATHS = [OCPP, addressing.OPERATOR]


def auth(user: str, password: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()),)


def judge(identity, path, headers=(), record=Record(), *, secret_ok=False, approval=False, plaintext=False):
    found = admission.claim(identity, path, headers, PATHS, plaintext=plaintext)
    if isinstance(found, admission.Refuse):
        return found
    return admission.decide(found, record, identity=identity, secret_ok=secret_ok, approval=approval)


def test_templates():
    assert OCPP.match("/ocpp/CP-17") == "CP-17"
    assert OCPP.match("/ocpp/CP-17?x=1") == "CP-17"
    assert OCPP.match("/ocpp/a/b") is None and OCPP.match("/ocpp/") is None and OCPP.match("/other/CP") is None
    assert addressing.device_template("/ocpp/CP-0001").text == "/ocpp/{id}"
    assert addressing.device_template("/", None).text == "/devices/{id}"
    assert addressing.device_template("/rpc").text == "/devices/{id}"
    assert addressing.device_template(None, "/v1/{id}/ws").match("/v1/x/ws") == "x"
    for bad in ("ocpp/{id}", "/ocpp/x{id}", "/{id}/{id}", "/ocpp", "/a/{id}x"):
        with pytest.raises(InvalidInput):
            addressing.template(bad)


def test_profile_3_binds_the_certificate_to_the_path():
    assert isinstance(judge(Ident("device", "CP-1"), "/ocpp/CP-1"), admission.AdmitDevice)
    # a vendor PKI's certificate: the charge box id in the CN
    assert isinstance(judge(Ident(None, None, common_name="CP-1"), "/ocpp/CP-1"), admission.AdmitDevice)
    refused = judge(Ident("device", "CP-2"), "/ocpp/CP-1")
    assert isinstance(refused, admission.Refuse) and refused.status == 403 and "names CP-2, not CP-1" in refused.reason


def test_profile_2_password_rules():
    two = Record(security_profile=2)
    assert isinstance(judge(None, "/ocpp/CP-1", auth("CP-1", "x" * 16), two, secret_ok=True), admission.AdmitDevice)
    wrong = judge(None, "/ocpp/CP-1", auth("CP-1", "x" * 16), two, secret_ok=False)
    assert wrong.status == 401 and admission.BASIC_CHALLENGE in wrong.headers
    other_user = judge(None, "/ocpp/CP-1", auth("CP-2", "x" * 16), two, secret_ok=True)
    assert other_user.status == 403
    # registered for certificates: a password is never enough
    assert judge(None, "/ocpp/CP-1", auth("CP-1", "x" * 16), Record(), secret_ok=True).status == 403
    # no credentials at all: 401 with a challenge
    none = judge(None, "/ocpp/CP-1")
    assert none.status == 401 and none.kind == "credentials"
    # down to plain ws is refused, up to TLS is fine
    assert judge(None, "/ocpp/CP-1", auth("CP-1", "p" * 16), two, secret_ok=True, plaintext=True).status == 403
    one = Record(security_profile=1)
    admitted = judge(None, "/ocpp/CP-1", auth("CP-1", "p" * 16), one, secret_ok=True)
    assert isinstance(admitted, admission.AdmitDevice) and admitted.security_profile == 2


def test_unknown_blocked_pending_and_operators():
    assert judge(Ident("device", "CP-9"), "/ocpp/CP-9", record=None).kind == "unknown-device"
    pending = judge(Ident("device", "CP-9"), "/ocpp/CP-9", record=None, approval=True)
    assert isinstance(pending, admission.AdmitDevice) and pending.register_pending
    assert judge(Ident("device", "CP-1"), "/ocpp/CP-1", record=Record(status="blocked")).kind == "blocked"
    op = judge(Ident("operator", "alice", "engineer"), "/devices/CP-1")
    assert isinstance(op, admission.AdmitOperator) and (op.operator, op.role) == ("alice", "engineer")
    assert judge(Ident("operator", "alice", "engineer"), "/ocpp/CP-1").status == 404
    assert judge(Ident("operator", "alice", "engineer"), "/devices/CP-1", record=None).kind == "unknown-device"


@settings(max_examples=300, deadline=None)
@given(
    path=st.text(max_size=80),
    header_value=st.text(max_size=120),
    raw=st.binary(max_size=60),
    kind=st.sampled_from([None, "device", "operator"]),
)
def test_fuzz_claim_never_raises(path, header_value, raw, kind):
    ident = None if kind is None else Ident(kind, "CP-1", "engineer")
    headers = (
        ("Authorization", header_value),
        ("authorization", "Basic " + base64.b64encode(raw).decode()),
    )
    for hs in (headers[:1], headers[1:], headers):
        result = admission.claim(ident, path, hs, PATHS, plaintext=False)
        assert isinstance(result, (admission.Claim, admission.Refuse))
        if isinstance(result, admission.Claim):
            assert "/" not in result.device_id and result.device_id


def test_ids_that_could_not_be_registered_are_refused_before_the_registry():
    for bad in ("..", "-x", "a+b", "a#b", "x" * 65):
        refused = judge(Ident("device", bad), f"/ocpp/{bad}", approval=True)
        assert isinstance(refused, admission.Refuse) and refused.status == 400, bad
