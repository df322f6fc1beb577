"""The pure parts of `wsctl test`: scenario files, matchers, variables, verdicts."""

from __future__ import annotations

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.pointer import MISSING
from wsctl.core.scenario.checks import CheckError, UnknownVariable, compile_expectation, evaluate, substitute
from wsctl.core.scenario.format import check_against_profile, check_variables, parse_scenario
from wsctl.core.scenario.verdict import (
    FAIL,
    PASS,
    SuiteResult,
    errored,
    failed,
    judge_refusal,
    judge_reply,
    junit_cases,
    passed,
    timed_out,
)
from wsctl.files.profiles import load_profile

HEAD = 'format = "wsctl-scenario/1"\n[scenario]\nid = "t"\nprofile = "conveyor"\n'


def scenario(body: str):
    return parse_scenario(HEAD + body, "t.toml")


def check(pointer, spec, doc, variables=None):
    return evaluate((compile_expectation(pointer, spec),), doc, variables or {})


# -- matchers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, doc, ok",
    [
        (1200, {"v": 1200}, True),
        (1200, {"v": 1200.0}, True),  # JSON numbers: 1200 == 1200.0
        (1, {"v": True}, False),  # but true is not 1
        (False, {"v": 0}, False),
        ("running", {"v": "running"}, True),
        ({"eq": {"a": [1, 2]}}, {"v": {"a": [1, 2]}}, True),
        ({"eq": {"a": [1, 2]}}, {"v": {"a": [2, 1]}}, False),
        ({"min": 10, "max": 20}, {"v": 10}, True),
        ({"min": 10, "max": 20}, {"v": 20.5}, False),
        ({"min": 0}, {"v": "5"}, False),  # a string is no number
        ({"min": 0}, {"v": True}, False),
        ({"regex": "^CP-\\d+$"}, {"v": "CP-0001"}, True),
        ({"regex": "latched"}, {"v": "emergency stop is latched"}, True),  # searched, not anchored
        ({"regex": "x"}, {"v": 1}, False),
        ({"type": "integer"}, {"v": 3}, True),
        ({"type": "integer"}, {"v": 3.5}, False),
        ({"type": "integer"}, {"v": False}, False),
        ({"type": "number"}, {"v": 3.5}, True),
        ({"type": "null"}, {"v": None}, True),
        ({"type": "array"}, {"v": []}, True),
        ({"type": "object"}, {"v": []}, False),
        ({"one_of": ["Soft", "Hard"]}, {"v": "Hard"}, True),
        ({"one_of": ["Soft", "Hard"]}, {"v": "hard"}, False),
        ({"exists": False}, {}, True),
        ({"exists": True}, {}, False),
        ({"type": "string"}, {}, False),  # absent fails every test but exists = false
    ],
)
def test_matchers(spec, doc, ok):
    assert (check("/v", spec, doc) == []) is ok


def test_a_mismatch_says_what_was_wanted_and_what_came():
    [m] = check("/speed", {"min": 1000, "type": "integer"}, {"speed": 12.5})
    assert m.line() == "/speed: expected >= 1000, type integer, got 12.5"
    [m] = check("/x", 5, {})
    assert m.line() == "/x: expected 5, got (absent)"


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"minimum": 1}, "unknown test 'minimum'"),
        ({"min": "1"}, "min: expected a finite number"),
        ({"max": float("nan")}, "max: expected a finite number"),
        ({"regex": "("}, "regex:"),
        ({"type": "int"}, "type: expected one of"),
        ({"one_of": "a"}, "one_of: expected a list"),
        ({}, "empty matcher"),
    ],
)
def test_bad_matchers_are_refused(spec, words):
    with pytest.raises(CheckError, match=words.replace("(", r"\(")):
        compile_expectation("/v", spec)


def test_pointer_must_be_a_pointer():
    with pytest.raises(CheckError, match="must start with '/'"):
        compile_expectation("speed", 1)


# -- variables -------------------------------------------------------------------------


def test_a_whole_reference_keeps_the_type_and_a_partial_one_is_text():
    values = {"tx": 1001, "tag": "04A2"}
    assert substitute("${tx}", values) == 1001
    assert substitute({"transaction_id": "${tx}", "note": "tx ${tx} for ${tag}"}, values) == {
        "transaction_id": 1001,
        "note": "tx 1001 for 04A2",
    }
    assert substitute(['[2,"a","RemoteStopTransaction",{"transactionId":${tx}}]'], values) == [
        '[2,"a","RemoteStopTransaction",{"transactionId":1001}]'
    ]
    with pytest.raises(UnknownVariable):
        substitute("${nope}", values)


def test_expectations_may_name_variables():
    assert check("/speed", "${want}", {"speed": 800}, {"want": 800}) == []
    assert check("/speed", {"eq": "${want}"}, {"speed": 801}, {"want": 800}) != []


