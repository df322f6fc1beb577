"""The recording format and its streaming reader, with plain function calls."""

from __future__ import annotations

import json

import pytest

from wsctl.core.record import compat
from wsctl.core.record.format import (
    FORMAT,
    Event,
    Header,
    RecordFormatError,
    decode_line,
    encode_event,
    encode_header,
)
from wsctl.core.record.reader import RecordReader

TRICKY_TEXT = [
    "héllo wörld",
    "line1\r\nline2\n",
    "emoji 🤖 \U0001f600",
    "\x00nul and \t tab",
    "",
    '"quoted" \\ back',
    "\u2028sep",
]


def lines_of(*events: Event, header: Header | None = None) -> list[str]:
    return [encode_header(header or Header(url="wss://dev/", started=1.0)), *(encode_event(e) for e in events)]


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_text_round_trips_exactly(text):
    event = Event(t=0.5, kind="text", dir="in", conn=1, wall=1718000000.25, data=text)
    line = encode_event(event)
    assert line.endswith("\n") and line.count("\n") == 1  # \r\n inside stays escaped: one event, one line
    back = decode_line(line)
    assert back == event and back.data == text


def test_binary_is_lossless_for_every_byte_value():
    payload = bytes(range(256)) * 3
    event = Event(t=1.0, kind="binary", dir="out", conn=2, data=payload)
    doc = json.loads(encode_event(event))
    assert "b64" in doc and "data" not in doc
    assert decode_line(encode_event(event)).data == payload


def test_lone_surrogate_survives_through_ascii_escapes():
    event = Event(t=0.0, kind="text", dir="out", data="bad \ud800 half")
    line = encode_event(event)
    line.encode("utf-8")  # must be writable
    assert decode_line(line).data == "bad \ud800 half"


def test_close_and_gap_fields_round_trip():
    close = Event(t=2.0, kind="close", dir="in", conn=1, code=1011, reason="overheated")
    gap = Event(t=3.0, kind="gap", conn=1, error="connection refused", delay=0.75, attempt=2)
    opened = Event(t=0.0, kind="open", conn=1, info={"url": "wss://x/", "fingerprint": "sha256:ab"})
    for event in (close, gap, opened):
        assert decode_line(encode_event(event)) == event


def test_header_round_trip_and_version_string():
    header = Header(
        url="wss://plc/",
        subprotocol="ocpp1.6",
        profile="conveyor",
        fingerprints={"tool": "sha256:aa", "device": "sha256:bb"},
        started=1718000000.5,
        wsctl="0.1.0",
        source="proxy",
        part=2,
    )
    line = encode_header(header)
    assert json.loads(line)["format"] == FORMAT == "wsctl-record/1"
    assert decode_line(line) == header


@pytest.mark.parametrize(
    "doc, words",
    [
        ({"t": 0, "kind": "shout"}, "unknown event kind"),
        ({"t": "soon", "kind": "text", "data": "x"}, "'t' must be a number"),
        ({"t": 0, "kind": "text", "dir": "sideways", "data": "x"}, "'dir'"),
        ({"t": 0, "kind": "binary", "b64": "!!!"}, "base64"),
        ({"t": 0, "kind": "text"}, "needs 'data'"),
    ],
)
def test_bad_event_lines_say_what_is_wrong(doc, words):
    with pytest.raises(RecordFormatError, match=words):
        decode_line(json.dumps(doc))


def test_reader_streams_events_after_the_header():
    events = [Event(t=i / 10, kind="text", dir="out" if i % 2 else "in", conn=1, data=f"m{i}") for i in range(5)]
    reader = RecordReader(lines_of(*events))
    assert reader.header.url == "wss://dev/"
    assert list(reader) == events


def test_reader_pulls_lines_lazily():
    pulled = []

    def source():
        yield encode_header(Header())
        for i in range(1000):
            pulled.append(i)
            yield encode_event(Event(t=i, kind="text", dir="in", data=str(i)))

    reader = iter(RecordReader(source()))
    next(reader)
    assert len(pulled) == 1  # never reads ahead of what was asked


def test_truncated_last_line_is_tolerated_even_when_strict():
    good = [Event(t=0, kind="text", dir="in", data="a"), Event(t=1, kind="text", dir="in", data="b")]
    lines = lines_of(*good)
    lines.append(encode_event(Event(t=2, kind="text", dir="in", data="cut short"))[:17])  # no newline: the writer died
    reader = RecordReader(lines, strict=True)
    assert list(reader) == good
    assert reader.truncated and reader.skipped == 0


def test_corrupted_middle_line_is_skipped_with_its_line_number():
    lines = lines_of(Event(t=0, kind="text", dir="in", data="a"))
    lines.append('{"t": 1, "kind": "text", "dat\n')
    lines.append(encode_event(Event(t=2, kind="text", dir="in", data="c")))
    warned = []
    reader = RecordReader(lines, warn=warned.append, source="rec.jsonl")
    assert [e.data for e in reader] == ["a", "c"]
    assert reader.skipped == 1 and not reader.truncated
    assert warned == [warned[0]] and "rec.jsonl: line 3" in warned[0] and "skipped" in warned[0]


