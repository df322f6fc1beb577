"""HAR 1.2 export and import of WebSocket messages."""

from __future__ import annotations

import json

import pytest

from wsctl.core.errors import InvalidInput
from wsctl.core.record.format import Event, Header
from wsctl.core.record.har import from_har, to_har

START = 1718000000.0
HEADER = Header(url="wss://plc-17:8443/rpc", subprotocol="conveyor.v1", started=START, wsctl="0.1.0")


def ev(t, kind, conn=1, **kw):
    return Event(t=t, kind=kind, conn=conn, wall=START + t, **kw)


SESSION = [
    ev(0.0, "open", info={"url": "wss://plc-17:8443/rpc", "subprotocol": "conveyor.v1", "fingerprint": "sha256:ab"}),
    ev(0.1, "text", dir="out", data='{"id":1,"method":"status"}'),
    ev(0.2, "text", dir="in", data="ünïcode\r\nline"),
    ev(0.3, "binary", dir="in", data=bytes(range(256))),
    ev(0.35, "ping", dir="out"),
    ev(0.4, "close", dir="in", code=1001, reason="going away"),
]


def har_of(header, events):
    return json.loads("".join(to_har(header, events)))


def test_export_has_the_devtools_shape():
    har = har_of(HEADER, SESSION)
    assert har["log"]["version"] == "1.2"
    (entry,) = har["log"]["entries"]
    assert entry["_resourceType"] == "websocket" and entry["response"]["status"] == 101
    assert entry["request"]["url"] == "wss://plc-17:8443/rpc"
    msgs = entry["_webSocketMessages"]
    assert [(m["type"], m["opcode"]) for m in msgs] == [("send", 1), ("receive", 1), ("receive", 2)]
    assert msgs[0]["time"] == pytest.approx(START + 0.1)
    assert msgs[1]["data"] == "ünïcode\r\nline"
    assert {"name": "Sec-WebSocket-Protocol", "value": "conveyor.v1"} in entry["response"]["headers"]


def test_round_trip_keeps_messages_close_codes_and_timing():
    header, events = from_har(har_of(HEADER, SESSION))
    assert header.url == "wss://plc-17:8443/rpc" and header.subprotocol == "conveyor.v1" and header.source == "client"
    assert [(e.kind, e.dir, e.data) for e in events if e.is_message] == [
        (e.kind, e.dir, e.data) for e in SESSION if e.is_message
    ]
    close = events[-1]
    assert (close.kind, close.dir, close.code, close.reason) == ("close", "in", 1001, "going away")
    assert [e.kind for e in events] == ["open", "text", "text", "binary", "ping", "close"]
    assert [e.t for e in events] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.35, 0.4], abs=1e-3)


def test_overlapping_connections_become_separate_entries_in_opening_order():
    events = [
        ev(0.0, "open", conn=1),
        ev(0.1, "open", conn=2),
        ev(0.2, "text", conn=2, dir="out", data="two"),
        ev(0.3, "close", conn=2, dir="out", code=1000),
        ev(0.4, "text", conn=1, dir="out", data="one"),
    ]
    har = har_of(HEADER, events)
    assert [[m["data"] for m in e["_webSocketMessages"]] for e in har["log"]["entries"]] == [["one"], ["two"]]
    _, back = from_har(har)
    assert [(e.conn, e.data) for e in back if e.is_message] == [(2, "two"), (1, "one")]


def chrome_har(times, started="2024-06-10T06:13:20.000Z"):
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [
                {
                    "startedDateTime": "2024-06-10T06:13:19.000Z",
                    "request": {"url": "https://example.com/"},
                    "response": {"status": 200},
                },
                {
                    "startedDateTime": started,
                    "_resourceType": "websocket",
                    "request": {"method": "GET", "url": "wss://dev.example/ws"},
                    "response": {"status": 101, "headers": []},
                    "_webSocketMessages": [
                        {"type": "send", "time": times[0], "opcode": 1, "data": '{"cmd":"status"}'},
                        {"type": "receive", "time": times[1], "opcode": 2, "data": "AAECAw=="},
                    ],
                },
            ],
        }
    }