def test_a_variable_used_before_it_is_saved_is_refused_at_load():
    s = scenario("""
[[cases]]
name = "stop"
[[cases.steps]]
send = "set_speed"
params = { speed = "${sp}" }
[[cases.steps]]
send = "status"
save = { sp = "/setpoint" }
""")
    with pytest.raises(InvalidInput, match=r"step 1 \(send set_speed\) uses \$\{sp\} before any step saves it"):
        check_variables(s, set())
    check_variables(s, {"sp"})  # given with --var: fine


def test_saved_variables_reach_later_steps_only_within_the_case():
    s = scenario("""
[[cases]]
name = "a"
[[cases.steps]]
send = "status"
save = { sp = "/setpoint" }
[[cases.steps]]
send = "set_speed"
params = { speed = "${sp}" }
[[cases]]
name = "b"
[[cases.steps]]
send = "set_speed"
params = { speed = "${sp}" }
""")
    with pytest.raises(InvalidInput, match=r"cases\[2\] \(b\)"):
        check_variables(s, set())


# -- the file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        ("", "cases: expected at least one"),
        ('[[cases]]\nname = "x"\n', r"cases\[1\].steps: expected at least one"),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nwait = "telemetry"\n',
            "a step does one of send, raw, wait, sleep \\(send and wait given\\)",
        ),
        ('[[cases]]\nname = "x"\n[[cases.steps]]\nparams = {}\n', r"\(none given\)"),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsleep = -1\n',
            r"cases\[1\].steps\[1\].sleep: expected a number of seconds \(0 to 86400\)",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsleep = 1e300\n',
            r"sleep: expected a number of seconds \(0 to 86400\)",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nwait = "telemetry"\ntimeout = 0\n',
            r"timeout: expected a number of seconds \(more than 0, at most 86400\)",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nexpect = { "/a" = { max = 1e999 } }\n',
            r"max: expected a finite number",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsleep = 1\nexpect = {}\n',
            r"steps\[1\].expect: not for a sleep step",
        ),
        ('[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nexpcet = {}\n', r"steps\[1\].expcet: unknown field"),
        ('[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nrefused = "denied"\n', "'denied' is no exit kind"),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nrefused = "invalid"\nexpect = { "/a" = 1 }\n',
            "a refused step has no reply",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nexpect = { "/a" = { between = 1 } }\n',
            r"expect./a: unknown test 'between'",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nsave = { "1x" = "/a" }\n',
            "a variable name is letters",
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\nsave = { a = { pointer = "/a", from = "elsewhere" } }\n',
            'expected "message" or "answer"',
        ),
        (
            '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "start"\n[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "stop"\n',
            "case 'x' is named twice",
        ),
    ],
)
def test_bad_scenarios_get_one_line_naming_the_field(body, words):
    with pytest.raises(InvalidInput, match=words) as info:
        scenario(body)
    assert info.value.message.startswith("t.toml: ") and "\n" not in info.value.message


def test_format_and_toml_errors():
    with pytest.raises(InvalidInput, match='expected format = "wsctl-scenario/1"'):
        parse_scenario('format = "wsctl-scenario/9"\n', "t.toml")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        parse_scenario("format = \n", "t.toml")


def test_steps_are_read_with_their_parts():
    s = scenario("""
[vars]
tag = "04A2"
[[cases]]
name = "all kinds"
[[cases.steps]]
send = "set_speed"
params = { speed = 5 }
expect = { "/speed" = { min = 1 } }
timeout = 2
[[cases.steps]]
wait = "telemetry"
answer = { "/2/status" = "Accepted" }
save = { tx = { pointer = "/2/transactionId", from = "answer" } }
[[cases.steps]]
raw = "hello"
[[cases.steps]]
sleep = 0
[[cases.steps]]
send = "start"
refused = { kind = "device_error", message = "latched" }
""")
    send, wait, raw, sleep, refused = s.cases[0].steps
    assert (send.target, send.params, send.timeout, send.label) == (
        "set_speed",
        {"speed": 5},
        2.0,
        "step 1 (send set_speed)",
    )
    assert wait.save[0].source == "answer" and wait.answer[0].pointer == "/2/status"
    assert not raw.waits_for_reply and sleep.target == 0.0
    assert (refused.refused.kind, refused.refused.message) == ("device_error", "latched")
    assert s.variables == {"tag": "04A2"}


def test_steps_are_checked_against_the_profile_before_anything_is_sent():
    conveyor = load_profile("conveyor")
    with pytest.raises(InvalidInput, match="has no command 'strat'"):
        check_against_profile(scenario('[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "strat"\n'), conveyor)
    with pytest.raises(InvalidInput, match="has no event 'telemetrie'"):
        check_against_profile(scenario('[[cases]]\nname = "x"\n[[cases.steps]]\nwait = "telemetrie"\n'), conveyor)
    with pytest.raises(InvalidInput, match="maximum 3000"):
        check_against_profile(
            scenario('[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "set_speed"\nparams = { speed = 9000 }\n'),
            conveyor,
        )
    # a step that expects the refusal is the test of it, not a mistake in the file
    ok = scenario(
        '[[cases]]\nname = "x"\n[[cases.steps]]\nsend = "set_speed"\nparams = { speed = 9000 }\nrefused = "invalid"\n'
        '[[cases.steps]]\nsend = "estop"\n[[cases.steps]]\nwait = "conveyor.telemetry"\n'
    )
    assert check_against_profile(ok, conveyor) == {"estop"}


