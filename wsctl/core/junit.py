"""JUnit XML, the report CI systems read (Jenkins, GitLab, GitHub Actions, Azure).

Written to the Apache Ant schema (the published JUnit.xsd validates it, see tests/junit_xsd.py):
``<testsuites>`` around one ``<testsuite>`` with the attributes and the
``properties``/``system-out``/``system-err`` children that schema requires, one
``<testcase>`` per verdict, ``<failure>``/``<error>`` with a one-line message
and the diff as text.  Pure: times and the timestamp are given.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

OUTCOMES = ("pass", "failure", "error", "skipped")
#: characters XML 1.0 cannot carry at all, even escaped (device text can hold them)
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class JUnitCase:
    name: str
    classname: str
    time: float
    outcome: str = "pass"
    message: str = ""
    #: the failure's body: the diff, one difference per line
    detail: str = ""
    #: failure/error type attribute: wsctl's exit kind (device_error, timeout ...)
    type: str = ""


def clean(text: str) -> str:
    """``text`` with characters XML cannot hold shown as ``\\uXXXX``."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def junit_xml(
    suite: str,
    cases: Iterable[JUnitCase],
    *,
    timestamp: str,
    hostname: str,
    time: float,
    properties: Iterable[tuple[str, str]] = (),
) -> str:
    """The document, as text.  ``timestamp``: ``YYYY-MM-DDTHH:MM:SS`` (UTC, no zone: the schema's form)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", timestamp):
        raise ValueError(f"timestamp must be YYYY-MM-DDTHH:MM:SS, got {timestamp!r}")
    cases = list(cases)
    for case in cases:
        if case.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {case.outcome!r}")
    count = {o: sum(1 for c in cases if c.outcome == o) for o in OUTCOMES}
    # the schema gives <testsuites> no attributes: the counts are on the suite
    root = ET.Element("testsuites")
    element = ET.SubElement(
        root,
        "testsuite",
        {
            "name": clean(suite) or "wsctl",
            "package": clean(suite) or "wsctl",
            "id": "0",
            "timestamp": timestamp,
            "hostname": clean(hostname) or "localhost",
            "tests": str(len(cases)),
            "failures": str(count["failure"]),
            "errors": str(count["error"]),
            "skipped": str(count["skipped"]),
            "time": _seconds(time),
        },
    )
    props = ET.SubElement(element, "properties")
    for name, value in properties:
        ET.SubElement(props, "property", {"name": clean(name), "value": clean(value)})
    for case in cases:
        node = ET.SubElement(
            element,
            "testcase",
            {
                "name": clean(case.name) or "(unnamed)",
                "classname": clean(case.classname) or suite,
                "time": _seconds(case.time),
            },
        )
        if case.outcome == "skipped":
            ET.SubElement(node, "skipped", {"message": clean(case.message)} if case.message else {})
        elif case.outcome in ("failure", "error"):
            child = ET.SubElement(
                node, case.outcome, {"message": clean(case.message), "type": clean(case.type) or case.outcome}
            )
            child.text = clean(case.detail)
    ET.SubElement(element, "system-out")
    ET.SubElement(element, "system-err")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