@pytest.mark.parametrize("scale", [1, 1000])
def test_import_detects_seconds_and_milliseconds(scale):
    base = 1718000000.0  # 2024-06-10T06:13:20Z
    header, events = from_har(chrome_har([(base + 0.5) * scale, (base + 0.75) * scale]))
    msgs = [e for e in events if e.is_message]
    assert [(e.dir, e.data) for e in msgs] == [("out", '{"cmd":"status"}'), ("in", b"\x00\x01\x02\x03")]
    assert msgs[0].wall == pytest.approx(base + 0.5)
    assert msgs[1].t - msgs[0].t == pytest.approx(0.25)
    assert header.url == "wss://dev.example/ws"


def test_har_without_websocket_entries_is_a_clear_error():
    har = chrome_har([1, 2])
    del har["log"]["entries"][1]
    with pytest.raises(InvalidInput, match="no WebSocket entries"):
        from_har(har, source="page.har")
    with pytest.raises(InvalidInput, match="not a HAR file"):
        from_har({"something": "else"})


def test_bad_binary_data_names_the_message():
    har = chrome_har([1, 2])
    har["log"]["entries"][1]["_webSocketMessages"][1]["data"] = "not base64!"
    with pytest.raises(InvalidInput, match="entry 1, message 2: opcode 2 but data is not base64"):
        from_har(har)


def test_export_streams_a_long_connection():
    consumed = []

    def source():
        yield ev(0.0, "open")
        for i in range(100000):
            consumed.append(i)
            yield ev(0.001 * i, "text", dir="in", data=f"m{i}")

    chunks = to_har(HEADER, source())
    text = ""
    while '"m2"' not in text:
        text += next(chunks)
    assert len(consumed) <= 3  # written as it comes, not held until the end


def test_round_trip_keeps_the_header_and_peer_identities():
    header = Header(
        url="wss://plc-17:8443/rpc",
        subprotocol="conveyor.v1",
        profile="conveyor",
        source="proxy",
        started=START - 0.5,
        fingerprints={"tool": "sha256:70", "device": "sha256:de"},
        wsctl="0.1.0",
    )
    peer = {"remote": "10.0.0.5:50000", "name": "bob", "role": "operator", "fingerprint": "sha256:b0"}
    session = [
        ev(
            0.0,
            "open",
            info={"url": header.url, "subprotocol": "conveyor.v1", "fingerprint": "sha256:de", "peer": peer},
        ),
        ev(
            0.1,
            "error",
            error="proxy refused: role operator may not run set_speed",
            info={"refused": "set_speed", "peer": peer},
        ),
        ev(0.2, "text", dir="in", data="x"),
        ev(0.3, "close", dir="out", code=1000),
    ]
    back, events = from_har(har_of(header, session))
    assert (back.profile, back.source, back.fingerprints) == (
        "conveyor",
        "proxy",
        {"tool": "sha256:70", "device": "sha256:de"},
    )
    assert back.started == START - 0.5 and events[0].t == pytest.approx(0.5)
    assert events[0].info["peer"] == peer and events[0].info["fingerprint"] == "sha256:de"
    assert events[1].kind == "error" and events[1].info == {"refused": "set_speed", "peer": peer}


def test_a_foreign_har_gets_a_header_from_its_entries():
    har = har_of(HEADER, SESSION)
    har["log"]["creator"] = {"name": "Chrome DevTools", "version": "126"}
    header, _ = from_har(har)
    assert header.source == "har" and header.profile is None
    har["log"]["creator"]["name"], har["log"]["comment"] = "wsctl", "edited by hand"
    assert from_har(har)[0].source == "har"