def test_shipped_packs_load_and_fit_their_profiles():
    from wsctl.cli.test_verb import read_scenario, shipped_packs

    assert {"conveyor", "conveyor-observer", "ocpp16", "ocpp201", "ocpp16-hub", "ocpp201-hub"} <= set(shipped_packs())
    for name in shipped_packs():
        pack = read_scenario(name)
        check_variables(pack, set())
        check_against_profile(pack, load_profile(pack.profile))


# -- verdicts -----------------------------------------------------------------------


def one_step(body: str):
    return scenario('[[cases]]\nname = "x"\n[[cases.steps]]\n' + body).cases[0].steps[0]


def test_a_reply_that_meets_its_expectations_saves_its_values():
    step = one_step('send = "status"\nexpect = { "/state" = "running" }\nsave = { sp = "/setpoint" }\n')
    variables: dict = {}
    assert judge_reply(step, {"state": "running", "setpoint": 800}, variables) is None
    assert variables == {"sp": 800}


def test_a_reply_that_misses_fails_with_the_diff():
    step = one_step('send = "status"\nexpect = { "/state" = "running", "/speed" = { max = 3000 } }\n')
    failure = judge_reply(step, {"state": "estop", "speed": 0}, {})
    assert failure.message == 'step 1 (send status): 1 expectation(s) not met: /state: expected "running", got "estop"'
    assert failure.diff[-1] == 'reply: {"state":"estop","speed":0}'


def test_saving_an_absent_value_fails():
    step = one_step('send = "status"\nsave = { sp = "/setpoint" }\n')
    assert "cannot save ${sp}: /setpoint is absent in the reply" in judge_reply(step, {}, {}).reason


def test_refusals():
    step = one_step('send = "start"\nrefused = { kind = "device_error", message = "latched" }\n')
    assert judge_refusal(step, "device_error", "emergency stop is latched") is None
    assert "does not match /latched/" in judge_refusal(step, "device_error", "belt jammed").reason
    assert (
        judge_refusal(step, "not_authorized", "role observer").reason
        == "expected a refusal (device_error), got not_authorized: role observer"
    )
    assert judge_reply(step, {"state": "running"}, {}).reason == "expected a refusal (device_error), got a reply"
    plain = one_step('send = "start"\n')
    assert judge_refusal(plain, "timeout", "no reply within 5 s").reason == "timeout: no reply within 5 s"


def test_a_wait_that_times_out_shows_the_last_event_of_its_kind():
    step = one_step('wait = "telemetry"\nexpect = { "/state" = "running" }\n')
    assert timed_out(step, 5).reason == "no telemetry event within 5 s"
    last = {"state": "estop"}
    failure = timed_out(step, 5, last, check("/state", "running", last))
    assert failure.reason.endswith('the last one: /state: expected "running", got "estop"')
    assert MISSING is not last


def test_suite_exit_codes_and_junit_cases():
    s = scenario('[[cases]]\nname = "a"\n[[cases.steps]]\nsend = "start"\n')
    step = s.cases[0].steps[0]
    result = SuiteResult(s, "wss://x/")
    result.verdicts = [passed("a", 1, 0.1)]
    assert result.exit_code() == 0 and result.ok
    result.verdicts.append(errored("b", "cannot connect: refused", "connect", 1, 0.2))
    assert result.exit_code() == 3
    result.verdicts.append(failed("c", judge_refusal(step, "timeout", "no reply"), 1, 0.3))
    assert result.exit_code() == 7 and result.counts() == {PASS: 1, FAIL: 1, "error": 1}
    cases = junit_cases(result)
    assert [c.outcome for c in cases] == ["pass", "error", "failure"]
    assert cases[2].message == "step 1 (send start): timeout: no reply" and cases[1].type == "connect"
    assert result.as_dict(started="2026-12-02T00:00:00Z", time=0.6)["cases"][2]["verdict"] == FAIL


@pytest.mark.parametrize("name", ["/dev/zero", "../profiles/secret.toml", "a b"])
def test_a_scenario_names_its_profile_never_a_path(name):
    text = (
        HEAD.replace('profile = "conveyor"', f"profile = {name!r}")
        + '[[cases]]\nname = "x"\n[[cases.steps]]\nsleep = 0\n'
    )
    with pytest.raises(InvalidInput, match="scenario.profile: .* is not the plain name of an installed profile"):
        parse_scenario(text, "t.toml")


def test_var_values_are_read_as_toml_else_as_text():
    from wsctl.cli.test_verb import _variables
    from wsctl.core.errors import UsageError

    assert _variables(("a=42", "b=true", "c=04A2B3C4", 'd="x y"', "e=1.5", "f=")) == {
        "a": 42,
        "b": True,
        "c": "04A2B3C4",
        "d": "x y",
        "e": 1.5,
        "f": "",
    }
    for bad in ("novalue", "1x=3", "=3"):
        with pytest.raises(UsageError, match="expected NAME=VALUE"):
            _variables((bad,))
