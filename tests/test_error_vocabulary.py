"""One error vocabulary (issue 9, item 3): the JSON `error` is always an exit
code's name, and every `cause` is documented in docs/exit-codes.md."""

from __future__ import annotations

import importlib
import io
import json
import pkgutil
import re
from pathlib import Path

import wsctl
from wsctl.cli.support.errors import report
from wsctl.core.errors import WsctlError
from wsctl.core.exit_table import ExitCode

DOC = (Path(__file__).resolve().parents[1] / "docs" / "exit-codes.md").read_text()
#: causes that cli/support/errors.py gives to foreign exceptions
FOREIGN_CAUSES = {"os", "internal"}


def _all_error_classes() -> set[type]:
    for info in pkgutil.walk_packages(wsctl.__path__, "wsctl."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found, todo = set(), [WsctlError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def _documented_causes() -> set[str]:
    section = DOC.split("| cause | with error | meaning |", 1)[1]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


def test_no_error_class_has_its_own_kind():
    names = {code.name.lower() for code in ExitCode}
    for cls in _all_error_classes():
        assert cls.kind is WsctlError.kind, f"{cls.__qualname__} overrides kind; set cause instead"
        assert cls.exit_code.name.lower() in names


def test_every_cause_is_documented_and_every_documented_cause_exists():
    used = {cls.cause for cls in _all_error_classes() if cls.cause} | FOREIGN_CAUSES
    assert used == _documented_causes()


def test_json_error_line_uses_the_exit_code_name_and_the_cause():
    from wsctl.core.errors import NotAuthorized, StoreError

    for exc, expected in (
        (NotAuthorized("estop refused"), {"error": "not_authorized", "exit_code": 9}),
        (StoreError("no store"), {"error": "error", "cause": "store", "exit_code": 1}),
        (ValueError("boom"), {"error": "error", "cause": "internal", "exit_code": 1}),
    ):
        out = io.StringIO()
        report(exc, out, as_json=True)
        obj = json.loads(out.getvalue())
        assert {k: obj[k] for k in expected} == expected
