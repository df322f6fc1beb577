"""`wsctl serve`: a wss server that echoes, or simulates a device from a profile
(listening, or dialing a central system as OCPP chargers do)."""

from __future__ import annotations

from typing import Any

import click

from wsctl.cli.support.client_options import basic_auth_options as _basic_auth_options
from wsctl.cli.support.env import Environment
from wsctl.cli.support.listen import limit_options, timing_options
from wsctl.cli.support.server_setup import access_line, metrics_listener, metrics_on_tls_port, server_tls, start_metrics
from wsctl.core.errors import UsageError

_BASIC_AUTH = _basic_auth_options()


@click.command("serve")
@click.option("--echo", is_flag=True, help="Echo every message back (text as text, binary as binary).")
@click.option(
    "--profile",
    "profile_name",
    metavar="NAME|FILE",
    help="Simulate the device a profile describes (see docs/simulator.md).",
)
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(dir_okay=False),
    help="Be a mock device answering from a recording (wsctl record); with --profile, requests also match by command and parameters.",
)
@click.option(
    "--replay-speed",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="With --replay: divide recorded delays by X.",
)
@click.option(
    "--ignore",
    "ignore_rules",
    multiple=True,
    metavar="POINTER|re:REGEX",
    help="With --replay: parts of requests that may differ from the recording (e.g. /id).",
)
@click.option(
    "--strict", is_flag=True, help="With --replay: refuse a recording with corrupted lines instead of skipping them."
)
@click.option(
    "--audit-log", type=click.Path(dir_okay=False), help="Append every command and denial to FILE (JSON Lines)."
)
@click.option(
    "--reply-delay",
    type=click.FloatRange(min=0),
    default=None,
    help="Fault: seconds before every reply [default: the profile's].",
)
@click.option(
    "--drop-reply", type=click.FloatRange(0, 1), default=None, help="Fault: probability 0..1 that a reply is not sent."
)
@click.option(
    "--error-reply",
    type=click.FloatRange(0, 1),
    default=None,
    help="Fault: probability 0..1 of a device error instead of the reply.",
)
@click.option("--seed", type=int, default=None, help="Seed for telemetry and faults (same seed, same run).")
@click.option(
    "--telemetry-scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Multiply telemetry periods (0.1: ten times as often).",
)
@click.option(
    "--dial",
    metavar="URL",
    multiple=True,
    help="Do not listen: dial URL (a central system) and act as the device there; repeat for fallbacks, "
    "tried in order (hubs of a federation).",
)
# kept only to say what replaced it: a device dials with its own certificate
@click.option("--operator", hidden=True)
@click.option(
    "--security-profile",
    type=click.Choice(["2", "3"]),
    default="3",
    show_default=True,
    help="With --dial: OCPP security profile: 3 = TLS with the device certificate (--device); "
    "2 = TLS + HTTP Basic, user = the device id, no client certificate.",
)
@click.option(
    "--central-role",
    default="supervisor",
    show_default=True,
    help="With --dial: role the dialed central system's commands are checked against.",
)
@click.option(
    "--header", "headers", multiple=True, help="With --dial: extra handshake header 'Name: value' (repeatable)."
)
@_BASIC_AUTH[0]
@_BASIC_AUTH[1]
@click.option(
    "--redial",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="With --dial: seconds before dialing again after a disconnect; 0: exit instead.",
)
@click.option(
    "--listen", default="127.0.0.1:8443", show_default=True, help="HOST:PORT to listen on; port 0 picks a free one."
)
@click.option(
    "--certs",
    type=click.Path(file_okay=False),
    envvar="WSCTL_CERTS",
    help="PKI store to take TLS material from (with --device).",
)
@click.option(
    "--device",
    help="Device certificate NAME from the store to serve with, or (--dial) to dial with; with --dial also the device id.",
)
@click.option("--cert", type=click.Path(dir_okay=False), help="Server certificate chain (PEM), instead of the store.")
@click.option("--key", type=click.Path(dir_okay=False), help="Server private key (PEM).")
@click.option(
    "--ca",
    type=click.Path(dir_okay=False),
    help="CA that issues client certificates [default with --certs: the store's].",
)
@click.option(
    "--crl",
    type=click.Path(dir_okay=False),
    help="CRL checked against client certificates [default with --certs: the store's, also with a --ca holding the store's CA].",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="Passphrase of the server key (else env WSCTL_KEY_PASSWORD, WSCTL_PASSWORD, or a prompt).",
)
@click.option(
    "--client-auth",
    type=click.Choice(["required", "optional", "none"]),
    default=None,
    help="Client certificates [default: required when a CA is given, else none].",
)
@click.option(
    "--subprotocol", "subprotocols", multiple=True, help="Subprotocol to accept, in order of preference (repeatable)."
)
@limit_options(peers="peers", connections=1000, handshakes=128, per_source=32)
@timing_options(message_size=2**20, handshake_timeout=5.0, idle_timeout=600.0)
@click.option("--allow-plaintext", is_flag=True, help="Serve ws:// without TLS (only when no certificate is given).")
@click.option(
    "--metrics",
    "metrics_listen",
    metavar="[HOST:]PORT|tls",
    default=None,
    help="Serve Prometheus metrics over plain HTTP at http://HOST:PORT/metrics [HOST default: 127.0.0.1], or with 'tls' "
    "at /metrics on the TLS port for operator certificates (observer and up) (needs prometheus-client).",
)
@click.pass_obj
def serve(env: Environment, **o: Any) -> None:
    """Serve wss: echo, simulate a device from a profile, or replay a recording.

    With --profile the server is the device: it replies per profile, keeps one
    state for all connections, pushes telemetry, injects faults, checks each
    command against the role in the client's certificate and audit-logs every
    command and denial (--json: one {"event": "command"} line each).  With
    --dial it calls a central system instead of listening (OCPP chargers),
    with its device certificate (--device) or, with --security-profile 2, HTTP
    Basic as the device id.
    With --replay FILE it is a mock device: each request is matched to the
    recorded one (exactly, by --ignore rules, or by profile command) and
    answered with the recorded replies at their recorded delays; unsolicited
    messages are re-emitted with their timing; unmatched requests are
    reported ({"event": "unmatched"}).

    Client certificates are required whenever a CA is configured (with --certs,
    the store's CA and CRL are used). The URL is printed before accepting; with
    --json, a {"event": "listening"} line, then one {"event": "connection"}
    access line per connection. Stop with Ctrl-C or SIGTERM: peers get close
    1001, exit 130/143.

    \b
    EXAMPLES
      wsctl serve --echo --certs certs --device plc-17 --listen 127.0.0.1:8443
      wsctl --json serve --echo --certs certs --device plc-17 --listen 127.0.0.1:0
      wsctl serve --echo --cert chain.pem --key key.pem --ca root.crt --crl crl.pem
      wsctl serve --profile conveyor --certs certs --device plc-17 --audit-log audit.jsonl
      wsctl serve --profile conveyor --certs certs --device plc-17 --error-reply 0.1 --seed 1
      wsctl serve --replay session.jsonl --certs certs --device plc-17 --ignore /id
      wsctl serve --profile ocpp16-charger --dial wss://csms.local/ocpp/CP-1 --certs certs --device CP-1
      wsctl serve --profile ocpp16-charger --dial wss://csms.local/ocpp/CP-1 --security-profile 2 --basic-auth-password-file cp-1.secret
    """
    o["dial"] = tuple(o["dial"]) or None
    mode_options = ("ignore_rules", "strict", "replay_speed", "audit_log", "seed", "reply_delay", "drop_reply")
    _check_modes(
        o["echo"],
        o["profile_name"],
        o["replay_file"],
        o["dial"],
        error_reply=o["error_reply"],
        **{k: o[k] for k in mode_options},
    )
    if o["dial"]:
        return _dial(env, o)
    if o["operator"]:
        raise UsageError("--operator is no serve option: a device serves (and dials) with --device NAME")
    for flag, value in (
        ("--header", o["headers"]),
        ("--basic-auth", o["basic_auth"]),
        ("--security-profile", o["security_profile"] != "3" or None),
    ):
        if value:
            raise UsageError(f"{flag} is for --dial (how to dial the central system)")
    _listen(env, o)


