"""`wsctl send`: one message out, the reply (or N replies) back, an exit code."""

from __future__ import annotations

import base64
import binascii

import click

from wsctl.cli.support.client_options import (
    ClientOptions,
    client_options,
    fleet_options,
    note_subprotocol,
    reach,
    resolve_targets,
)
from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput, NotAuthorized, Timeout, UsageError


def _payload(env: Environment, raw: str, binary: bool) -> str | bytes:
    if raw == "-":
        from wsctl.cli.support.stdin_text import checked_text

        text = checked_text(env.stdin.read())
    else:
        text = raw
    if not binary:
        return text
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("--binary expects the message as base64") from None


@click.command("send")
@click.argument("target")
@click.argument("command", required=False)
@click.argument("params", nargs=-1)
@click.option("--profile", "profile_name", help="Profile of the device (name or file) [default: the inventory's].")
@click.option("--yes", is_flag=True, help="Run a dangerous command without asking.")
@click.option("--raw", "raw", metavar="MSG", help="Send MSG as is instead of a profile command ('-' reads stdin).")
@click.option("--binary", is_flag=True, help="Send a binary frame; MSG is base64.")
@click.option(
    "--expect", type=click.IntRange(min=0), default=1, show_default=True, help="Replies to wait for (0: send only)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Seconds to wait for the reply [default: the command's, 10 for --raw].",
)
@client_options
@fleet_options
@click.pass_obj
def send(
    env: Environment,
    target: str,
    command: str | None,
    params: tuple[str, ...],
    profile_name: str | None,
    yes: bool,
    raw: str | None,
    binary: bool,
    expect: int,
    timeout: float | None,
    client: ClientOptions,
) -> int:
    """Send COMMAND (from the device's profile) or a raw message; print the reply.

    COMMAND takes name=value parameters, checked against the profile before
    anything is sent (exit 8 with the command's usage). The reply is matched
    to the request by id; a device error or a failed success check exits 7, a
    refusal for the operator's role 9. Dangerous commands need --yes or a
    confirmation on the terminal (exit 9, nothing sent).

    TARGET is a wss:// URL, a device or group from the inventory, or a
    comma-separated list of them (a fleet: one result line per device,
    --parallel at a time, exit non-zero if any failed).

    \b
    EXAMPLES
      wsctl send plc-17 set_speed speed=1200 --profile conveyor
      wsctl send plc-17 estop --yes
      wsctl --json send line-1 status
      wsctl send wss://10.0.0.17:8443/ --certs certs --operator alice --raw '{"cmd":"status"}'
      wsctl send plc-17 --raw ping --expect 2 --timeout 3
      wsctl --json send line-1 --raw '{"cmd":"status"}' --parallel 8
      echo '{"cmd":"status"}' | wsctl send plc-17 --raw -
      wsctl send plc-17 --binary --raw AAECAw==
    """
    if (raw is None) == (command is None):
        raise UsageError(
            "give a COMMAND from the device's profile, or --raw MSG", hint="wsctl profile show NAME lists the commands"
        )
    if raw is not None and params:
        raise UsageError(f"unexpected arguments with --raw: {' '.join(params)}")
    entries = resolve_targets(env, target, client)
    fleet = len(entries) > 1
    if command is not None:
        return _send_command(env, entries, command, params, profile_name, yes, timeout, client, fleet)
    return _send_raw(
        env, entries, _payload(env, raw or "", binary), expect, 10.0 if timeout is None else timeout, client
    )


def _send_raw(
    env: Environment, entries, payload: str | bytes, expect: int, timeout: float, client: ClientOptions
) -> int:
    """--raw: PAYLOAD to every entry, EXPECT replies back from each within TIMEOUT."""
    from wsctl.cli.support.fleet import Progress, fan_out, overall_exit_code
    from wsctl.cli.support.outcome import emit_outcome
    from wsctl.cli.support.render import message_fields, message_human
    from wsctl.cli.support.runtime import run_async

    fleet = len(entries) > 1
    # passphrases are asked once, before anything connects
    plans = {entry.name: (entry, reach(env, entry, client)[1]) for entry in entries}

    async def job(entry) -> list[str | bytes]:
        import trio

        from wsctl.net.api import open_device

        _, kwargs = plans[entry.name]
        async with open_device(entry.url, **kwargs) as dev:
            note_subprotocol(env, entry.name, dev, kwargs["subprotocols"])
            await dev.send(payload)
            replies: list[str | bytes] = []
            # read from the device itself, not through a profile Session: a raw
            # send must not import the profile machinery (start-up time); a close
            # before the replies came, normal or not, raises ConnectionClosed here
            with trio.move_on_after(timeout):
                while len(replies) < expect:
                    replies.append(await dev.receive())
                return replies
            error = Timeout(f"{entry.name}: no reply within {timeout:g} s (got {len(replies)} of {expect})")
            error.partial = replies  # what did arrive is printed before the failure
            raise error

    def on_done(outcome) -> None:
        emit_outcome(
            env,
            outcome,
            fleet=fleet,
            fields=lambda replies: {"replies": [message_fields(r) for r in replies]},
            human=lambda replies: (
                "\n".join(message_human(r) for r in replies)
                if not fleet
                else " | ".join(message_human(r) for r in replies)
            ),
        )

    async def main():
        return await fan_out(
            [plans[n][0] for n in plans],
            job,
            parallel=client.parallel,
            on_done=on_done,
            progress=Progress(env, len(plans)),
        )

    outcomes = run_async(main)
    return int(overall_exit_code(outcomes))


