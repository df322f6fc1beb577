"""Property-based fuzzing of the readers of recordings and HAR files: files that
travel between plants, vendors and support are untrusted.  Whatever a file
holds, every verb that reads it ends with exit 0 or 8 and one clear line —
never "internal error", never a traceback.  Crashing inputs hypothesis found
are kept as explicit examples (`@example`) and in test_untrusted_files.py.

Bounded for CI: a fixed number of examples, derandomized, no example database,
so a run takes seconds and is the same everywhere.
"""

from __future__ import annotations

import io
import json
import os
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wsctl.core.errors import InvalidInput
from wsctl.core.record.format import KINDS
from wsctl.net.mockserver import load_script

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
# numbers where the format wants times: the edges (NaN, inf, 1e300, negatives) matter most
times = (
    st.floats()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.sampled_from([0, 0.5, 1e300, -1e300, 1718000000.0, 10**400])
)


DEEP_TEXT = "[" * 100000 + "]" * 100000


def _maybe(strategy):
    return st.one_of(st.just(None), strategy, json_values)


headers = st.fixed_dictionaries(
    {
        "format": st.one_of(
            *[st.just("wsctl-record/1")] * 6,
            _maybe(st.sampled_from(["wsctl-record/0", "wsctl-record/x", "wsctl-record/9"])),
        )
    },
    optional={
        "url": _maybe(st.just("wss://dev/")),
        "subprotocol": _maybe(st.just("conveyor.v1")),
        "profile": _maybe(st.sampled_from(["conveyor", "psu", "../x", "/dev/null", "nope"])),
        "fingerprints": _maybe(st.dictionaries(st.text(max_size=6), json_values, max_size=2)),
        "started": _maybe(times),
        "source": _maybe(st.sampled_from(["client", "proxy", "har"])),
        "part": _maybe(st.integers(-3, 3)),
        "wsctl": _maybe(st.just("0.1.0")),
    },
)

events = st.fixed_dictionaries(
    {"t": _maybe(times), "kind": st.sampled_from(KINDS) | json_values},
    optional={
        "wall": _maybe(times),
        "conn": _maybe(st.integers(-2, 4)),
        "dir": _maybe(st.sampled_from(["in", "out"])),
        "data": _maybe(
            st.sampled_from(
                [
                    '{"jsonrpc":"2.0","id":1,"method":"conveyor.status"}',
                    '{"jsonrpc":"2.0","id":1,"result":{}}',
                    '{"jsonrpc":"2.0","method":"conveyor.telemetry","params":{}}',
                    "x",
                    DEEP_TEXT,
                ]
            )
        ),
        "b64": _maybe(st.sampled_from(["AAEC", "%%%", ""])),
        "code": _maybe(st.integers(0, 5000)),
        "reason": _maybe(st.text(max_size=5)),
        "error": _maybe(st.text(max_size=5)),
        "delay": _maybe(times),
        "attempt": _maybe(st.integers(0, 3)),
        "url": json_values,
        "subprotocol": json_values,
        "fingerprint": json_values,
        "peer": json_values,
        "rtt": json_values,
    },
)


def _line(doc) -> bytes:
    return (json.dumps(doc, allow_nan=True) + "\n").encode()


raw_lines = st.one_of(
    events.map(_line),
    events.map(_line),
    events.map(_line),
    headers.map(_line),
    st.binary(max_size=20).map(lambda b: b + b"\n"),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"\n"),
    st.integers(1, 5000).map(
        lambda n: b'{"t":0,"kind":"text","dir":"in","conn":1,"data":"x","x":' + b"[" * n + b"]" * n + b"}\n"
    ),
)
recordings = st.tuples(headers.map(_line), st.lists(raw_lines, max_size=8), st.binary(max_size=6)).map(
    lambda parts: parts[0] + b"".join(parts[1]) + parts[2]
)


def run_cli(*argv: str) -> tuple[int, str]:
    from wsctl.cli.main import run
    from wsctl.cli.support.env import Environment

    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(), environ=dict(os.environ))
    return run(list(argv), env), env.stderr.getvalue()


def assert_clean(code: int, stderr: str) -> None:
    assert code in (0, 8), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    if code == 8:
        errors = [line for line in stderr.splitlines() if line.startswith(("wsctl: error:", '{"error": '))]
        assert len(errors) == 1, stderr


DEEP_HEADER = b'{"format":"wsctl-record/1","started":0,"url":' + b"[" * 100000 + b"]" * 100000 + b"}\n"
HEADER = b'{"format":"wsctl-record/1","started":1718000000.0,"profile":"conveyor"}\n'


