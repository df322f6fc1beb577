"""Scenario files from elsewhere: what they send is read as the device reads it,
their regexes run in bounded time, and values that cannot become JSON are
refused when the file is read (exit 8 naming the field), never at run time."""

from __future__ import annotations

import time

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.scenario.checks import compile_expectation, evaluate
from wsctl.core.scenario.format import check_against_profile, parse_scenario
from wsctl.core.scenario.verdict import SuiteResult, judge_refusal
from wsctl.files.profiles import load_profile

HEAD = 'format = "wsctl-scenario/1"\n[scenario]\nid = "t"\nprofile = "conveyor"\n'


def scenario(body: str):
    return parse_scenario(HEAD + body, "t.toml")


def one_step(step: str, vars_: str = ""):
    return scenario(f'{vars_}[[cases]]\nname = "c"\n[[cases.steps]]\n{step}\n')


@pytest.fixture(scope="module")
def conveyor():
    return load_profile("conveyor")


@pytest.mark.parametrize(
    "raw",
    [
        '{"jsonrpc":"2.0","id":"x1","method":"conveyor.estop","params":{}}',
        # the device reads the last `method`
        '{"jsonrpc":"2.0","id":"x1","method":"conveyor.status","method":"conveyor.estop"}',
    ],
    ids=["estop", "duplicate-key"],
)
def test_a_raw_step_the_device_reads_as_dangerous_needs_yes(conveyor, raw):
    needs = check_against_profile(one_step(f"raw = '{raw}'"), conveyor)
    assert needs, "a raw e-stop (or a message with two readings) must need --yes"


def test_a_raw_step_is_read_with_the_variables_known_before_the_run(conveyor):
    raw = 'raw = \'{"jsonrpc":"2.0","id":"x1","method":"conveyor.${m}","params":{}}\''
    assert check_against_profile(one_step(raw, '[vars]\nm = "estop"\n'), conveyor) == {"estop"}
    assert check_against_profile(one_step(raw, '[vars]\nm = "status"\n'), conveyor) == set()
    assert check_against_profile(one_step(raw), conveyor, {"m": "estop"}) == {"estop"}
    # a variable only a step saves cannot be read before the run: --yes
    saved = scenario(
        f'[[cases]]\nname = "c"\n[[cases.steps]]\nsend = "status"\nsave = {{ m = "/state" }}\n[[cases.steps]]\n{raw}\n'
    )
    [label] = check_against_profile(saved, conveyor)
    assert "${m}" in label


def test_an_exponential_regex_is_refused_when_the_file_is_read():
    with pytest.raises(InvalidInput, match=r"t\.toml: cases\[1\]\.steps\[1\]\.expect\.: regex: .*exponential"):
        one_step('raw = "x"\nexpect = { "" = { regex = "^(a+)+$" } }')
    with pytest.raises(InvalidInput, match=r"steps\[1\]\.refused\.message: regex: .*exponential"):
        one_step('send = "status"\nrefused = { kind = "not_authorized", message = "(a|aa)+$" }')


def test_a_polynomial_regex_sees_a_bounded_subject():
    # quadratic in the subject: 10^12 steps for a device's megabyte, 10^8 for the bound
    exp = compile_expectation("", {"regex": "a*b"})
    started = time.monotonic()
    assert evaluate((exp,), "a" * 1_000_000 + "b", {})  # the subject is cut: no match
    step = one_step('send = "status"\nrefused = { kind = "invalid", message = "a*b" }').cases[0].steps[0]
    assert judge_refusal(step, "invalid", "a" * 1_000_000 + "b") is not None
    assert time.monotonic() - started < 10


def test_a_regex_holds_no_variables():
    with pytest.raises(InvalidInput, match=r"expect\./state: regex: a regex holds no \$\{variables\}"):
        one_step('send = "status"\nexpect = { "/state" = { regex = "x${sp}" } }', '[vars]\nsp = "("\n')


@pytest.mark.parametrize(
    "vars_, step, field",
    [
        ("[vars]\nd = 1979-05-27T07:32:00Z\n", 'raw = "${d}x"', "vars.d"),
        ("", 'send = "set_speed"\nparams = { speed = 1979-05-27 }', "cases[1].steps[1].params.speed"),
        ("[vars]\nd = [07:32:00]\n", 'send = "status"', "vars.d[0]"),
    ],
)
def test_dates_and_times_are_refused_where_they_are_read(vars_, step, field):
    with pytest.raises(InvalidInput) as caught:
        one_step(step, vars_)
    assert caught.value.message.startswith(f"t.toml: {field}: a TOML date or time")


def test_a_report_never_holds_the_urls_password():
    result = SuiteResult(one_step('send = "status"'), "wss://cp1:s3cretPW@localhost:8443/ocpp")
    assert result.target == "wss://cp1@localhost:8443/ocpp"
    assert "s3cret" not in str(result.as_dict(started="now", time=0.0))
