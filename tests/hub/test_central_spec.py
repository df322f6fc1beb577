"""Mistakes in a profile's [central] table are reported like every other profile
error: one line naming the file and the field path, exit 8 from `profile validate`."""

from __future__ import annotations

import json

import pytest
from central_helpers import NOW, Ledger, call, error_of, route
from cli_runner import run_in_process

from wsctl.core.errors import InvalidInput
from wsctl.core.hub.central import CentralSide
from wsctl.core.profile.loader import parse_profile

BASE = """\
format = "wsctl-profile/1"
[profile]
id = "mini"
[framing]
preset = "ocpp-j"
[commands.reset]
name = "Reset"
[events.boot]
name = "BootNotification"
kind = "request"
[events.boot.fields.vendor]
type = "string"
[events.heartbeat]
name = "Heartbeat"
kind = "request"
"""
CENTRAL = """
[central]
boot_status = { approved = "Accepted", pending = "Pending", unknown = "Pending", blocked = "Rejected" }
interval = { Accepted = 300, Pending = 60, Rejected = 600 }
[central.answers.boot]
always = true
reply = { status = "{{boot_status}}", currentTime = "{{now}}", interval = "{{interval}}" }
effect = "boot"
record = { vendor = "/vendor", model = "/model" }
"""


def parse(text):
    return parse_profile(text, source="mini.toml")


def test_a_minimal_central_side_parses_and_answers():
    profile = parse(BASE + CENTRAL)
    assert set(profile.central.answers) == {"BootNotification"}
    answer = route(
        profile, CentralSide(profile), call("BootNotification", {"vendor": "A"}), Ledger().context("blocked")
    )
    assert answer.effects[0].fields["boot_status"] == "Rejected"


def test_a_declared_event_without_a_central_answer_gets_not_supported():
    profile = parse(BASE + CENTRAL)
    answer = route(profile, CentralSide(profile), call("Heartbeat", {}), Ledger().context())
    # the preset's codes when [central.errors] names none: ocpp-j's unknown_command
    assert error_of(answer, "ocpp16") == ("m-1", "NotImplemented")
    assert answer.error == "NotImplemented: Heartbeat is known, but the hub does not answer it"


def test_central_errors_override_the_framings_codes():
    profile = parse(BASE + CENTRAL + '[central.errors]\nnot_supported = { code = "NotSupported" }\n')
    answer = route(profile, CentralSide(profile), call("Heartbeat", {}), Ledger().context())
    assert error_of(answer, "ocpp16") == ("m-1", "NotSupported")


