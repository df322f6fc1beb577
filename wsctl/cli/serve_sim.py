"""`wsctl serve --profile`: building the simulator from options, its output, and
the dial-out mode.  Kept apart from serve.py so that `--echo` stays small; both
belong to the one verb `serve`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wsctl.cli.env import Environment
from wsctl.core.errors import InvalidInput, UsageError


def load(name_or_path: str):
    from wsctl.core.profile.discovery import load_profile

    return load_profile(name_or_path)


def _human(record: dict[str, Any]) -> str:
    event = record["event"]
    if event == "command":
        ident = record["identity"] or {}
        who = ident.get("name") or ident.get("remote") or "?"
        params = " ".join(f"{k}={json.dumps(v)}" for k, v in (record["params"] or {}).items())
        detail = f" ({record['detail']})" if record.get("detail") else ""
        return f"{record['time']} {who} role={record['role'] or '-'} {record['command'] or '?'} {params} -> {record['result']}{detail}".replace(
            "  ", " "
        )
    if event == "response":
        status = "ok" if record["ok"] else f"error {record['code']}: {record['message']}"
        return f"{record['time']} {record['remote']} answered {record['call'] or 'nothing outstanding'} (id {record['id']}): {status}"
    if event == "dialed":
        return f"{record['time']} connected to {record['url']} (subprotocol {record['subprotocol'] or 'none'})"
    if event == "disconnected":
        return f"{record['time']} disconnected from {record['url']}: {record['reason']}; dialing again in {record['redial_in']:g} s"
    return json.dumps(record)


def make_simulator(
    env: Environment,
    profile_name: str,
    *,
    audit_log: str | None,
    seed: int | None,
    scale: float,
    faults: tuple[float | None, float | None, float | None],
    on_record: Any = None,
):
    from wsctl.core.sim import with_overrides
    from wsctl.net.simulate import AuditLog, Simulator

    profile = load(profile_name)
    if profile.sim is None:
        env.warn(f"profile {profile.id} has no [sim] section: every command gets an empty result, no telemetry")
    delay, drop, error = faults
    base = profile.sim.faults if profile.sim is not None else None
    from wsctl.core.profile.model import Faults

    merged = with_overrides(base or Faults(), reply_delay=delay, drop=drop, error=error)
    audit = None
    if audit_log:
        try:
            audit = AuditLog(audit_log)
        except OSError as exc:
            raise InvalidInput(f"cannot open audit log {audit_log}: {exc.strerror or exc}") from None

    def report(record: dict[str, Any]) -> None:
        if on_record is not None:
            on_record(record)  # metrics
        if env.verbosity >= 0 or env.json:
            env.emit(record, _human(record))

    return Simulator(profile, seed=seed, faults=merged, interval_scale=scale, audit=audit, report=report)


def _dial_tls(env: Environment, certs, operator, cert, key, ca, password_file) -> tuple[Any, Any, Any, bytes | None]:
    """(ca, cert, key, key passphrase) the simulated device dials with: the store's, or files."""
    from wsctl.cli.client_options import key_file_is_encrypted
    from wsctl.cli.passwords import KEY_ENV, STORE_ENV, read_password

    if certs:
        from wsctl.cli import store_files

        store = Path(certs)
        ca = ca or store_files.ca_files(store)
        if operator and not cert:
            cert, key = store_files.operator_files(store, operator)
    elif operator:
        raise UsageError("--operator needs --certs (the store it comes from)")
    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together")
    password = None
    if key and key_file_is_encrypted(key):
        password = read_password(
            env,
            password_file=password_file,
            env_var=KEY_ENV,
            fallbacks=[(None, STORE_ENV)],
            prompt=f"passphrase for {key}",
        )
    return ca, cert, key, password


def run_dial(
    env: Environment,
    profile_name: str,
    url: str,
    *,
    certs,
    operator,
    cert,
    key,
    ca,
    password_file,
    role: str,
    redial: float | None,
    audit_log: str | None,
    seed: int | None,
    scale: float,
    faults,
    max_message_size: int,
    headers: tuple[str, ...] = (),
    basic_auth: str | None = None,
    basic_auth_password_file: str | None = None,
) -> None:
    from wsctl.cli.runtime import run_async
    from wsctl.core import roles

    try:
        roles.expand(role)
    except ValueError as exc:
        raise UsageError(f"--central-role: {exc}") from None
    ca, cert, key, password = _dial_tls(env, certs, operator, cert, key, ca, password_file)
    from wsctl.cli.client_options import basic_auth_credentials, parse_headers

    extra = {
        "headers": parse_headers(headers),
        "basic_auth": basic_auth_credentials(env, url, basic_auth, basic_auth_password_file),
    }
    sim = make_simulator(env, profile_name, audit_log=audit_log, seed=seed, scale=scale, faults=faults)
    if sim.profile.dialer != "device":
        env.warn(
            f'profile {sim.profile.id} says the tool dials the device (transport.dialer = "tool"); dialing out anyway'
        )

    async def main() -> None:
        import trio

        from wsctl.core.urls import public_url

        shown = public_url(url)
        env.emit(
            {
                "event": "dialing",
                "url": shown,
                "profile": sim.profile.id,
                "subprotocols": list(sim.profile.subprotocols),
            },
            f"simulating {sim.profile.id}: dialing {shown}",
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run)
            await sim.dial(
                url,
                role=role,
                redial=redial,
                ca=ca,
                cert=cert,
                key=key,
                password=password,
                max_message_size=max_message_size,
                **extra,
            )
            nursery.cancel_scope.cancel()

    try:
        run_async(main)
    finally:
        if sim.audit is not None:
            sim.audit.close()
