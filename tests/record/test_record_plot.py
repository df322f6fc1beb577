"""`wsctl record plot` (issue 15, section 1): the image is a valid PNG of the
requested size, its figure holds the requested series with the right number of
points, units from the profile label the axes, gaps and closes are marked; the
terminal plot renders in a pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pty_helpers import run_in_pty

from wsctl.core.errors import InvalidInput
from wsctl.core.record.format import Event, Header, encode_event, encode_header

matplotlib = pytest.importorskip("matplotlib")
plotext = pytest.importorskip("plotext")


def _telemetry(speed, temp, load):
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "conveyor.telemetry",
            "params": {"speed": speed, "motor_temp": temp, "state": "running", "load": load, "uptime": 1},
        }
    )


def _recording(path, *, gap_at=10):
    events = [Event(t=0.0, kind="open", conn=1, info={"url": "wss://belt/"})]
    for i in range(20):
        conn = 1 if i < gap_at else 2
        if i == gap_at:
            events += [
                Event(t=i - 0.6, kind="close", dir="in", conn=1, code=1006),
                Event(t=i - 0.5, kind="gap", conn=1, error="connection lost", delay=0.4, attempt=1),
                Event(t=i - 0.1, kind="open", conn=2, info={"url": "wss://belt/"}),
            ]
        events.append(
            Event(t=float(i), kind="text", dir="in", conn=conn, data=_telemetry(1000 + i, 35.0 + i / 10, 40.0))
        )
    events.append(Event(t=19.5, kind="text", dir="in", conn=2, data="not json at all"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(encode_header(Header(url="wss://belt/", profile="conveyor", started=1718000000.0)))
        for event in events:
            f.write(encode_event(event))
    return path


def _wsctl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wsctl", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def _events(path):
    from wsctl.files.recording_reader import open_recording

    return list(open_recording(path))


def test_series_from_profile_fields_and_pointers(tmp_path):
    from wsctl.core.record.series import extract
    from wsctl.files.profiles import load_profile

    rec = _recording(tmp_path / "r.jsonl")
    series, markers = extract(_events(rec), ("motor_temp", "/params/speed"), profile=load_profile("conveyor"))
    temp, speed = series
    assert (temp.name, temp.unit, len(temp.times)) == ("motor_temp", "°C", 20)
    assert speed.values[0] == 1000 and len(speed.values) == 20
    assert [m.kind for m in markers] == ["close", "gap", "open"]
    window, _ = extract(_events(rec), ("motor_temp",), profile=load_profile("conveyor"), start=5, end=9)
    assert window[0].times == [5.0, 6.0, 7.0, 8.0, 9.0]
    only2, _ = extract(_events(rec), ("motor_temp",), profile=load_profile("conveyor"), conn=2)
    assert len(only2[0].times) == 10


def test_field_names_without_a_profile_are_refused(tmp_path):
    from wsctl.core.record.series import extract

    with pytest.raises(InvalidInput, match="--profile"):
        extract(_events(_recording(tmp_path / "r.jsonl")), ("motor_temp",))


def test_figure_holds_the_series_with_their_points_and_markers(tmp_path):
    from wsctl.cli.record.plot_image import figure
    from wsctl.core.record.series import extract
    from wsctl.files.profiles import load_profile

    series, markers = extract(
        _events(_recording(tmp_path / "r.jsonl")), ("motor_temp", "speed", "load"), profile=load_profile("conveyor")
    )
    fig = figure(matplotlib, series, markers, width=800, height=500, title="r.jsonl")
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["°C", "mm/s", "%"]  # one axis per unit
    lines = {
        line.get_label(): len(line.get_xdata())
        for ax in axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }
    assert lines == {"motor_temp": 20, "speed": 20, "load": 20}
    assert any(patch for ax in axes for patch in ax.patches)  # the gap is shaded


def test_cli_writes_a_png_of_the_requested_size(tmp_path):
    from PIL import Image

    rec = _recording(tmp_path / "r.jsonl")
    out = _wsctl("record", "plot", str(rec), "motor_temp", "speed", "-o", str(tmp_path / "p.png"), "--size", "900x450")
    assert out.returncode == 0, out.stderr
    assert "motor_temp: 20 points" in out.stdout
    with Image.open(tmp_path / "p.png") as img:
        assert img.format == "PNG" and img.size == (900, 450)


def test_cli_svg_and_json_summary(tmp_path):
    rec = _recording(tmp_path / "r.jsonl")
    out = _wsctl("--json", "record", "plot", str(rec), "/params/load", "-o", str(tmp_path / "p.svg"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "event": "plotted",
        "file": str(tmp_path / "p.svg"),
        "series": {"/params/load": 20},
    }
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "args, code, says",
    [
        (("nothing_like_this",), 1, "no numeric values"),
        (("motor_temp", "-o", "p.gif"), 2, ".png or .svg"),
        (("motor_temp", "--size", "huge"), 2, "WIDTHxHEIGHT"),
        (("motor_temp",), 2, "not a terminal"),
    ],
)
def test_cli_refusals(tmp_path, args, code, says):
    rec = _recording(tmp_path / "r.jsonl")
    out = _wsctl("record", "plot", str(rec), *args, cwd=tmp_path)
    assert out.returncode == code and says in out.stderr, out.stderr


def test_terminal_plot_renders_in_a_pty(tmp_path):
    rec = _recording(tmp_path / "r.jsonl")
    env = {**os.environ, "COLUMNS": "100", "LINES": "30", "TERM": "xterm"}
    code, seen = run_in_pty(["record", "plot", str(rec), "motor_temp"], env)
    assert code == 0, seen[-500:]
    text = seen.decode("utf-8", "replace")
    assert "motor_temp (°C)" in text and "seconds since the recording started" in text