MISTAKES = [
    ("[central]\nanswer = {}\n", "central.answer: unknown field (known: answers, boot_status, errors, interval, rpc)"),
    ("[central]\n", "central.answers: missing: at least one [central.answers.EVENT] (what the hub answers)"),
    (
        CENTRAL + "[central.answers.nope]\nreply = {}\n",
        "central.answers.nope: no event 'nope' of kind request in [events] (device requests: boot, heartbeat)",
    ),
    (
        CENTRAL.replace('blocked = "Rejected"', 'blocked = "Accepted"'),
        "central.boot_status.blocked: a blocked device gets the answer of an approved one ('Accepted'); give it Pending or Rejected",
    ),
    (CENTRAL.replace(', blocked = "Rejected"', ""), "central.boot_status.blocked: missing"),
    (CENTRAL.replace(", Rejected = 600", ""), "central.interval: no interval for the boot answer 'Rejected'"),
    (CENTRAL.replace("Rejected = 600", "Rejected = -1"), "central.interval.Rejected: expected whole seconds between 0 and 604800"),
    (CENTRAL.replace('record = { vendor = "/vendor", model = "/model" }', 'record = { vendor = "/vendor" }'),
     "central.answers.boot.record.model: missing: effect 'boot' needs it (a JSON pointer)"),
    (CENTRAL.replace('model = "/model"', 'model = "model"'),
     "central.answers.boot.record.model: not a JSON pointer: 'model' (e.g. \"/id\", \"/0\")"),
    (CENTRAL.replace('effect = "boot"', 'effect = "bootup"'), "central.answers.boot.effect: expected one of boot, heartbeat, status, meter, authorize, transaction, security_event, report, notification, got 'bootup'"),
    (CENTRAL.replace("always = true", 'always = "yes"'), "central.answers.boot.always: expected true or false"),
    (CENTRAL + '[central.answers.heartbeat]\nreply = { t = "{{when}}" }\n',
     "central.answers.heartbeat.reply: template names {{when}}; known: now, device, payload, boot_status, interval, id_tag_status, id_tag_info, transaction_id, payload.FIELD"),
    (CENTRAL + '[central.answers.heartbeat]\nreply = { t = "{{params.x}}" }\n',
     "central.answers.heartbeat.reply: template names {{params.x}}; known: now, device, payload, boot_status, interval, id_tag_status, id_tag_info, transaction_id, payload.FIELD"),
    (CENTRAL + '[central.answers.heartbeat]\nreply = { idTagInfo = "{{id_tag_info}}" }\n',
     "central.answers.heartbeat.reply: template names {{id_tag_info}}, which needs `central.answers.heartbeat.authorize`"),
    (CENTRAL + '[central.answers.heartbeat]\nreply = { t = "{{transaction_id}}" }\n',
     "central.answers.heartbeat.reply: template names {{transaction_id}}, which needs `central.answers.heartbeat.transaction`"),
    (CENTRAL + '[central.answers.heartbeat]\nreply = { t = "{{now|upper}}" }\n',
     "central.answers.heartbeat.reply: template names {{now|upper}}: unknown filter"),
    (CENTRAL + '[central.answers.heartbeat]\ntransaction = "begin"\n', "central.answers.heartbeat.transaction: expected one of start, stop, report, got 'begin'"),
    (CENTRAL + '[central.answers.heartbeat]\ntransaction = "start"\n', 'central.answers.heartbeat.effect: a transaction answer records effect = "transaction"'),
    (CENTRAL + '[central.answers.heartbeat]\ntransaction = "start"\neffect = "transaction"\nrecord = { id_tag = "/idTag" }\n',
     "central.answers.heartbeat.record.connector_id: missing: effect 'transaction' needs it (a JSON pointer)"),
    (CENTRAL + '[central.answers.heartbeat]\nauthorize = "idTag"\n', "central.answers.heartbeat.authorize: not a JSON pointer: 'idTag' (e.g. \"/id\", \"/0\")"),
    (CENTRAL + '[central.answers.heartbeat.check]\n"/a/b" = { type = "text" }\n',
     "central.answers.heartbeat.check./a/b.type: expected one of string, integer, number, boolean, object, array, got 'text'"),
    (CENTRAL + '[central.answers.heartbeat.check]\n"a" = { type = "string" }\n',
     "central.answers.heartbeat.check: not a JSON pointer: 'a' (e.g. \"/id\", \"/0\")"),
    (CENTRAL + '[central.errors]\nframe = { code = true }\n', "central.errors.frame.code: expected a string or a whole number"),
    (CENTRAL + '[central.errors]\nformation = { code = "X" }\n',
     "central.errors.formation: unknown field (known: frame, internal, message_type, not_approved, not_supported, occurrence, payload, property, type, unknown_action)"),
    (CENTRAL.replace("[central]\nboot_status", "[central]\nbootstatus"), "central.bootstatus: unknown field (known: answers, boot_status, errors, interval, rpc)"),
    (CENTRAL.replace('boot_status = { approved = "Accepted", pending = "Pending", unknown = "Pending", blocked = "Rejected" }\n', ""),
     "central.answers.boot.effect: a boot answer needs central.boot_status (which device gets which answer)"),
    (CENTRAL.replace('effect = "boot"', "").replace('boot_status = { approved = "Accepted", pending = "Pending", unknown = "Pending", blocked = "Rejected" }\n', ""),
     "central.answers.boot.reply: template names {{boot_status}}, which needs `central.boot_status`"),
]  # fmt: skip


