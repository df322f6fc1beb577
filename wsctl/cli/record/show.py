"""`wsctl record show FILE`: a timeline of the recording, or its statistics."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import click

from wsctl.cli.support.env import Environment
from wsctl.cli.support.errors import one_line

#: what message text may not carry to a terminal raw: C0 controls but TAB, DEL
#: and C1 controls (ESC sequences and their 8-bit CSI, line breaks that forge lines)
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@click.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--stats",
    is_flag=True,
    help="Statistics instead of the timeline: messages per direction and kind, rates, gaps, close codes.",
)
@click.option(
    "--profile",
    "profile_name",
    metavar="NAME|FILE",
    help="Decode messages by this profile [default: the installed profile the recording names, if found; never a path from the file].",
)
@click.option("--conn", type=int, default=None, help="Only connection N.")
@click.option("--strict", is_flag=True, help="Fail on a corrupted line instead of skipping it (exit 8).")
@click.pass_obj
def show(env: Environment, file: str, stats: bool, profile_name: str | None, conn: int | None, strict: bool) -> None:
    """Print a recording as a timeline (or --stats), streaming: any size works.

    Timeline lines: `+SECONDS #CONN > message` (> tool → device, < device →
    tool), binary as base64, opens, closes with their codes, reconnect gaps,
    errors. --json prints each event as its JSON line plus decoded fields.
    Corrupted lines are skipped with a warning naming the line (--strict
    fails instead); a truncated last line (a recorder killed mid-write) is
    expected and ignored.

    \b
    EXAMPLES
      wsctl record show session.jsonl
      wsctl record show session.jsonl --stats
      wsctl record show session.jsonl --profile conveyor --conn 2
      wsctl --json record show session.jsonl | jq 'select(.dir == "in")'
    """
    from wsctl.core.record.format import event_to_dict
    from wsctl.files.recording_reader import open_recording

    reader = open_recording(file, strict=strict, warn=env.warn)
    header = reader.header
    profile = _profile(env, profile_name or header.profile, explicit=profile_name is not None)
    if stats:
        _stats(env, reader, conn)
        return
    env.emit({"event": "header", **header.to_dict()}, _header_lines(header))
    seen: set[int] = set()
    for event in reader:
        seen.add(event.conn)
        if conn is not None and event.conn != conn:
            continue
        decoded = _decoded(profile, event) if profile is not None and event.is_message else None
        obj = event_to_dict(event)
        if decoded:
            obj["decoded"] = decoded
        env.emit(obj, _line(event, decoded))
    if conn is not None and conn not in seen:
        # an empty answer would read as "connection N was silent"
        from wsctl.core.errors import InvalidInput

        known = ", ".join(str(c) for c in sorted(seen)) or "none"
        raise InvalidInput(f"{file}: no connection {conn} in the recording (connections: {known})")


def _profile(env: Environment, name: str | None, *, explicit: bool) -> Any:
    if not name:
        return None
    from wsctl.core.errors import WsctlError
    from wsctl.files.profiles import load_installed, load_profile

    try:
        # the recording's own field names an installed profile at most: never a path (the file came from elsewhere)
        return load_profile(name, environ=env.environ) if explicit else load_installed(name, environ=env.environ)
    except WsctlError as exc:
        if explicit:
            raise
        env.debug(f"profile {name!r} named in the recording not used: {exc.message}")
        return None


def _header_lines(header: Any) -> str:
    # every field is the file's text: escaped, so a header cannot drive the terminal or forge a line
    fp = header.fingerprints or {}
    return (
        f"# {_field(header.url, '?')}  subprotocol={_field(header.subprotocol)}  profile={_field(header.profile)}"
        f"  source={_field(header.source)}\n"
        f"# started {_iso(header.started)}  device={_field(fp.get('device'))}  tool={_field(fp.get('tool'))}"
    )


def _field(value: Any, missing: str = "-") -> str:
    """A header or metadata field from the file as one printable line (``missing`` when empty)."""
    return one_line(str(value)) if value else missing


def _text(data: str) -> str:
    """Message text for the timeline: controls escaped as Python writes them (``\\x1b``,
    ``\\n``), the rest of Unicode kept; the exact text is in --json."""
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], data)


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _decoded(profile: Any, event: Any) -> str | None:
    try:
        return _decode(profile, event)
    except RecursionError:
        # JSON nested past the interpreter's limit (the profile's parsers
        # take it for JSON and recurse): the line is shown, just not decoded
        return "unrecognised (nested too deeply)"


def _decode(profile: Any, event: Any) -> str | None:
    """`command set_speed speed=1200` / `reply` / `event conveyor.telemetry` by the profile."""
    from wsctl.core.profile.device_side import DeviceCodec, Request
    from wsctl.core.record.mock import classify

    if event.dir == "out":
        parsed = DeviceCodec(profile).parse(event.data)
        if isinstance(parsed, Request):
            params = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.params.items())
            return f"command {parsed.command.key}" + (f" {params}" if params else "")
        if "nested too deeply" in (getattr(parsed, "reason", None) or ""):
            return "unrecognised (nested too deeply)"
        return None
    kind, rid, _ = classify(profile, event.data)
    if kind is None:
        return "unrecognised"
    if kind in ("event", "request") and isinstance(event.data, str) and profile.framing.encoding == "json":
        rule = next(r for r in profile.framing.inbound if r.kind == kind)
        from wsctl.core.pointer import resolve

        name = resolve(json.loads(event.data), rule.name) if rule.name else None
        return f"{kind} {name}" if isinstance(name, str) else kind
    return kind if rid is None else f"{kind} id={json.dumps(rid)}"


def _line(event: Any, decoded: str | None) -> str:
    head = f"+{event.t:10.3f}s #{event.conn}"
    kind = event.kind
    if event.is_message:
        arrow = ">" if event.dir == "out" else "<"
        body = (
            _text(event.data)
            if isinstance(event.data, str)
            else f"<binary {len(event.data)} B> {base64.b64encode(event.data).decode('ascii')}"
        )
        note = f"  [{one_line(decoded)}]" if decoded else ""  # names and values quoted from the message
        return f"{head} {arrow} {body}{note}"
    if kind == "open":
        info = event.info or {}
        peer = info.get("peer") if isinstance(info.get("peer"), dict) else {}
        who = f" from {one_line(str(peer.get('name') or peer.get('remote')))}" if peer else ""
        return f"{head} == open {_field(info.get('url'), '')}{who} subprotocol={_field(info.get('subprotocol'))}"
    if kind == "close":
        by = {"in": "device", "out": "tool"}.get(event.dir or "", "?")
        return f"{head} xx close {event.code} by {by}" + (f" ({one_line(event.reason)})" if event.reason else "")
    if kind == "gap":
        after = f" after {event.delay:.2f} s" if event.delay is not None else ""
        return f"{head} ~~ gap: {one_line(str(event.error))}; retry {event.attempt}{after}"
    if kind == "error":
        return f"{head} !! error: {one_line(str(event.error))}"
    return f"{head} {'>' if event.dir == 'out' else '<'} {kind}"


def _stats(env: Environment, reader: Any, conn: int | None) -> None:
    from wsctl.core.record.stats import summarize

    summary = summarize(reader, conn=conn)
    obj = {"event": "stats", **summary, "skipped_lines": reader.skipped, "truncated": reader.truncated}
    duration, messages, sizes, rate = summary["duration"], summary["messages"], summary["bytes"], summary["rate_per_s"]
    conns, counts, gaps, gap_time = summary["connections"], summary["by_kind"], summary["gaps"], summary["gap_seconds"]
    errors, closes = summary["errors"], summary["close_codes"]
    lines = [
        f"duration     {duration:.3f} s, {conns} connection(s)",
        f"tool→device  {messages['out']} messages, {sizes['out']} bytes"
        + (f", {rate['out']}/s" if rate["out"] is not None else ""),
        f"device→tool  {messages['in']} messages, {sizes['in']} bytes"
        + (f", {rate['in']}/s" if rate["in"] is not None else ""),
        "by kind      " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"),
        f"gaps         {gaps} ({gap_time:.2f} s waited)",
        f"errors       {errors}",
        "close codes  " + (", ".join(f"{k}×{v}" for k, v in sorted(closes.items())) or "-"),
    ]
    if reader.skipped or reader.truncated:
        lines.append(
            f"damage       {reader.skipped} corrupted line(s) skipped"
            + (", truncated last line" if reader.truncated else "")
        )
    env.emit(obj, "\n".join(lines))
