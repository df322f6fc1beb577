"""`wsctl connect`: an interactive console to one device.

On a terminal the line editor is prompt_toolkit (history, completion), run in a
worker thread so trio keeps receiving; incoming messages are printed above the
line being typed (patch_stdout).  With stdin piped, every line is sent as it is
read and the console ends at EOF after --linger seconds for late replies, so
the same verb serves scripts.
"""

from __future__ import annotations

import base64
import binascii
import os
import signal
import sys
from pathlib import Path

import click

from wsctl.cli.client_options import ClientOptions, client_options, connect_kwargs, resolve_targets
from wsctl.cli.env import Environment
from wsctl.core.errors import ConnectionClosed, InvalidInput, UsageError

CONSOLE_HELP = """\
console commands:
  /help                 this text
  /quit  (or Ctrl-D)    close the connection (1000) and leave
  /binary BASE64        send a binary message
  /ping                 ping the device and show the round-trip time
  /close [CODE [REASON]] close with a code and leave
  //text                send a line that starts with '/'
anything else is sent as one text message"""

CONSOLE_COMMANDS = ["/help", "/quit", "/binary", "/ping", "/close"]


def history_path(env: Environment) -> Path:
    state = env.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "wsctl" / "console_history"


class ConsoleLine:
    """What one typed line means; pure, so it is tested without a terminal."""

    def __init__(self, kind: str, payload: str | bytes | None = None, code: int = 1000, reason: str = "") -> None:
        self.kind, self.payload, self.code, self.reason = kind, payload, code, reason

    @classmethod
    def parse(cls, line: str) -> "ConsoleLine":
        if line.startswith("//"):
            return cls("send", line[1:])
        if not line.startswith("/"):
            return cls("send", line)
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word == "/help":
            return cls("help")
        if word in ("/quit", "/exit"):
            return cls("close")
        if word == "/ping":
            return cls("ping")
        if word == "/binary":
            try:
                return cls("send", base64.b64decode(rest, validate=True))
            except (binascii.Error, ValueError):
                raise InvalidInput("/binary expects base64, e.g. /binary AAECAw==") from None
        if word == "/close":
            code_text, _, reason = rest.partition(" ")
            if code_text and not (code_text.isdigit() and (int(code_text) == 1000 or 3000 <= int(code_text) <= 4999)):
                raise InvalidInput("/close CODE must be 1000 or 3000-4999")
            return cls("close", code=int(code_text) if code_text else 1000, reason=reason)
        raise InvalidInput(f"unknown console command {word} (type /help)")