@FUZZ
@given(recordings)
@example(HEADER + b'{"t":0,"conn":1,"kind":"text","dir":null,"data":"x"}\n')
@example(b'{"format":"wsctl-record/1","started":NaN}\n{"t":0,"kind":"open","conn":1}\n')
@example(b'{"format":"wsctl-record/1","started":1e300}\n{"t":0,"kind":"open","conn":1}\n')
@example(HEADER + b"[" * 100000 + b"\n" + b'{"t":0,"kind":"open","conn":1}\n')
@example(DEEP_HEADER)
@example(HEADER + b'{"t":NaN,"wall":Infinity,"conn":1,"kind":"text","dir":"out","data":"x"}\n')
@example(HEADER + b'{"t":1' + b"0" * 400 + b',"conn":1,"kind":"open"}\n')
@example(b'{"format":"wsctl-record/1","started":1' + b"0" * 400 + b"}\n")
@example(HEADER + b'{"t":0,"conn":1,"kind":"gap","error":"lost"}\n')
@example(HEADER + b'{"t":0,"conn":1,"kind":"open","peer":5}\n')
@example(HEADER + _line({"t": 0, "conn": 1, "kind": "text", "dir": "out", "data": DEEP_TEXT}))
def test_every_recording_reader_ends_in_0_or_8(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rec.jsonl")
        with open(path, "wb") as f:
            f.write(content)
        for argv in (
            ["record", "show", path],
            ["--json", "record", "show", path, "--profile", "conveyor"],
            ["record", "show", path, "--profile", "psu"],
            ["record", "show", path, "--profile", "ocpp16-charger"],
            ["record", "show", path, "--stats"],
            ["replay", path, "--dry-run"],
            ["record", "convert", path, "--to", "har", "-o", os.path.join(tmp, "out.har")],
        ):
            assert_clean(*run_cli(*argv))
        if os.path.exists(os.path.join(tmp, "out.har")):
            assert_clean(
                *run_cli(
                    "record",
                    "convert",
                    os.path.join(tmp, "out.har"),
                    "--to",
                    "record",
                    "-o",
                    os.path.join(tmp, "back.jsonl"),
                )
            )
        from wsctl.files.profiles import load_profile

        for profile in (None, load_profile("conveyor")):
            try:
                load_script(path, profile=profile)
            except InvalidInput:
                pass


har_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["send", "receive"]) | json_values, "time": _maybe(times)},
    optional={
        "opcode": st.sampled_from([1, 2]) | json_values,
        "data": st.sampled_from(["x", "AAEC", "%%"]) | json_values,
    },
)
har_extras = st.fixed_dictionaries(
    {"kind": st.sampled_from(["ping", "pong", "error", "gap"]) | json_values, "time": _maybe(times)},
    optional={
        "dir": _maybe(st.sampled_from(["in", "out"])),
        "error": json_values,
        "delay": json_values,
        "attempt": json_values,
        "code": json_values,
        "reason": json_values,
        "info": json_values,
    },
)
har_wsctl = st.fixed_dictionaries(
    {},
    optional={
        "conn": _maybe(st.integers(-1, 3)),
        "fingerprint": json_values,
        "open": _maybe(st.dictionaries(st.text(max_size=4), json_values, max_size=2)),
        "events": _maybe(st.lists(har_extras, max_size=3)),
        "close": _maybe(
            st.fixed_dictionaries(
                {}, optional={"time": _maybe(times), "code": json_values, "reason": json_values, "dir": json_values}
            )
        ),
    },
)
har_entries = st.fixed_dictionaries(
    {"_webSocketMessages": st.lists(har_messages, max_size=4) | json_values},
    optional={
        "startedDateTime": _maybe(st.sampled_from(["2024-06-10T06:13:20.000Z", "yesterday"])),
        "_wsctl": har_wsctl | json_values,
        "request": _maybe(st.fixed_dictionaries({}, optional={"url": json_values})),
        "response": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "headers": _maybe(
                        st.lists(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "name": st.just("Sec-WebSocket-Protocol") | json_values,
                                    "value": json_values,
                                },
                            ),
                            max_size=2,
                        )
                    )
                },
            )
        ),
    },
)
hars = st.fixed_dictionaries(
    {
        "log": st.fixed_dictionaries(
            {"entries": st.lists(har_entries, max_size=3) | json_values},
            optional={
                "creator": _maybe(st.fixed_dictionaries({"name": st.just("wsctl") | json_values})),
                "comment": _maybe(headers.map(lambda h: json.dumps({"recording": h}, allow_nan=True))),
            },
        )
        | json_values
    }
)


@FUZZ
@given(hars)
@example({"log": {"entries": [{"_webSocketMessages": [{"type": "send", "time": 1.0, "data": "x"}], "response": [1]}]}})
@example(
    {
        "log": {
            "entries": [
                {"_webSocketMessages": [{"type": "send", "time": 1.0, "data": "x"}], "response": {"headers": 5}}
            ]
        }
    }
)
@example({"log": {"entries": [{"_webSocketMessages": [{"type": "send", "time": float("nan"), "data": "x"}]}]}})
@example({"log": {"entries": [{"_webSocketMessages": [{"type": "send", "time": 1e300, "data": "x"}]}]}})
@example({"log": {"entries": [{"_webSocketMessages": [], "_wsctl": {"events": 5}}]}})
@example({"log": {"entries": [{"_webSocketMessages": [{"type": "send", "time": 10**400, "data": "x"}]}]}})
@example(
    {
        "log": {
            "entries": [
                {
                    "_webSocketMessages": [],
                    "_wsctl": {"close": {"time": 10**400}, "events": [{"kind": "ping", "time": 10**400}]},
                }
            ]
        }
    }
)
@example({"log": {"entries": [{"_webSocketMessages": [], "_wsctl": {"close": {"time": "x"}}}]}})
def test_har_import_ends_in_0_or_8(doc):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.har")
        with open(path, "w") as f:
            json.dump(doc, f, allow_nan=True)
        out = os.path.join(tmp, "back.jsonl")
        assert_clean(*run_cli("record", "convert", path, "--to", "record", "-o", out))
        if os.path.exists(out):
            for argv in (
                ["record", "show", out],
                ["record", "show", out, "--stats"],
                ["record", "convert", out, "--to", "har", "-o", out + ".har"],
            ):
                assert_clean(*run_cli(*argv))
