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

import click

from wsctl.cli.console import CONSOLE_COMMANDS, CONSOLE_HELP, ConsoleLine, ConsoleView, ProfileCompleter, command_help, history_path
from wsctl.cli.console import command_list as _command_list
from wsctl.cli.client_options import ClientOptions, client_options, connect_kwargs, long_running, note_subprotocol, resolve_targets
from wsctl.cli.env import Environment
from wsctl.cli.errors import error_object
from wsctl.cli.recording_options import device_opener, open_recorder, recording_options
from wsctl.core.errors import ConnectionClosed, InvalidInput, NotAuthorized, UsageError, WsctlError

@click.command("connect")
@click.argument("target")
@click.option("--profile", "profile_name", help="Speak this profile (name or file): commands, completion, decoded telemetry.")
@click.option("--yes", is_flag=True, help="Run dangerous commands without asking (piped input needs it).")
@click.option("--linger", type=click.FloatRange(min=0.0), default=1.0, show_default=True, help="With stdin piped: seconds to wait for replies after the last line.")
@click.option("--reconnect", is_flag=True, help="Reconnect with exponential backoff and jitter when the connection drops.")
@click.option("--keep-going", is_flag=True, help="With stdin piped: go on after a line fails (the exit code stays the first failure's).")
@recording_options
@client_options
@click.pass_obj
def connect(env: Environment, target: str, profile_name: str | None, yes: bool, linger: float, reconnect: bool, keep_going: bool,
            recording: dict, client: ClientOptions) -> int:
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
    from wsctl.cli.render import event_line, event_record, now_iso
    from wsctl.cli.runtime import run_async

    client = long_running(client)
    entries = resolve_targets(env, target, client)
    if len(entries) != 1:
        raise UsageError("connect talks to one device; use watch or send for fleets")
    entry = entries[0]
    from wsctl.cli.profile_use import ProfileCache, apply_profile_transport

    profile = ProfileCache(env, profile_name).for_entry(entry)
    url, kwargs = entry.url, connect_kwargs(env, entry, client)
    if profile is not None:
        url, kwargs = apply_profile_transport(url, kwargs, profile)
    interactive = env.stdin_isatty and env.stdout_isatty and not env.json
    as_json = not interactive and env.streaming_json()

    # on a terminal, print() goes through prompt_toolkit's patched stdout so
    # the line being typed is redrawn below the message
    view = ConsoleView(lambda line: print(line, flush=True))

    def out(record_or_text, human: str | None = None) -> None:
        if interactive:
            view.show(human if human is not None else record_or_text)
        elif isinstance(record_or_text, dict):
            env.emit(record_or_text, human, as_json=as_json)
        else:
            env.info(record_or_text)

    def incoming(record: dict, human: str) -> None:
        """A message from the device: subject to /mute and /filter."""
        if interactive:
            view.incoming(human)
        elif not view.muted and (view.pattern is None or view.pattern.search(human)):
            env.emit(record, human, as_json=as_json)

    async def main() -> int:
        import trio


        state: dict = {"dev": None, "closing": None, "session": None, "failed": None}

        def failed(code: int) -> bool:
            """Note a failed line; False when a piped run must stop at it."""
            if interactive:
                return True
            if state["failed"] is None:
                state["failed"] = int(code)
            return keep_going
        connected = trio.Event()

        gaps = []

        async def session(dev) -> None:
            state["dev"] = dev
            note_subprotocol(env, entry.name, dev, kwargs["subprotocols"])
            if gaps:
                out({"event": "reconnected", "device": entry.name, "time": now_iso()}, f"-- reconnected to {entry.name}")
            elif interactive:
                out(f"-- connected to {dev.url} ({dev.tls_version or 'no TLS'}, subprotocol {dev.subprotocol or '-'}); /help for commands")
            connected.set()
            from wsctl.net.session import Session

            state["session"] = Session(dev, profile, on_event=show_event)
            try:
                await state["session"].run()
                if state["closing"] is None:
                    raise state["session"].closed_error
            except ConnectionClosed:
                if state["closing"] is None:
                    raise
            finally:
                state["dev"] = state["session"] = None

        def show_event(item) -> None:
            record = event_record(entry.name, item)
            human = event_line(record, show_device=False)
            record.pop("fields_text", None)
            incoming(record, human)

        def on_gap(gap) -> None:
            gaps.append(gap)
            if recorder is not None:
                recorder.gap(gap)
            out({"event": "gap", "device": entry.name, "time": now_iso(), "reason": gap.error.message, "retry_in": round(gap.delay, 3)},
                f"-- {gap.error.message}; reconnecting in {gap.delay:.1f} s")

        async def reader() -> None:
            from wsctl.net.reconnect import run_with_reconnect

            if reconnect:
                await run_with_reconnect(device_opener(recorder, url, kwargs), session, on_gap=on_gap)
            else:
                async with device_opener(recorder, url, kwargs)() as dev:
                    await session(dev)

        async def handle(line: str) -> bool:
            """Act on one input line; False when the console should end."""
            try:
                cmd = ConsoleLine.parse(line, profile)
            except InvalidInput as exc:
                out(f"-- {exc.message}")
                return failed(exc.exit_code)
            if cmd.kind == "help":
                out(command_help(profile, cmd.command) if cmd.command else CONSOLE_HELP + _command_list(profile))
                return True
            dev = state["dev"]
            if cmd.kind == "close":
                state["closing"] = (cmd.code, cmd.reason)
                if dev is not None:
                    await dev.close(cmd.code, cmd.reason)
                return False
            if dev is None:
                out("-- not connected (reconnecting); line not sent")
                return failed(ConnectionClosed.exit_code)
            if cmd.kind == "mute":
                out(view.toggle_mute())
                return True
            if cmd.kind == "filter":
                out(view.set_filter(cmd.payload))
                return True
            if cmd.kind == "ping":
                rtt = await dev.ping()
                out({"event": "pong", "device": entry.name, "rtt_ms": round(rtt * 1000, 3)}, f"-- pong in {rtt * 1000:.1f} ms")
                return True
            if cmd.kind == "call":
                error = await run_call(cmd)
                return True if error is None else failed(error.exit_code)
            await dev.send(cmd.payload)
            return True

        async def run_call(cmd: ConsoleLine) -> WsctlError | None:
            from wsctl.cli.profile_use import prepare_call
            from wsctl.net.session import raise_for_reply

            try:
                command, bound = prepare_call(env, profile, cmd.command, cmd.args)
                if command.dangerous and not yes:
                    if not interactive:
                        raise NotAuthorized(f"{command.key} is dangerous; not sent (give --yes)")
                    answer = await ask(f"{command.confirm or command.key + ' is marked dangerous'} Type 'yes' to run it: ")
                    if answer.strip().lower() != "yes":
                        raise NotAuthorized(f"{command.key} not confirmed; not sent")
                reply = await state["session"].call(command, bound)
                raise_for_reply(reply, profile, entry.name)
            except WsctlError as exc:
                # messages that already start with the command are not prefixed twice
                text = exc.message if exc.message.startswith(f"{cmd.command}:") else f"{cmd.command}: {exc.message}"
                out({"event": "call", "device": entry.name, "command": cmd.command, "ok": False,
                     **error_object(exc.exit_code, exc.cause, exc.message)},
                    f"{now_iso()[11:23]} -- {text}" + (f" ({exc.hint})" if exc.hint else ""))
                return exc
            payload = reply.payload if isinstance(reply.payload, str) else json.dumps(reply.payload, ensure_ascii=False)
            out({"event": "call", "device": entry.name, "command": command.key, "ok": True, "reply": reply.payload,
                 "elapsed": round(reply.elapsed, 4)},
                f"{now_iso()[11:23]} {command.key} -> {payload}")

        async def ask(question: str) -> str:
            """A question whose prompt stays intact: incoming output waits until it is answered."""
            from prompt_toolkit import PromptSession

            view.hold()
            try:
                return await trio.to_thread.run_sync(lambda: PromptSession().prompt(question), abandon_on_cancel=True)
            except (EOFError, KeyboardInterrupt):
                return ""
            finally:
                view.release()

        async def piped_input() -> None:
            stdin = trio.wrap_file(env.stdin)
            async for line in stdin:
                if not await handle(line.rstrip("\r\n")):
                    break
            if state["closing"] is None:
                # after the last line, or a failed one: answers to what was sent may still be coming
                await trio.sleep(linger)
            state["closing"] = state["closing"] or (1000, "")
            if state["dev"] is not None:
                await state["dev"].close()

        def keep_typed_line(session) -> None:
            """The connection ended under a half-typed line: keep it in the
            history (Up arrow in the next console) instead of losing it."""
            typed = session.default_buffer.text
            if typed.strip():
                session.history.append_string(typed)
                print(f"\n-- connection ended; the line you were typing is kept in the history: {typed}", flush=True)

        async def terminal_input() -> None:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.completion import WordCompleter
            from prompt_toolkit.history import FileHistory

            path = history_path(env)
            # the history holds everything typed, commands and parameters included
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            completer = ProfileCompleter(profile) if profile is not None else WordCompleter(CONSOLE_COMMANDS, sentence=True)
            session = PromptSession(history=FileHistory(str(path)), completer=completer)
            while True:
                try:
                    line = await trio.to_thread.run_sync(lambda: session.prompt(f"{entry.name}> "), abandon_on_cancel=True)
                except trio.Cancelled:
                    keep_typed_line(session)
                    raise
                except EOFError:
                    line = "/quit"
                except KeyboardInterrupt:
                    # as in bash and psql: Ctrl-C drops the line being typed, Ctrl-D leaves
                    continue
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
        return state["failed"] or 0

    with open_recorder(recording, url, kwargs, profile) as recorder:
        return run_async(main)