def _confirm_fleet_danger(env: Environment, plans: dict, yes: bool) -> None:
    """Every device's own profile decides whether its command is dangerous (a
    fleet mixes profiles, and the order of the targets must not matter); one
    question on a terminal names each confirm text with the devices it is for."""
    from wsctl.cli.support.profile_use import confirm_danger

    if yes:
        return
    asks: dict[str, list[str]] = {}  # confirm text -> devices
    first = None
    for name, (_, _, cmd, bound, _, _) in plans.items():
        if cmd.dangerous:
            asks.setdefault(cmd.confirm or f"{cmd.key} is marked dangerous", []).append(name)
            first = first or (cmd, bound)
    if first is None:
        return
    if len(asks) == 1:
        confirm_danger(env, first[0], first[1], next(iter(asks.values())), yes)
        return
    cmd = first[0]
    texts = "; ".join(f"{', '.join(devices)}: {text}" for text, devices in asks.items())
    if not env.stdin_isatty:
        raise NotAuthorized(f"{cmd.key} is dangerous ({texts}); nothing was sent", hint="confirm with --yes in scripts")
    lines = "\n".join(f"  {', '.join(devices)}: {text.rstrip()}" for text, devices in asks.items())
    if not click.confirm(f"{cmd.key} is dangerous on these devices:\n{lines}\n  -> run it?", default=False, err=True):
        raise NotAuthorized(f"{cmd.key} not confirmed; nothing was sent")


def _send_command(
    env: Environment,
    entries,
    command_key: str,
    assignments: tuple[str, ...],
    profile_name: str | None,
    yes: bool,
    timeout: float | None,
    client: ClientOptions,
    fleet: bool,
) -> int:
    from wsctl.cli.support.fleet import Progress, fan_out, overall_exit_code
    from wsctl.cli.support.outcome import emit_outcome
    from wsctl.cli.support.profile_use import (
        EventReporter,
        ProfileCache,
        prepare_call,
        reply_fields,
        reply_human,
    )
    from wsctl.cli.support.runtime import run_async

    profiles = ProfileCache(env, profile_name)
    plans = {}
    for entry in entries:
        profile = profiles.require(entry)
        cmd, bound = prepare_call(env, profile, command_key, assignments)
        url, kwargs = reach(env, entry, client, profile)
        plans[entry.name] = (entry, profile, cmd, bound, url, kwargs)
    _confirm_fleet_danger(env, plans, yes)

    async def job(entry):
        from wsctl.net.api import open_device
        from wsctl.net.session import Session, raise_for_reply

        _, profile, cmd, bound, url, kwargs = plans[entry.name]
        events = EventReporter(env, entry.name)

        async with open_device(url, **kwargs) as dev:
            note_subprotocol(env, entry.name, dev, kwargs["subprotocols"])
            # no reader task: the call reads until its reply is in (Session._await_reply)
            session = Session(dev, profile, on_event=events)
            try:
                reply = await session.call(cmd, bound, timeout=timeout)
            except Timeout as exc:
                raise events.explain(exc) from None
        raise_for_reply(reply, profile, entry.name)
        return reply

    def on_done(outcome) -> None:
        emit_outcome(
            env,
            outcome,
            fleet=fleet,
            fields=reply_fields,
            human=(lambda r: reply_human(r, compact=True)) if fleet else reply_human,
        )

    async def main():
        return await fan_out(
            [plans[n][0] for n in plans],
            job,
            parallel=client.parallel,
            on_done=on_done,
            progress=Progress(env, len(plans)),
        )

    return int(overall_exit_code(run_async(main)))
