"""`wsctl send`: one message out, the reply (or N replies) back, an exit code."""

from __future__ import annotations

import base64
import binascii

import click

from wsctl.cli.client_options import ClientOptions, client_options, connect_kwargs, resolve_targets
from wsctl.cli.env import Environment
from wsctl.core.errors import InvalidInput, Timeout


def _payload(env: Environment, raw: str, binary: bool) -> str | bytes:
    text = env.stdin.read() if raw == "-" else raw
    if not binary:
        return text
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("--binary expects the message as base64") from None


@click.command("send")
@click.argument("target")
@click.option("--raw", "raw", required=True, metavar="MSG", help="Message to send as is ('-' reads it from stdin).")
@click.option("--binary", is_flag=True, help="Send a binary frame; MSG is base64.")
@click.option("--expect", type=click.IntRange(min=0), default=1, show_default=True, help="Replies to wait for (0: send only).")
@click.option("--timeout", type=click.FloatRange(min=0.0, min_open=True), default=10.0, show_default=True, help="Seconds to wait for the replies.")
@client_options
@click.pass_obj
def send(env: Environment, target: str, raw: str, binary: bool, expect: int, timeout: float, client: ClientOptions) -> int:
    """Send one message to TARGET and print the reply.

    TARGET is a wss:// URL, a device or group from the inventory, or a
    comma-separated list of them (a fleet: one result line per device,
    --parallel at a time, exit non-zero if any failed).

    \b
    EXAMPLES
      wsctl send wss://10.0.0.17:8443/ --certs certs --operator alice --raw '{"cmd":"status"}'
      wsctl send plc-17 --raw ping --expect 2 --timeout 3
      wsctl --json send line-1 --raw '{"cmd":"status"}' --parallel 8
      echo '{"cmd":"status"}' | wsctl send plc-17 --raw -
      wsctl send plc-17 --binary --raw AAECAw==
    """
    from wsctl.cli.fleet import fan_out, overall_exit_code
    from wsctl.cli.outcome import emit_outcome
    from wsctl.cli.render import message_fields, message_human
    from wsctl.cli.runtime import run_async

    payload = _payload(env, raw, binary)
    entries = resolve_targets(env, target, client)
    # passphrases are asked once, before anything connects
    plans = {entry.name: (entry, connect_kwargs(env, entry, client)) for entry in entries}
    fleet = len(entries) > 1

    async def job(entry) -> list[str | bytes]:
        import trio

        from wsctl.net.api import open_device

        _, kwargs = plans[entry.name]
        async with open_device(entry.url, **kwargs) as dev:
            await dev.send(payload)
            replies: list[str | bytes] = []
            deadline = trio.current_time() + timeout
            while len(replies) < expect:
                remaining = deadline - trio.current_time()
                try:
                    replies.append(await dev.receive(timeout=max(remaining, 0.0)))
                except Timeout:
                    raise Timeout(f"{entry.name}: no reply within {timeout:g} s (got {len(replies)} of {expect})") from None
            return replies

    def on_done(outcome) -> None:
        emit_outcome(
            env,
            outcome,
            fleet=fleet,
            fields=lambda replies: {"replies": [message_fields(r) for r in replies]},
            human=lambda replies: "\n".join(message_human(r) for r in replies) if not fleet else " | ".join(message_human(r) for r in replies),
        )

    async def main():
        return await fan_out([plans[n][0] for n in plans], job, parallel=client.parallel, on_done=on_done)

    outcomes = run_async(main)
    return int(overall_exit_code(outcomes))
