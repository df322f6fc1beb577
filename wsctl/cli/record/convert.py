"""`wsctl record convert FILE --to har|record`: HAR export and import."""

from __future__ import annotations

from typing import Any

import click

from wsctl.cli.support.env import Environment

#: HAR import parses the whole document in memory (it is not streamed): larger files are refused
MAX_HAR_BYTES = 512 * 2**20


def _private_text(path: str):
    """``path`` opened for writing text, 0600 like a recording: a HAR holds the
    same messages, tokens and set-points included."""
    import os
    import stat

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: a HAR must not stay readable by all
    return open(fd, "w", encoding="utf-8")


def _status(env: Environment, file: str, output: str) -> tuple[Any, int, Any]:
    """The status line of a long export (on a terminal; not when the HAR itself
    goes to it), the recording's size with its parts, and the count of bytes read."""
    import os

    from wsctl.cli.support.progress import ByteCount, StatusLine
    from wsctl.files.recording_reader import part_paths

    status = StatusLine(env, enabled=output != "-" or not env.stdout_isatty)
    total = sum(os.path.getsize(p) for p in part_paths(file)) if status.enabled else 0
    return status, total, ByteCount()


def _share(done: int, total: int) -> str:
    return f"{min(100, done * 100 // total)} %" if total else "0 %"


@click.command("convert")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "to",
    type=click.Choice(["har", "record"]),
    required=True,
    help="har: recording → HAR 1.2; record: HAR → recording.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    show_default=True,
    help="Output file, - for stdout.",
)
@click.option("--strict", is_flag=True, help="Fail on a corrupted recording line instead of skipping it.")
@click.pass_obj
def convert(env: Environment, file: str, to: str, output: str, strict: bool) -> None:
    """Convert a recording to HAR 1.2 (DevTools' WebSocket messages) or back.

    Export streams (a recording of any size, constant memory for a single
    connection). HAR keeps messages and their times (send/receive, opcode 1
    text / 2 binary as base64); close codes, pings and certificate
    fingerprints go into `_wsctl` fields other tools ignore. Import accepts
    DevTools/Playwright/mitmproxy HARs; `time` in seconds or milliseconds is
    detected. A HAR without WebSocket entries is refused (exit 8), as is
    one that is not a regular file or is over 512 MiB. HAR output is created
    0600, like a recording: it holds the same messages.

    \b
    EXAMPLES
      wsctl record convert session.jsonl --to har -o session.har
      wsctl record convert devtools.har --to record -o session.jsonl
      wsctl record convert session.jsonl --to har | jq '.log.entries[0]._webSocketMessages | length'
    """
    import contextlib
    import json
    import sys

    from wsctl import __version__
    from wsctl.core.errors import InvalidInput

    with contextlib.ExitStack() as stack:
        if to == "har":
            from wsctl.core.record.har import to_har
            from wsctl.files.recording_reader import open_recording

            status, total, read = _status(env, file, output)
            reader = open_recording(file, strict=strict, warn=env.warn, read=read if status.enabled else None)
            out = sys.stdout if output == "-" else stack.enter_context(_private_text(output))
            count = 0

            def counted():
                nonlocal count
                for event in reader:
                    count += 1
                    if status.enabled:
                        status.show(f"{file}: {count:,} events, {_share(read.bytes, total)}")
                    yield event

            try:
                for chunk in to_har(reader.header, counted(), creator_version=__version__):
                    out.write(chunk)
                out.flush()
            except BaseException:
                status.done()  # the error that follows starts on a line of its own
                raise
            status.done(f"{file}: {count:,} events, 100 %")
            if output != "-":
                env.info(f"{count} events → {output}")
            return
        from wsctl.core.record.har import from_har
        from wsctl.files.regular import read_regular
        from wsctl.net.recorder import Recorder

        data = read_regular(file, limit=MAX_HAR_BYTES, what="HAR file")
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise InvalidInput(f"{file}: not a HAR file ({str(exc)[:100]})") from None
        except RecursionError:
            raise InvalidInput(f"{file}: not a HAR file (JSON nested too deeply)") from None
        header, events = from_har(doc, source=file)
        if output == "-":
            from wsctl.core.record.format import encode_event, encode_header

            sys.stdout.write(encode_header(header))
            for event in events:
                sys.stdout.write(encode_event(event))
            sys.stdout.flush()
            return
        with Recorder(output, header=header) as rec:
            for event in events:
                rec.write(event)
        env.info(f"{len(events)} events → {output}")
