"""`wsctl serve --profile`: building the simulator from options and its output.
Kept apart from serve.py so that `--echo` stays small; both belong to the one
verb `serve` (the dial-out mode is serve_dial.py)."""

from __future__ import annotations

import json
from typing import Any

from wsctl.cli.support.env import Environment
from wsctl.core.errors import InvalidInput


def load(name_or_path: str):
    from wsctl.files.profiles import load_profile

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
