"""wsctl's JUnit XML: valid against the Ant JUnit schema, read right by junitparser."""

from __future__ import annotations

import junitparser
import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from junit_xsd import Validator, schema_or_skip

from wsctl.core.junit import JUnitCase, clean, junit_xml


@pytest.fixture(scope="module")
def schema():
    return Validator()


def document(cases, **kw):
    args = {"timestamp": "2026-12-02T01:02:03", "hostname": "ci-runner", "time": 1.5, **kw}
    return junit_xml("conveyor", cases, **args)


CASES = [
    JUnitCase("start", "conveyor", 0.12),
    JUnitCase(
        "speed limits",
        "conveyor",
        0.3,
        "failure",
        "step 2 (send set_speed): /speed: expected 1200, got 0",
        '/speed: expected 1200, got 0\nreply: {"speed":0}',
        "device_error",
    ),
    JUnitCase("estop", "conveyor", 0.0, "error", "cannot connect: refused", "", "connect"),
    JUnitCase("later", "conveyor", 0.0, "skipped", "not run"),
]


def test_valid_against_the_schema_and_read_back(schema, tmp_path):
    text = document(CASES, properties=[("target", "wss://10.0.0.17:8443/rpc")])
    schema.validate(text)
    path = tmp_path / "r.xml"
    path.write_text(text, encoding="utf-8")
    [suite] = list(junitparser.JUnitXml.fromfile(str(path)))
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == ("conveyor", 4, 1, 1, 1)
    by_name = {case.name: case for case in suite}
    assert by_name["start"].is_passed and by_name["start"].time == pytest.approx(0.12)
    [failure] = by_name["speed limits"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "step 2 (send set_speed): /speed: expected 1200, got 0"
    assert failure.type == "device_error"
    assert failure.text == '/speed: expected 1200, got 0\nreply: {"speed":0}'
    [error] = by_name["estop"].result
    assert isinstance(error, junitparser.Error) and error.type == "connect"
    assert by_name["later"].is_skipped


def test_an_empty_suite_is_valid(schema):
    schema.validate(document([]))


def test_what_a_device_said_cannot_break_the_document(schema, tmp_path):
    nasty = 'NUL\x00 bell\x07 esc\x1b[31m <tag attr="x"> & ]]> \ud800 ünïcødé'
    text = document(
        [JUnitCase(nasty, nasty, 0.1, "failure", nasty, nasty, nasty)], hostname=nasty, properties=[(nasty, nasty)]
    )
    schema.validate(text)
    path = tmp_path / "r.xml"
    path.write_text(text, encoding="utf-8", errors="strict")
    [suite] = list(junitparser.JUnitXml.fromfile(str(path)))
    [case] = list(suite)
    assert case.name == clean(nasty)
    assert (
        "\\u0000" in case.name
        and "\\u001b" in case.name
        and '<tag attr="x"> & ]]>' in case.name
        and "ünïcødé" in case.name
    )
    assert case.result[0].text == clean(nasty)


def test_the_schema_would_catch_what_it_checks():
    schema = schema_or_skip()
    # the validation above is worth something: a document missing what the schema requires is refused
    bad = document(CASES).replace(' hostname="ci-runner"', "")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(bad)


def test_timestamp_and_outcome_are_checked():
    with pytest.raises(ValueError, match="timestamp"):
        junit_xml("s", [], timestamp="2026-12-02T01:02:03Z", hostname="h", time=0)
    with pytest.raises(ValueError, match="outcome"):
        junit_xml("s", [JUnitCase("a", "b", 0, "passed")], timestamp="2026-12-02T01:02:03", hostname="h", time=0)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.text(), st.text(), st.text())
def test_any_text_gives_a_valid_document(schema, name, message, detail):
    text = document(
        [JUnitCase(name, name, 0.5, "failure", message, detail, message)], properties=[(name or "p", detail)]
    )
    schema.validate(text)
    [case] = list(junitparser.JUnitXml.fromstring(text))[0]
    # what a reader gets back is what was written (XML turns a carriage return into a line feed)
    assert (case.result[0].text or "") == clean(detail).replace("\r\n", "\n").replace("\r", "\n")
    assert case.result[0].message == clean(message) and case.name == (clean(name) or "(unnamed)")