@click.command("connect")
@click.argument("target")
@click.option("--linger", type=click.FloatRange(min=0.0), default=1.0, show_default=True, help="With stdin piped: seconds to wait for replies after the last line.")
@click.option("--reconnect", is_flag=True, help="Reconnect with exponential backoff and jitter when the connection drops.")
@client_options
@click.pass_obj
def connect(env: Environment, target: str, linger: float, reconnect: bool, client: ClientOptions) -> int:
    """Open an interactive console to one device.

    Type a line to send it as a text message; incoming messages appear above
    the line you are typing. History is kept in
    $XDG_STATE_HOME/wsctl/console_history. Type /help for console commands.
    With stdin piped, each line is sent and incoming messages are printed
    (JSON lines when stdout is not a terminal).

    \b
    EXAMPLES
      wsctl connect plc-17 --certs certs --operator alice
      wsctl connect wss://10.0.0.17:8443/ --ca certs/ca/root.crt --cert op.pem --key op.key
      printf '{"cmd":"status"}\\n' | wsctl connect plc-17 --linger 2
    """
    from wsctl.cli.render import message_line, message_record, now_iso
    from wsctl.cli.runtime import run_async

    entries = resolve_targets(env, target, client)
    if len(entries) != 1:
        raise UsageError("connect talks to one device; use watch or send for fleets")
    entry = entries[0]
    kwargs = connect_kwargs(env, entry, client)
    interactive = env.stdin_isatty and env.stdout_isatty and not env.json
    as_json = not interactive and env.streaming_json()

    def out(record_or_text, human: str | None = None) -> None:
        # on a terminal, print() goes through prompt_toolkit's patched stdout so
        # the line being typed is redrawn below the message
        if interactive:
            print(human if human is not None else record_or_text, flush=True)
        elif isinstance(record_or_text, dict):
            env.emit(record_or_text, human, as_json=as_json)
        else:
            env.info(record_or_text)

    async def main() -> int:
        import trio

        from wsctl.net.api import open_device

        state: dict = {"dev": None, "closing": None}
        connected = trio.Event()

        gaps = []

        async def session(dev) -> None:
            state["dev"] = dev
            if gaps:
                out({"event": "reconnected", "device": entry.name, "time": now_iso()}, f"-- reconnected to {entry.name}")
            elif interactive:
                out(f"-- connected to {dev.url} ({dev.tls_version or 'no TLS'}, subprotocol {dev.subprotocol or '-'}); /help for commands")
            connected.set()
            try:
                while True:
                    record = message_record(entry.name, await dev.receive())
                    out(record, message_line(record, show_device=False))
            except ConnectionClosed:
                if state["closing"] is None:
                    raise
            finally:
                state["dev"] = None

        def on_gap(gap) -> None:
            gaps.append(gap)
            out({"event": "gap", "device": entry.name, "time": now_iso(), "reason": gap.error.message, "retry_in": round(gap.delay, 3)},
                f"-- {gap.error.message}; reconnecting in {gap.delay:.1f} s")

        async def reader() -> None:
            from wsctl.net.reconnect import run_with_reconnect

            if reconnect:
                await run_with_reconnect(lambda: open_device(entry.url, **kwargs), session, on_gap=on_gap)
            else:
                async with open_device(entry.url, **kwargs) as dev:
                    await session(dev)

        async def handle(line: str) -> bool:
            """Act on one input line; False when the console should end."""
            try:
                cmd = ConsoleLine.parse(line)
            except InvalidInput as exc:
                out(f"-- {exc.message}")
                return True
            if cmd.kind == "help":
                out(CONSOLE_HELP)
                return True
            dev = state["dev"]
            if cmd.kind == "close":
                state["closing"] = (cmd.code, cmd.reason)
                if dev is not None:
                    await dev.close(cmd.code, cmd.reason)
                return False
            if dev is None:
                out("-- not connected (reconnecting); line not sent")
                return True
            if cmd.kind == "ping":
                rtt = await dev.ping()
                out({"event": "pong", "device": entry.name, "rtt_ms": round(rtt * 1000, 3)}, f"-- pong in {rtt * 1000:.1f} ms")
                return True
            await dev.send(cmd.payload)
            return True

        async def piped_input() -> None:
            stdin = trio.wrap_file(env.stdin)
            async for line in stdin:
                if not await handle(line.rstrip("\r\n")):
                    return
            await trio.sleep(linger)
            state["closing"] = (1000, "")
            if state["dev"] is not None:
                await state["dev"].close()

        async def terminal_input() -> None:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.completion import WordCompleter
            from prompt_toolkit.history import FileHistory

            path = history_path(env)
            path.parent.mkdir(parents=True, exist_ok=True)
            session = PromptSession(history=FileHistory(str(path)), completer=WordCompleter(CONSOLE_COMMANDS, sentence=True))
            while True:
                try:
                    line = await trio.to_thread.run_sync(lambda: session.prompt(f"{entry.name}> "), abandon_on_cancel=True)
                except EOFError:
                    line = "/quit"
                except KeyboardInterrupt:
                    state["closing"] = (1000, "")
                    raise _ConsoleInterrupt() from None
                if line.strip() and not await handle(line):
                    return

        async with trio.open_nursery() as nursery:

            async def run_reader() -> None:
                try:
                    await reader()
                finally:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(run_reader)
            # the reader raises (and so cancels this wait) if connecting fails
            # for good; with --reconnect it keeps trying until Ctrl-C
            await connected.wait()
            if interactive:
                from prompt_toolkit.patch_stdout import patch_stdout

                with patch_stdout(raw=True):
                    await terminal_input()
            else:
                await piped_input()
            nursery.cancel_scope.cancel()
        return 0

    try:
        return run_async(main)
    except _ConsoleInterrupt:
        from wsctl.core.errors import Interrupted

        raise Interrupted(signal.SIGINT) from None


class _ConsoleInterrupt(Exception):
    """Ctrl-C at the prompt: the terminal is in raw mode, so no SIGINT arrives."""
