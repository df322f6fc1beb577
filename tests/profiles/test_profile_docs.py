"""docs/profiles.md shows TOML that must stay true: the custom-device example
parses (and exports a valid AsyncAPI document), and the jsonrpc2 preset written
out in the docs is exactly what the preset expands to."""

from __future__ import annotations

import re

from profile_helpers import REPO

from wsctl.core.profile.asyncapi import to_asyncapi
from wsctl.core.profile.loader import parse_profile

DOC = REPO / "docs" / "profiles.md"


def _toml_blocks():
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_custom_device_example_parses_and_exports():
    (example,) = [b for b in _toml_blocks() if 'id = "xy-table"' in b]
    profile = parse_profile(example, source="docs/profiles.md")
    assert profile.framing.preset is None and set(profile.commands) == {"jog", "home"}
    assert profile.commands["home"].dangerous and profile.commands["jog"].param("distance").unit == "mm"
    assert [r.kind for r in profile.framing.inbound] == ["error", "result", "event"]
    doc = to_asyncapi(profile)
    assert doc["components"]["correlationIds"]["id"]["location"] == "$message.payload#/id"


def test_documented_jsonrpc2_expansion_matches_the_preset():
    (block,) = [b for b in _toml_blocks() if b.startswith('[framing]\nencoding = "json"\nid = "counter"')]
    head = 'format = "wsctl-profile/1"\n[profile]\nid = "t"\n[commands.a]\n'
    written = parse_profile(head + block, source="docs").framing
    preset = parse_profile(head + '[framing]\npreset = "jsonrpc2"\n', source="preset").framing
    for attr in (
        "encoding",
        "id_scheme",
        "max_in_flight",
        "request",
        "result",
        "error",
        "event",
        "device_request",
        "inbound",
    ):
        assert getattr(written, attr) == getattr(preset, attr), attr