def _dial(env: Environment, o: dict[str, Any]) -> None:
    """--dial: call the central system as the device instead of listening."""
    from wsctl.cli.serve.dial import OPERATOR_REFUSED, run_dial
    from wsctl.cli.support.client_options import check_url

    if o["operator"]:
        raise UsageError(OPERATOR_REFUSED)
    for url in o["dial"]:
        check_url(url)  # before the audit log is opened or the dialing line printed
    run_dial(
        env,
        o["profile_name"],
        o["dial"],
        certs=o["certs"],
        device=o["device"],
        cert=o["cert"],
        key=o["key"],
        ca=o["ca"],
        password_file=o["password_file"],
        security_profile=o["security_profile"],
        role=o["central_role"],
        redial=o["redial"] or None,
        audit_log=o["audit_log"],
        seed=o["seed"],
        scale=o["telemetry_scale"],
        faults=(o["reply_delay"], o["drop_reply"], o["error_reply"]),
        max_message_size=o["max_message_size"],
        headers=o["headers"],
        basic_auth=o["basic_auth"],
        basic_auth_password_file=o["basic_auth_password_file"],
    )


def _listen(env: Environment, o: dict[str, Any]) -> None:
    """Echo, simulate or replay on a listening port until Ctrl-C/SIGTERM."""
    from wsctl.cli.support.listen import parse_listen, server_limits

    host, port = parse_listen(o["listen"])
    tls, password, client_auth = server_tls(
        env,
        o["certs"],
        o["device"],
        o["cert"],
        o["key"],
        o["ca"],
        o["crl"],
        o["password_file"],
        o["client_auth"],
        o["allow_plaintext"],
    )
    metrics = metrics_listener(o["metrics_listen"])
    handler, sim, subprotocols, label = _mode(env, o, metrics, client_auth)
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        password=password,
        client_auth=client_auth,
        allow_plaintext=o["allow_plaintext"],
        subprotocols=tuple(subprotocols),
        **server_limits(o),
        **tls,
        **metrics_on_tls_port(metrics, tls),
    )
    try:
        _run(env, handler, sim, options, label, metrics)
    finally:
        if sim is not None and sim.audit is not None:
            sim.audit.close()
        if metrics:
            metrics[0].stop()