def test_corrupted_middle_line_fails_when_strict():
    lines = lines_of(Event(t=0, kind="text", dir="in", data="a"))
    lines.insert(2, '{"t": 1, "kind": "nonsense"}\n')
    with pytest.raises(RecordFormatError, match="line 3: unknown event kind"):
        list(RecordReader(lines, strict=True))


def test_bytes_lines_and_cut_utf8_are_handled():
    lines = [line.encode("utf-8") for line in lines_of(Event(t=0, kind="text", dir="in", data="größe"))]
    lines.append(
        encode_event(Event(t=1, kind="text", dir="in", data="ü" * 5)).encode("utf-8")[:-4]
    )  # cut inside a character
    reader = RecordReader(lines)
    assert [e.data for e in reader] == ["größe"] and reader.truncated


def test_unknown_format_version_is_refused_clearly():
    lines = ['{"format": "wsctl-record/7", "url": null}\n']
    with pytest.raises(RecordFormatError, match="wsctl-record/7 is newer than this wsctl understands") as info:
        RecordReader(lines)
    assert "upgrade" in info.value.hint


@pytest.mark.parametrize("fmt", ["wsctl-record/7", "wsctl-record/x", "wsctl-record/"])
def test_an_unknown_format_version_names_the_file(fmt):
    with pytest.raises(RecordFormatError) as info:
        RecordReader([json.dumps({"format": fmt}) + "\n"], source="plant/rec.jsonl")
    assert info.value.message.startswith("plant/rec.jsonl: ") and fmt in info.value.message
    lines = lines_of(Event(t=0, kind="text", dir="in", data="a")) + [json.dumps({"format": "wsctl-record/9"}) + "\n"]
    with pytest.raises(RecordFormatError) as info:
        list(RecordReader(lines, source="plant/rec.jsonl"))
    assert info.value.message.startswith("plant/rec.jsonl: line 3: ")


def test_not_a_recording_is_refused():
    with pytest.raises(RecordFormatError, match="not a wsctl recording"):
        RecordReader(['{"log": {"version": "1.2"}}\n'])
    with pytest.raises(RecordFormatError, match="empty file"):
        RecordReader([])


def test_a_newer_part_inside_the_stream_is_refused_too():
    lines = lines_of(Event(t=0, kind="text", dir="in", data="a"))
    lines.append('{"format": "wsctl-record/9"}\n')
    with pytest.raises(RecordFormatError, match="newer"):
        list(RecordReader(lines))


def test_rotated_part_headers_are_skipped():
    lines = lines_of(Event(t=0, kind="text", dir="in", data="a"))
    lines.append(encode_header(Header(url="wss://dev/", started=1.0, part=1)))
    lines.append(encode_event(Event(t=1, kind="text", dir="in", data="b")))
    reader = RecordReader(lines)
    assert [e.data for e in reader] == ["a", "b"] and reader.parts == 2


def test_migrations_run_line_by_line(monkeypatch):
    # what a v2 release would do: v1 files go through MIGRATIONS[1]; here the
    # current version is pretended to be 2 and the step renames a field
    def header_step(doc):
        return {**doc, "format": "wsctl-record/2"}

    def event_step(doc):
        doc = dict(doc)
        if "text" in doc:
            doc["data"] = doc.pop("text")
        return doc

    monkeypatch.setattr(compat, "MIGRATIONS", {1: compat.Migration(header_step, event_step)})
    upgrade = compat.event_upgrader(1, current=2)
    assert upgrade({"t": 0, "kind": "text", "text": "old"}) == {"t": 0, "kind": "text", "data": "old"}
    assert compat.migrate_header({"format": "wsctl-record/1"}, 1, current=2)["format"] == "wsctl-record/2"
    assert compat.event_upgrader(2, current=2) is None
    monkeypatch.setattr(compat, "MIGRATIONS", {})
    with pytest.raises(RecordFormatError, match="no migration from wsctl-record/1"):
        compat.event_upgrader(1, current=2)


@pytest.mark.parametrize("data", ["plain", 'ünï\r\n🤖 "q" \\', b"\x00\xff" * 9])
def test_the_fast_message_encoder_means_the_same_as_the_general_one(data):
    from wsctl.core.record.format import encode_message

    kind = "text" if isinstance(data, str) else "binary"
    event = Event(t=1.25, kind=kind, dir="in", conn=3, wall=1718000000.5, data=data)
    line = encode_message(1.25, 1718000000.5, 3, "in", data)
    assert line.endswith("}\n") and line.count("\n") == 1
    assert decode_line(line) == decode_line(encode_event(event)) == event
