"""CallOutcome as carried between hubs: as_dict -> JSON -> from_dict."""

from __future__ import annotations

import json

import pytest

from wsctl.core.hub.outcome import CallOutcome, refused

CASES = [
    CallOutcome("ok", payload={"configurationKey": [{"key": "K", "readonly": False, "value": "1"}]}, elapsed=0.004),
    CallOutcome("failed-check", payload={"status": "Rejected"}, message="status is Rejected"),
    CallOutcome("device-error", code="NotSupported", message="no", detail={"why": [1, 2]}, elapsed=0.5),
    refused("not_authorized", "hub: role observer may not run reset"),
    refused("device", "CP-1 is offline since ...", "offline"),
]


@pytest.mark.parametrize("outcome", CASES, ids=[c.outcome for c in CASES])
def test_round_trip_through_json(outcome: CallOutcome) -> None:
    doc = json.loads(json.dumps(outcome.as_dict()))
    assert CallOutcome.from_dict(doc) == outcome


def test_as_dict_leaves_out_unset_fields() -> None:
    assert CallOutcome("ok", payload={}).as_dict() == {"outcome": "ok", "payload": {}}
    assert CallOutcome("ok", payload=0).as_dict() == {"outcome": "ok", "payload": 0}


@pytest.mark.parametrize("doc", [None, [], {"outcome": "exploded"}, {"payload": {}}, "ok"])
def test_malformed_answer_is_a_refusal(doc: object) -> None:
    found = CallOutcome.from_dict(doc)
    assert found.outcome == "refused" and found.error_kind == "device"
