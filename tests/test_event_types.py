"""Every event a session yields has one base and a rendering of its own.

A new `CodecEvent` type must be added to `EVENT_TYPES` and given a branch in
every consumer (`cli.render.decode_item` for watch, connect, send and run);
an event no consumer knows is a TypeError, never a line rendered as ``{}``.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from wsctl.cli.support.render import decode_item, event_line, event_record
from wsctl.core.profile import events as ev
from wsctl.core.profile.codec import ClientCodec
from wsctl.files.profiles import load_profile


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _examples():
    conveyor = load_profile("conveyor")
    command = conveyor.command("status")
    telemetry = next(iter(conveyor.events.values()))
    return {
        ev.Reply: ev.Reply(7, command, {"state": "running"}, '{"id":7}'),
        ev.Telemetry: ev.Telemetry(telemetry.name, telemetry, {"speed": 1200}, '{"speed":1200}'),
        ev.DeviceRequest: ev.DeviceRequest(3, "Heartbeat", None, {}, '[2,"3","Heartbeat",{}]', '[3,"3",{}]'),
        ev.Unmatched: ev.Unmatched(999, '{"id":999}', "reply with id 999 matches no pending request"),
        ev.Malformed: ev.Malformed("<html>", "not JSON"),
        ev.Received: ev.Received(b"\x00\x01"),
    }


def test_event_types_lists_every_event_in_the_module():
    defined = {
        obj
        for _, obj in inspect.getmembers(ev, inspect.isclass)
        if issubclass(obj, ev.CodecEvent) and obj is not ev.CodecEvent
    }
    assert set(ev.EVENT_TYPES) == defined == set(_all_subclasses(ev.CodecEvent))
    for cls in ev.EVENT_TYPES:
        fields = {f.name for f in dataclasses.fields(cls)}
        assert "raw" in fields and cls.__dataclass_params__.frozen, cls


@pytest.mark.parametrize("cls", ev.EVENT_TYPES, ids=lambda c: c.__name__)
def test_every_event_type_has_its_own_rendering(cls):
    item = _examples()[cls]
    decoded = decode_item(item)
    record = event_record("plc-17", item)
    line = event_line(record, show_device=True)
    if cls is ev.Received:
        # no profile: the message itself is the rendering
        assert decoded == {} and record["type"] == "binary" and " < <binary> AAE=" in line
    else:
        assert decoded["kind"] in ("reply", "telemetry", "request", "unrecognised") and decoded["event"]
        assert f"plc-17 < {decoded['event']} " in line


def test_an_event_type_no_consumer_knows_is_an_error_not_an_empty_rendering():
    @dataclasses.dataclass(frozen=True)
    class Novel(ev.CodecEvent):
        raw: str

    with pytest.raises(TypeError, match="no rendering for Novel"):
        decode_item(Novel("x"))


def test_feed_returns_codec_events():
    codec = ClientCodec(load_profile("conveyor"))
    for message in (
        '{"jsonrpc":"2.0","method":"conveyor.telemetry","params":{"speed":1}}',
        "not json",
        '{"jsonrpc":"2.0","id":5,"result":{}}',
    ):
        (item,) = codec.feed(message, now=0.0)
        assert isinstance(item, ev.CodecEvent) and item.raw == message
    assert inspect.signature(ClientCodec.feed).return_annotation == "list[CodecEvent]"