@pytest.mark.parametrize(("central", "message"), MISTAKES, ids=[m for _, m in MISTAKES])
def test_every_central_mistake_names_its_field(central, message):
    with pytest.raises(InvalidInput) as caught:
        parse(BASE + central)
    assert caught.value.message == f"mini.toml: {message}"


def test_a_text_profile_cannot_have_a_central_side():
    text = 'format = "wsctl-profile/1"\n[profile]\nid = "t"\n[framing]\npreset = "text-lockstep"\n[commands.x]\n'
    with pytest.raises(InvalidInput, match="central: the central side needs a JSON framing"):
        parse(text + "[central.answers.x]\n")


def test_profile_validate_reports_a_central_mistake_in_one_line_with_exit_8(tmp_path):
    path = tmp_path / "mini.toml"
    path.write_text(BASE + CENTRAL.replace("always = true", 'always = "yes"'), encoding="utf-8")
    out = run_in_process("profile", "validate", str(path))
    assert out.returncode == 8 and out.stdout == ""
    err = out.stderr
    assert err.splitlines()[0] == f"wsctl: error: {path}: central.answers.boot.always: expected true or false"
    assert "Traceback" not in err


def test_profile_show_lists_the_central_side():
    out = run_in_process("profile", "show", "ocpp16")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert "  start_tx  [StartTransaction]  device request, answered by wsctl hub (CENTRAL)" in lines
    assert (
        "CENTRAL  (wsctl hub answers these)  boot answers: approved Accepted, pending Pending, unknown Pending, "
        "blocked Rejected"
    ) in lines
    assert (
        '  StartTransaction  reply {"transactionId": "{{transaction_id}}", "idTagInfo": "{{id_tag_info}}"}; '
        "effect transaction; transaction start; authorize /idTag"
    ) in lines
    shown = json.loads(run_in_process("profile", "show", "ocpp201", "--json").stdout)
    transaction = next(a for a in shown["central"]["answers"] if a["name"] == "TransactionEvent")
    assert (transaction["transaction"], transaction["record"]["transaction_id"]) == (
        "report",
        "/transactionInfo/transactionId",
    )
    assert json.loads(run_in_process("profile", "show", "conveyor", "--json").stdout)["central"] is None


RPC = """\
format = "wsctl-profile/1"
[profile]
id = "rpc"
[framing]
preset = "jsonrpc2"
[commands.ping]
[events.hello]
name = "Hello"
kind = "request"
[events.hello.fields.model]
type = "string"
[central.answers.hello]
reply = { welcome = "{{device}}", at = "{{now}}" }
effect = "notification"
record = { model = "/model" }
"""


def test_a_json_rpc_device_gets_a_central_side_the_same_way():
    # the hub is not OCPP-only: frame checks come from the framing's templates
    profile = parse(RPC)
    side, ctx = CentralSide(profile), Ledger().context(device="sensor-4")
    hello = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "Hello", "params": {"model": "S4"}})
    answer = route(profile, side, hello, ctx)
    assert json.loads(answer.frame) == {"jsonrpc": "2.0", "id": 7, "result": {"welcome": "sensor-4", "at": NOW}}
    assert answer.effects[0].fields == {"model": "S4"}
    cases = [
        ({"jsonrpc": "2.0", "id": 8, "method": "Hello", "params": {"model": 5}}, 8, -32602),
        ({"jsonrpc": "2.0", "id": 9, "method": "Nope", "params": {}}, 9, -32601),
        ({"jsonrpc": "2.0", "id": 10, "method": "Hello", "params": [1]}, 10, -32602),
        ({"jsonrpc": "2.0", "id": 11}, 11, -32600),  # no method: a broken call, answered
        ({"jsonrpc": "1.0", "id": 12, "method": "Hello"}, 12, -32600),
    ]
    for message, answered_id, code in cases:
        answer = route(profile, side, json.dumps(message), ctx)
        sent = json.loads(answer.frame)
        assert (sent["id"], sent["error"]["code"]) == (answered_id, code), message