def _mode(
    env: Environment, o: dict[str, Any], metrics: Any, client_auth: str
) -> tuple[Any, Any, tuple[str, ...], dict]:
    """(handler, simulator, subprotocols, label of the listening line) for --replay, --profile or --echo."""
    subprotocols = tuple(o["subprotocols"])
    if o["replay_file"]:
        from wsctl.cli.serve.replay import replay_mode

        handler, subprotocols = replay_mode(
            env, o["replay_file"], o["profile_name"], o["ignore_rules"], o["replay_speed"], o["strict"], subprotocols
        )
        label = {
            "replay": o["replay_file"],
            "subprotocols": list(subprotocols),
            "what": f" replaying {o['replay_file']}",
        }
        return handler, None, tuple(subprotocols), label
    if not o["profile_name"]:
        return None, None, subprotocols, {}
    from wsctl.cli.serve.sim import make_simulator

    sim = make_simulator(
        env,
        o["profile_name"],
        audit_log=o["audit_log"],
        seed=o["seed"],
        scale=o["telemetry_scale"],
        faults=(o["reply_delay"], o["drop_reply"], o["error_reply"]),
        on_record=metrics[0].command if metrics else None,
    )
    if metrics:
        sim.on_answered = metrics[0].answered
    if client_auth != "required":
        env.warn("without client certificates there is no role: the simulator denies every command to such peers")
    # the profile's subprotocols are offered after any given explicitly
    subprotocols += tuple(p for p in sim.profile.subprotocols if p not in subprotocols)
    label = {"profile": sim.profile.id, "subprotocols": list(subprotocols), "what": f" simulating {sim.profile.id}"}
    return None, sim, subprotocols, label


def _check_modes(echo: bool, profile_name, replay_file, dial, **given) -> None:
    """Exactly one of --echo, --profile, --replay; each mode's options only with it."""
    if echo + bool(profile_name or replay_file) != 1:
        raise UsageError(
            "choose what to serve: --echo, --profile NAME or --replay FILE"
            if not echo
            else "--echo excludes --profile and --replay"
        )
    if not replay_file:
        for flag, value in (
            ("--ignore", given["ignore_rules"]),
            ("--strict", given["strict"]),
            ("--replay-speed", given["replay_speed"] != 1.0 or None),
        ):
            if value:
                raise UsageError(f"{flag} needs --replay")
    elif dial:
        raise UsageError("--replay serves a mock device; it does not dial")
    if not profile_name or replay_file:
        for flag, value in (
            ("--audit-log", given["audit_log"]),
            ("--dial", dial),
            ("--seed", given["seed"]),
            ("--reply-delay", given["reply_delay"]),
            ("--drop-reply", given["drop_reply"]),
            ("--error-reply", given["error_reply"]),
        ):
            if value is not None:
                raise UsageError(f"{flag} needs --profile" + (" without --replay" if replay_file else ""))


def _run(env: Environment, handler, sim, options: dict, label: dict, metrics: tuple | None = None) -> None:
    """Serve until Ctrl-C/SIGTERM; the listening line says what is bound."""
    from wsctl.cli.support.runtime import run_async

    label = dict(label)
    what = label.pop("what", "")

    async def main() -> None:
        import functools

        import trio

        from wsctl.net.server import echo_handler
        from wsctl.net.server import serve as net_serve

        async with trio.open_nursery() as nursery:
            if sim is not None:
                await nursery.start(sim.run)
            chosen = handler or (sim.handler if sim is not None else echo_handler)
            access = access_line(env, metrics[0] if metrics else None)
            server = await nursery.start(functools.partial(net_serve, chosen, access_log=access, **options))
            extra = dict(label)
            if metrics:
                extra["metrics"] = start_metrics(metrics, server)
            # say what is bound: 0.0.0.0 is not 127.0.0.1, and clients need a dialable address
            clients = server.client_urls()
            where = ", ".join(server.urls) + (
                f" (all interfaces; clients: {', '.join(clients)})" if server.wildcard else ""
            )
            env.emit(
                {
                    "event": "listening",
                    "url": server.url,
                    "urls": server.urls,
                    "client_urls": clients,
                    "client_auth": options["client_auth"],
                    **extra,
                },
                f"listening on {where}{what} (client certificates: {options['client_auth']})"
                + (f"; metrics at {extra['metrics']}" if "metrics" in extra else ""),
            )
            from wsctl.net.gc_tuning import tune

            tune()  # start-up is over: docs/performance.md, "Garbage collector"

    from wsctl.cli.support.server_output import server_stdout

    with server_stdout(env):
        run_async(main)
