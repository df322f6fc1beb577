"""A framing that leaves out a rule the profile needs is refused at load time,
naming the file and the field: a device error would otherwise time out instead
of exiting 7, a device request would fit no rule, an event line would be taken
as a command's reply.  Presets whose rules are overridden away count too."""

from __future__ import annotations

import pytest
from profile_helpers import SHIPPED

from wsctl.core.errors import InvalidInput
from wsctl.core.profile.loader import parse_profile
from wsctl.files.profiles import load_profile

HEAD = 'format = "wsctl-profile/1"\n[profile]\nid = "t"\n'
RESULT = '[[framing.inbound]]\nkind = "result"\nmatch = { "/ok" = { exists = true } }\nid = "/id"\npayload = "/ok"\n'
ERROR = '[[framing.inbound]]\nkind = "error"\nmatch = { "/fail" = { exists = true } }\nid = "/id"\nmessage = "/fail"\n'
CUSTOM = HEAD + '[framing]\nrequest = { id = "{{id}}", op = "{{name}}" }\n'


def error_of(text: str) -> str:
    with pytest.raises(InvalidInput) as exc:
        parse_profile(text, source="x.toml")
    assert exc.value.exit_code == 8 and "\n" not in str(exc.value)
    return str(exc.value)


def test_json_framing_without_an_error_rule_is_refused():
    assert error_of(CUSTOM + RESULT + "[commands.a]\n") == (
        "x.toml: framing.inbound: no rule of kind 'error': device errors could never be recognised"
    )


def test_preset_with_its_rules_overridden_away_is_refused():
    # inbound replaces the preset's list as a whole: the error rule is gone
    text = HEAD + '[framing]\npreset = "ocpp-j"\n' + RESULT.replace("/ok", "/2") + "[commands.a]\n"
    assert "no rule of kind 'error'" in error_of(text)


def test_device_request_event_without_a_request_rule_is_refused():
    text = (
        CUSTOM
        + RESULT
        + ERROR
        + '[commands.a]\n[events.boot]\nname = "BootNotification"\nkind = "request"\nreply = {}\n'
    )
    assert error_of(text) == "x.toml: framing.inbound: no rule of kind 'request', but events.boot is a device request"


def test_telemetry_event_without_an_event_rule_is_refused():
    text = CUSTOM + RESULT + ERROR + '[commands.a]\n[events.meter]\nname = "meter"\n'
    assert error_of(text) == "x.toml: framing.inbound: no rule of kind 'event', but events.meter is telemetry"


def test_the_same_rules_with_the_missing_ones_added_load():
    event = '[[framing.inbound]]\nkind = "event"\nmatch = { "/ev" = { exists = true } }\nname = "/ev"\n'
    request = (
        '[[framing.inbound]]\nkind = "request"\nmatch = { "/ask" = { exists = true } }\nid = "/id"\nname = "/ask"\n'
    )
    text = (
        CUSTOM + RESULT + ERROR + event + request + '[commands.a]\n[events.meter]\nname = "meter"\n'
        '[events.boot]\nkind = "request"\nreply = {}\n'
    )
    profile = parse_profile(text, source="x.toml")
    assert [r.kind for r in profile.framing.inbound] == ["result", "error", "event", "request"]


TEXT = HEAD + '[framing]\nencoding = "text"\nrequest = "{{name}}"\n'


def test_text_framing_without_error_regex_is_refused():
    assert error_of(TEXT + "[commands.a]\n").startswith("x.toml: framing.error_regex: missing")


def test_text_telemetry_without_event_regex_is_refused():
    text = TEXT + "error_regex = '^ERR (?P<message>.*)$'\n[commands.a]\n[events.meas]\nname = \"MEAS\"\n"
    assert error_of(text) == (
        "x.toml: framing.event_regex: missing, but events.meas is telemetry (its lines would be taken as replies)"
    )
    # without telemetry events an event regex is not needed
    assert (
        parse_profile(
            TEXT + "error_regex = '^ERR (?P<message>.*)$'\n[commands.a]\n", source="x.toml"
        ).framing.event_regex
        is None
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_has_the_rules_its_events_need(name, sandbox):
    profile = load_profile(name, cwd=sandbox[0], environ=sandbox[1])
    framing = profile.framing
    kinds = {r.kind for r in framing.inbound}
    if framing.encoding == "json":
        assert {"result", "error"} <= kinds
    else:
        assert framing.error_regex is not None
    for event in profile.events.values():
        if framing.encoding == "text":
            assert framing.event_regex is not None
        else:
            assert ("request" if event.kind == "request" else "event") in kinds, event.key


def test_ocpp_preset_has_no_event_rule_and_needs_none(sandbox):
    profile = load_profile("ocpp16-charger", cwd=sandbox[0], environ=sandbox[1])
    assert "event" not in {r.kind for r in profile.framing.inbound}
    assert {e.kind for e in profile.events.values()} == {"request"}
