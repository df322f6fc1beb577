"""Framing presets.  Each expands to the explicit form a profile could have
written itself (`wsctl profile show --framing NAME` prints it), so a device that
fits no preset is described with the same fields, without code.

jsonrpc2   JSON-RPC 2.0: ids from a counter, any number in flight; notifications
           (no id) are telemetry, a request with `method` and `id` is the device
           asking.
ocpp-j     OCPP-J 1.6 / 2.0.1: CALL [2,id,Action,{}], CALLRESULT [3,id,{}] (the
           action is not repeated: correlation remembers it per id), CALLERROR
           [4,id,code,description,{}]; one outstanding call per direction.
text-lockstep  one line out, the next non-event line back; events and errors
           recognised by regexes.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "jsonrpc2": {
        "encoding": "json",
        "id": "counter",
        "max_in_flight": 0,
        "request": {"jsonrpc": "2.0", "id": "{{id}}", "method": "{{name}}", "params": "{{params}}"},
        "result": {"jsonrpc": "2.0", "id": "{{id}}", "result": "{{payload}}"},
        "error": {"jsonrpc": "2.0", "id": "{{id}}", "error": {"code": "{{code}}", "message": "{{message}}"}},
        "event": {"jsonrpc": "2.0", "method": "{{name}}", "params": "{{payload}}"},
        "device_request": {"jsonrpc": "2.0", "id": "{{id}}", "method": "{{name}}", "params": "{{payload}}"},
        "inbound": [
            {
                "kind": "error",
                "match": {"/error": {"exists": True}},
                "id": "/id",
                "code": "/error/code",
                "message": "/error/message",
                "detail": "/error/data",
            },
            {"kind": "result", "match": {"/result": {"exists": True}}, "id": "/id", "payload": "/result"},
            {
                "kind": "request",
                "match": {"/method": {"exists": True}, "/id": {"exists": True}},
                "id": "/id",
                "name": "/method",
                "payload": "/params",
            },
            {"kind": "event", "match": {"/method": {"exists": True}}, "name": "/method", "payload": "/params"},
        ],
        "errors": {
            "parse": {"code": -32700, "message": "Parse error"},
            "invalid_request": {"code": -32600, "message": "Invalid Request"},
            "unknown_command": {"code": -32601, "message": "Method not found"},
            "invalid_params": {"code": -32602, "message": "Invalid params"},
            "internal": {"code": -32603, "message": "Internal error"},
            "not_authorized": {"code": -32001, "message": "Not authorized"},
            "device": {"code": -32000, "message": "Device error"},
        },
        "unknown_id": None,
    },
    "ocpp-j": {
        "encoding": "json",
        "id": "uuid4",
        "max_in_flight": 1,
        "request": [2, "{{id}}", "{{name}}", "{{params}}"],
        "result": [3, "{{id}}", "{{payload}}"],
        "error": [4, "{{id}}", "{{code}}", "{{message}}", "{{detail}}"],
        "event": None,
        "device_request": [2, "{{id}}", "{{name}}", "{{payload}}"],
        "inbound": [
            {"kind": "result", "match": {"/0": 3}, "id": "/1", "payload": "/2"},
            {"kind": "error", "match": {"/0": 4}, "id": "/1", "code": "/2", "message": "/3", "detail": "/4"},
            {"kind": "request", "match": {"/0": 2}, "id": "/1", "name": "/2", "payload": "/3"},
        ],
        "errors": {
            "parse": {"code": "FormationViolation", "message": "Message is not valid OCPP-J"},
            "invalid_request": {"code": "FormationViolation", "message": "Malformed CALL"},
            "unknown_command": {"code": "NotImplemented", "message": "Action is not implemented"},
            "invalid_params": {"code": "TypeConstraintViolation", "message": "Payload does not fit the action"},
            "internal": {"code": "InternalError", "message": "Internal error"},
            "not_authorized": {"code": "SecurityError", "message": "Not authorized"},
            "device": {"code": "GenericError", "message": "Device error"},
        },
        "unknown_id": "-1",
    },
    "text-lockstep": {
        "encoding": "text",
        "id": "none",
        "max_in_flight": 1,
        "request": "{{name}}",
        "result": "{{payload}}",
        "error": "ERR {{code}} {{message}}",
        "event": "#EVT {{name}} {{payload}}",
        "device_request": None,
        "inbound": [],
        # (?s) and \Z: `.*` runs to the end in one pass, whatever the line holds
        # (with `$`, an embedded line break made every split of \S+ fail in turn)
        "event_regex": r"(?s)^#EVT (?P<name>\S+) ?(?P<payload>.*)\Z",
        "error_regex": r"(?s)^ERR (?P<code>\S+) ?(?P<message>.*)\Z",
        # SCPI and most line protocols run several commands from one line
        "separators": [";"],
        "errors": {
            "parse": {"code": 400, "message": "cannot parse"},
            "invalid_request": {"code": 400, "message": "bad request"},
            "unknown_command": {"code": 404, "message": "unknown command"},
            "invalid_params": {"code": 422, "message": "bad parameter"},
            "internal": {"code": 500, "message": "internal error"},
            "not_authorized": {"code": 403, "message": "not authorized"},
            "device": {"code": 409, "message": "device error"},
        },
        "unknown_id": None,
    },
}

FRAMING_KEYS = (
    "preset",
    "encoding",
    "id",
    "max_in_flight",
    "request",
    "result",
    "error",
    "event",
    "device_request",
    "inbound",
    "event_regex",
    "error_regex",
    "separators",
    "errors",
    "unknown_id",
)


def expand(framing: dict[str, Any]) -> dict[str, Any]:
    """The preset's explicit form with the profile's own keys laid over it."""
    preset = framing.get("preset")
    base = dict(PRESETS[preset]) if preset in PRESETS else {}
    merged = {**base, **{k: v for k, v in framing.items() if k != "preset"}}
    if isinstance(framing.get("errors"), dict) and "errors" in base:
        # anything else is left for the loader to refuse, naming the field
        merged["errors"] = {**base["errors"], **framing["errors"]}
    merged["preset"] = preset
    return merged
