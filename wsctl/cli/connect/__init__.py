"""`wsctl connect`: an interactive console to one device.

On a terminal the line editor is prompt_toolkit (history, completion), run in a
worker thread so trio keeps receiving; incoming messages are printed above the
line being typed (patch_stdout).  With stdin piped, every line is sent as it is
read and the console ends at EOF after --linger seconds for late replies, so
the same verb serves scripts.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from wsctl.cli.connect.console import (
    CONSOLE_HELP,
    ConsoleLine,
    ConsoleView,
    ProfileCompleter,
    command_help,
    history_path,
)
from wsctl.cli.connect.console import command_list as _command_list
from wsctl.cli.support.client_options import (
    ClientOptions,
    client_options,
    long_running,
    note_subprotocol,
    one_target,
    reach,
)
from wsctl.cli.support.complete import CONSOLE_COMMANDS
from wsctl.cli.support.env import Environment
from wsctl.cli.support.errors import error_object
from wsctl.cli.support.recording_options import device_opener, open_recorder, recording_options
from wsctl.core.errors import ConnectionClosed, InvalidInput, NotAuthorized, WsctlError


@click.command("connect")
@click.argument("target")
@click.option(
    "--profile", "profile_name", help="Speak this profile (name or file): commands, completion, decoded telemetry."
)
@click.option("--yes", is_flag=True, help="Run dangerous commands without asking (piped input needs it).")
@click.option(
    "--linger",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="With stdin piped: seconds to wait for replies after the last line.",
)
@click.option(
    "--reconnect", is_flag=True, help="Reconnect with exponential backoff and jitter when the connection drops."
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="With stdin piped: go on after a line fails (the exit code stays the first failure's).",
)
@recording_options
@client_options
@click.pass_obj
def connect(
    env: Environment,
    target: str,
    profile_name: str | None,
    yes: bool,
    linger: float,
    reconnect: bool,
    keep_going: bool,
    recording: dict,
    client: ClientOptions,
) -> int:
    """Open an interactive console to one device.

    Type a line to send it as a text message; incoming messages appear above
    the line you are typing. History is kept in
    $XDG_STATE_HOME/wsctl/console_history. Type /help for console commands.
    With stdin piped, each line is sent and incoming messages are printed
    (JSON lines when stdout is not a terminal); the first line that fails
    (refused, unknown command, device error) ends the run with its exit code,
    or with --keep-going the rest still runs and the exit code is the first
    failure's.

    \b
    EXAMPLES
      wsctl connect plc-17 --certs certs --operator alice
      wsctl connect wss://10.0.0.17:8443/ --ca certs/ca/root.crt --cert op.pem --key op.key
      printf '{"cmd":"status"}\\n' | wsctl connect plc-17 --linger 2
      wsctl connect plc-17 --profile conveyor --record commissioning.jsonl
    """
    from wsctl.cli.support.profile_use import ProfileCache
    from wsctl.cli.support.runtime import run_async

    client = long_running(client)
    entry = one_target(env, target, client, what="connect", hint="use watch or send for fleets")
    profile = ProfileCache(env, profile_name).for_entry(entry)
    url, kwargs = reach(env, entry, client, profile)
    with open_recorder(recording, url, kwargs, profile) as recorder:
        console = _Console(
            env,
            entry.name,
            url,
            kwargs,
            profile,
            recorder,
            yes=yes,
            linger=linger,
            reconnect=reconnect,
            keep_going=keep_going,
        )
        return run_async(console.main)


class _Console:
    """One `wsctl connect` run: the device's `Session` in a reader task, input
    lines from a terminal (prompt_toolkit) or a pipe, output through `out`."""

    def __init__(
        self,
        env: Environment,
        name: str,
        url: str,
        kwargs: dict[str, Any],
        profile: Any,
        recorder: Any,
        *,
        yes: bool,
        linger: float,
        reconnect: bool,
        keep_going: bool,
    ) -> None:
        self.env, self.name, self.url, self.kwargs, self.profile, self.recorder = (
            env,
            name,
            url,
            kwargs,
            profile,
            recorder,
        )
        self.yes, self.linger, self.reconnect, self.keep_going = yes, linger, reconnect, keep_going
        self.interactive = env.stdin_isatty and env.stdout_isatty and not env.json
        self.as_json = not self.interactive and env.streaming_json()
        # on a terminal, print() goes through prompt_toolkit's patched stdout so
        # the line being typed is redrawn below the message
        self.view = ConsoleView(lambda line: print(line, flush=True))
        #: the open device and its session (None while reconnecting)
        self.dev: Any = None
        self.session: Any = None
        #: (code, reason) once the user asked to close
        self.closing: tuple[int, str] | None = None
        #: exit code of the first failed piped line
        self.failed_code: int | None = None
        self.gaps: list[Any] = []
        self.connected: Any = None
        #: the number of the piped line being handled
        self.line_number = 0

    # -- output ----------------------------------------------------------------
    def out(self, record_or_text: Any, human: str | None = None) -> None:
        if self.interactive:
            self.view.show(human if human is not None else record_or_text)
        elif isinstance(record_or_text, dict):
            self.env.emit(record_or_text, human, as_json=self.as_json)
        else:
            self.env.info(record_or_text)

    def incoming(self, record: dict, human: str) -> None:
        """A message from the device: subject to /mute and /filter."""
        view = self.view
        if self.interactive:
            view.incoming(human)
        elif not view.muted and (view.pattern is None or view.pattern.search(human)):
            self.env.emit(record, human, as_json=self.as_json)

    def show_event(self, item: Any) -> None:
        from wsctl.cli.support.render import event_line, event_record

        record = event_record(self.name, item)
        human = event_line(record, show_device=False)
        record.pop("fields_text", None)
        self.incoming(record, human)

    def failed(self, code: int) -> bool:
        """Note a failed line; False when a piped run must stop at it."""
        if self.interactive:
            return True
        if self.failed_code is None:
            self.failed_code = int(code)
        return self.keep_going

    def line_failed(self, exc: WsctlError) -> bool:
        """A line that could not be acted on; piped, a result like a failed call's
        (stdout, never silenced by -q), so a script sees why the console ended."""
        if self.interactive:
            self.out(f"-- {exc.message}")
            return True
        error = error_object(exc.exit_code, exc.cause, exc.message, exc.hint)
        record = {"event": "line", "device": self.name, "line": self.line_number, "ok": False, **error}
        self.out(record, f"-- line {self.line_number}: {exc.message}")
        return self.failed(exc.exit_code)

    # -- the device ------------------------------------------------------------
    async def run_session(self, dev: Any) -> None:
        from wsctl.cli.support.render import now_iso
        from wsctl.net.session import Session

        self.dev = dev
        note_subprotocol(self.env, self.name, dev, self.kwargs["subprotocols"])
        if self.gaps:
            self.out({"event": "reconnected", "device": self.name, "time": now_iso()}, f"-- reconnected to {self.name}")
        elif self.interactive:
            self.out(
                f"-- connected to {dev.url} ({dev.tls_version or 'no TLS'}, subprotocol {dev.subprotocol or '-'}); /help for commands"
            )
        self.connected.set()
        self.session = Session(dev, self.profile, on_event=self.show_event)
        try:
            await self.session.run()
            if self.closing is None:
                raise self.session.closed_error
        except ConnectionClosed:
            if self.closing is None:
                raise
        finally:
            self.dev = self.session = None

    def on_gap(self, gap: Any) -> None:
        from wsctl.cli.support.render import now_iso

        self.gaps.append(gap)
        if self.recorder is not None:
            self.recorder.gap(gap)
        self.out(
            {
                "event": "gap",
                "device": self.name,
                "time": now_iso(),
                "reason": gap.error.message,
                "retry_in": round(gap.delay, 3),
            },
            f"-- {gap.error.message}; reconnecting in {gap.delay:.1f} s",
        )

    async def reader(self) -> None:
        from wsctl.net.reconnect import run_with_reconnect

        opener = device_opener(self.recorder, self.url, self.kwargs)
        if self.reconnect:
            await run_with_reconnect(opener, self.run_session, on_gap=self.on_gap)
        else:
            async with opener() as dev:
                await self.run_session(dev)

    # -- input lines -------------------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Act on one input line; False when the console should end."""
        profile, view = self.profile, self.view
        try:
            cmd = ConsoleLine.parse(line, profile)
        except InvalidInput as exc:
            return self.line_failed(exc)
        if cmd.kind == "help":
            self.out(command_help(profile, cmd.command) if cmd.command else CONSOLE_HELP + _command_list(profile))
            return True
        dev = self.dev
        if cmd.kind == "close":
            self.closing = (cmd.code, cmd.reason)
            if dev is not None:
                await dev.close(cmd.code, cmd.reason)
            return False
        if dev is None:
            return self.line_failed(ConnectionClosed("not connected (reconnecting); line not sent"))
        if cmd.kind == "mute":
            self.out(view.toggle_mute())
            return True
        if cmd.kind == "filter":
            self.out(view.set_filter(cmd.payload if isinstance(cmd.payload, str) else None))
            return True
        if cmd.kind == "ping":
            rtt = await dev.ping()
            self.out(
                {"event": "pong", "device": self.name, "rtt_ms": round(rtt * 1000, 3)},
                f"-- pong in {rtt * 1000:.1f} ms",
            )
            return True
        if cmd.kind == "call":
            error = await self.run_call(cmd)
            return True if error is None else self.failed(error.exit_code)
        await dev.send(cmd.payload)
        return True

    async def run_call(self, cmd: ConsoleLine) -> WsctlError | None:
        from wsctl.cli.support.profile_use import prepare_call
        from wsctl.cli.support.render import now_iso
        from wsctl.net.session import raise_for_reply

        try:
            command, bound = prepare_call(self.env, self.profile, cmd.command or "", cmd.args)
            if command.dangerous and not self.yes:
                if not self.interactive:
                    raise NotAuthorized(f"{command.key} is dangerous; not sent (give --yes)")
                answer = await self.ask(
                    f"{command.confirm or command.key + ' is marked dangerous'} Type 'yes' to run it: "
                )
                if answer.strip().lower() != "yes":
                    raise NotAuthorized(f"{command.key} not confirmed; not sent")
            reply = await self.session.call(command, bound)
            raise_for_reply(reply, self.profile, self.name)
        except WsctlError as exc:
            # messages that already start with the command are not prefixed twice
            text = exc.message if exc.message.startswith(f"{cmd.command}:") else f"{cmd.command}: {exc.message}"
            self.out(
                {
                    "event": "call",
                    "device": self.name,
                    "command": cmd.command,
                    "ok": False,
                    **error_object(exc.exit_code, exc.cause, exc.message),
                },
                f"{now_iso()[11:23]} -- {text}" + (f" ({exc.hint})" if exc.hint else ""),
            )
            return exc
        payload = reply.payload if isinstance(reply.payload, str) else json.dumps(reply.payload, ensure_ascii=False)
        self.out(
            {
                "event": "call",
                "device": self.name,
                "command": command.key,
                "ok": True,
                "reply": reply.payload,
                "elapsed": round(reply.elapsed, 4),
            },
            f"{now_iso()[11:23]} {command.key} -> {payload}",
        )
        return None

    async def ask(self, question: str) -> str:
        """A question whose prompt stays intact: incoming output waits until it is answered."""
        import trio
        from prompt_toolkit import PromptSession

        self.view.hold()
        try:
            await _settle_stdout()
            return await trio.to_thread.run_sync(lambda: PromptSession().prompt(question), abandon_on_cancel=True)
        except (EOFError, KeyboardInterrupt):
            return ""
        finally:
            self.view.release()

    async def piped_input(self) -> None:
        import trio

        from wsctl.cli.support.stdin_text import checked_text

        stdin = trio.wrap_file(self.env.stdin)
        async for line in stdin:
            self.line_number += 1
            if not await self.handle(checked_text(line.rstrip("\r\n"), f"stdin line {self.line_number}")):
                break
        if self.closing is None:
            # after the last line, or a failed one: answers to what was sent may still be coming
            await trio.sleep(self.linger)
        self.closing = self.closing or (1000, "")
        if self.dev is not None:
            await self.dev.close()

    async def terminal_input(self) -> None:
        import trio
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
        from prompt_toolkit.history import FileHistory

        path = history_path(self.env)
        # the history holds everything typed, commands and parameters included
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        # ProfileCompleter.__new__ builds a prompt_toolkit Completer (imported lazily)
        completer: Any = (
            ProfileCompleter(self.profile)
            if self.profile is not None
            else WordCompleter(CONSOLE_COMMANDS, sentence=True)
        )
        session: PromptSession[str] = PromptSession(history=FileHistory(str(path)), completer=completer)
        while True:
            try:
                line = await trio.to_thread.run_sync(lambda: session.prompt(f"{self.name}> "), abandon_on_cancel=True)
            except trio.Cancelled:
                _keep_typed_line(session)
                raise
            except EOFError:
                line = "/quit"
            except KeyboardInterrupt:
                # as in bash and psql: Ctrl-C drops the line being typed, Ctrl-D leaves
                continue
            if line.strip() and not await self.handle(line):
                return

    async def main(self) -> int:
        import trio

        self.connected = trio.Event()
        async with trio.open_nursery() as nursery:

            async def run_reader() -> None:
                try:
                    await self.reader()
                finally:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(run_reader)
            # the reader raises (and so cancels this wait) if connecting fails
            # for good; with --reconnect it keeps trying until Ctrl-C
            await self.connected.wait()
            if self.interactive:
                from prompt_toolkit.patch_stdout import patch_stdout

                with patch_stdout(raw=True):
                    await self.terminal_input()
            else:
                await self.piped_input()
            nursery.cancel_scope.cancel()
        return self.failed_code or 0


async def _settle_stdout() -> None:
    """Let lines printed just before a question out before it is drawn.

    prompt_toolkit's stdout proxy hands lines to a writer thread that writes
    at most every 0.2 s while a prompt runs, so a telemetry line printed just
    before `hold` would otherwise be drawn inside the question.  Bounded (1 s);
    uses the proxy's queue, which has no public accessor."""
    import sys

    import trio
    from prompt_toolkit.patch_stdout import StdoutProxy

    proxy = sys.stdout
    if not isinstance(proxy, StdoutProxy):
        return
    with trio.move_on_after(1.0):
        while not proxy._flush_queue.empty():
            await trio.sleep(0.01)
        await trio.sleep(proxy.sleep_between_writes)


def _keep_typed_line(session: Any) -> None:
    """The connection ended under a half-typed line: keep it in the history
    (Up arrow in the next console) instead of losing it."""
    typed = session.default_buffer.text
    if typed.strip():
        session.history.append_string(typed)
        print(f"\n-- connection ended; the line you were typing is kept in the history: {typed}", flush=True)
