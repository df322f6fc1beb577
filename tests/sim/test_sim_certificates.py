"""`[sim.certificates]` in the pure layer: the loader names the field at fault;
`Sim` authorizes a certificate command first and then hands it over as a
`Certificates` action (core makes no key), turns a csr_trigger into one, and
frames the answer and the station's own calls."""

from __future__ import annotations

import json
import random

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.device_side import DeviceCodec, Request
from wsctl.core.profile.loader import parse_profile
from wsctl.core.sim import Audit, Certificates, Reply, Sim
from wsctl.files.profiles import load_profile

T0 = 1_700_000_000.0


def sim_of(name):
    profile = load_profile(name)
    return Sim(profile, rng=random.Random(1), now=T0), DeviceCodec(profile)


def ocpp_call(sim, codec, action, payload, role="supervisor"):
    request = codec.parse(json.dumps([2, "c-1", action, payload]))
    assert isinstance(request, Request), request
    return sim.handle(request, role, T0)


def test_a_certificate_command_is_authorized_then_handed_over():
    sim, codec = sim_of("ocpp16-charger")
    denied = ocpp_call(sim, codec, "CertificateSigned", {"certificateChain": "x"}, role="observer")
    assert isinstance(denied[0], Audit) and denied[0].result == "denied"
    assert json.loads(denied[1].wire)[0] == 4  # a CALLERROR, nothing handed over
    codec.finish("c-1")
    (action,) = ocpp_call(sim, codec, "CertificateSigned", {"certificateChain": "x"})
    assert action == Certificates("signed", "certificate_signed", {"certificate_chain": "x"}, "c-1", 0.0)
    audit, reply = sim.certificate_answer(action, {"status": "Rejected"}, "rejected", "why")
    assert (audit.command, audit.result, audit.detail) == ("certificate_signed", "rejected", "why")
    assert json.loads(reply.wire) == [3, "c-1", {"status": "Rejected"}]


@pytest.mark.parametrize(
    ("name", "action", "trigger", "fields"),
    [
        ("ocpp16-charger", "ExtendedTriggerMessage", "SignChargePointCertificate", {}),
        (
            "ocpp201-charger",
            "TriggerMessage",
            "SignChargingStationCertificate",
            {"certificateType": "ChargingStationCertificate"},
        ),
    ],
)
def test_the_renewal_trigger_is_answered_then_asks_for_a_csr(name, action, trigger, fields):
    sim, codec = sim_of(name)
    actions = ocpp_call(sim, codec, action, {"requestedMessage": trigger})
    replies = [a for a in actions if isinstance(a, Reply)]
    assert json.loads(replies[0].wire)[2] == {"status": "Accepted"}
    assert actions[-1] == Certificates("csr")
    emit = sim.certificate_call("csr", {"csr": "PEM"})
    assert emit.event.name == "SignCertificate" and emit.payload == {"csr": "PEM", **fields}
    assert sim.certificate_call("security_event", {"type": "t"}).event.name == "SecurityEventNotification"


BASE = """format = "wsctl-profile/1"
[profile]
id = "t"
[framing]
preset = "ocpp-j"
[commands.signed]
name = "CertificateSigned"
[events.csr]
name = "SignCertificate"
kind = "request"
[sim.certificates]
"""


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('ocpp = "1.5"\ncsr_event = "csr"\nsecurity_event = "csr"', "sim.certificates.ocpp: '1.5': one of 1.6, 2.0.1"),
        (
            'ocpp = "1.6"\ncsr_event = "nosuch"\nsecurity_event = "csr"',
            "sim.certificates.csr_event: no device request 'nosuch'",
        ),
        (
            'ocpp = "1.6"\ncsr_event = "csr"\nsecurity_event = "csr"\ncommands = { nope = "signed" }',
            "sim.certificates.commands.nope: no command 'nope'",
        ),
        (
            'ocpp = "1.6"\ncsr_event = "csr"\nsecurity_event = "csr"\ncommands = { signed = "sign" }',
            "'sign': one of signed, install, list, delete",
        ),
        ('ocpp = "1.6"\ncsr_event = "csr"\nsecurity_event = "csr"\nkeys = 1', "keys"),
    ],
)
def test_a_bad_certificates_table_names_the_field(table, words):
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(")):
        parse_profile(BASE + table, source="t.toml")
