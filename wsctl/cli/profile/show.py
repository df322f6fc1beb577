"""`wsctl profile show NAME`: what a profile lets an operator do, and how it looks
on the wire."""

from __future__ import annotations

import click

from wsctl.cli.support.env import Environment


@click.command("show")
@click.argument("name")
@click.option(
    "--framing",
    "framing_only",
    is_flag=True,
    help="Print the framing with the preset expanded into explicit rules (TOML; JSON with --json).",
)
@click.pass_obj
def show(env: Environment, name: str, framing_only: bool) -> None:
    """Show a profile: commands (wire name, parameters with type, range, unit,
    default; roles; dangerous; timeout), events, framing.

    NAME is a profile name or a path to a .toml file. --framing prints the
    framing as a profile author would write it without a preset: copy it into
    a profile for a device that almost fits one.

    \b
    EXAMPLES
      wsctl profile show conveyor
      wsctl profile show ./profiles/line-3.toml
      wsctl profile show ocpp16-charger --framing > ocpp-rules.toml
      wsctl --json profile show conveyor | jq '.commands[] | {key, roles}'
    """
    from wsctl.cli.profile.common import load
    from wsctl.core.profile.explicit import explicit_framing, framing_toml

    profile, loc = load(env, name)
    if framing_only:
        explicit = explicit_framing(profile)
        if env.json:
            env.emit({"profile": profile.id, "preset": profile.framing.preset, "framing": explicit})
        else:
            note = f"# framing of {profile.id}" + (
                f": preset {profile.framing.preset!r} expanded" if profile.framing.preset else ""
            )
            env.emit({}, note + "\n" + framing_toml(explicit))
        return
    if env.json:
        env.emit(_record(profile, loc))
    else:
        env.emit({}, _human(profile, loc))


def _framing_summary(profile) -> str:
    fr = profile.framing
    in_flight = "unlimited" if fr.max_in_flight == 0 else str(fr.max_in_flight)
    preset = f"preset {fr.preset}" if fr.preset else "explicit rules"
    return f"{preset}, {fr.encoding}, ids {fr.id_scheme}, in flight {in_flight}"


def _record(profile, loc) -> dict:
    from wsctl.cli.profile.common import param_record

    return {
        "name": loc.name,
        "id": profile.id,
        "title": profile.title,
        "version": profile.version,
        "description": profile.description,
        "origin": loc.origin,
        "path": loc.path,
        "transport": {"subprotocols": list(profile.subprotocols), "path": profile.path, "dialer": profile.dialer},
        "framing": {
            "preset": profile.framing.preset,
            "encoding": profile.framing.encoding,
            "id": profile.framing.id_scheme,
            "max_in_flight": profile.framing.max_in_flight,
        },
        "commands": [
            {
                "key": c.key,
                "name": c.name,
                "summary": c.summary,
                "roles": list(c.roles),
                "allowed_roles": sorted(c.allowed_roles),
                "dangerous": c.dangerous,
                "confirm": c.confirm,
                "timeout": c.timeout,
                "success": dict(c.success) if c.success else None,
                "success_regex": c.success_regex.pattern if c.success_regex else None,
                "usage": c.usage(),
                "params": [param_record(p) for p in c.params],
            }
            for c in profile.commands.values()
        ],
        "events": [
            {
                "key": e.key,
                "name": e.name,
                "kind": e.kind,
                "summary": e.summary,
                "reply": e.reply,
                "fields": [param_record(p) for p in e.fields],
            }
            for e in profile.events.values()
        ],
        "sim": profile.sim is not None,
        "central": _central_record(profile.central),
    }


def _central_record(central) -> dict | None:
    if central is None:
        return None
    return {
        "boot_status": central.boot_status,
        "interval": central.interval,
        "answers": [
            {
                "event": a.event,
                "name": a.name,
                "always": a.always,
                "reply": a.reply,
                "effect": a.effect,
                "record": dict(a.record),
                "authorize": a.authorize,
                "transaction": a.transaction,
            }
            for a in central.answers.values()
        ],
    }


def _central_lines(central) -> list[str]:
    import json

    boot = ", ".join(f"{status} {answer}" for status, answer in central.boot_status.items()) or "-"
    out = ["", f"CENTRAL  (wsctl hub answers these)  boot answers: {boot}"]
    for a in central.answers.values():
        notes = [n for n in ("always" if a.always else None, a.effect and f"effect {a.effect}") if n]
        if a.transaction:
            notes.append(f"transaction {a.transaction}")
        if a.authorize:
            notes.append(f"authorize {a.authorize}")
        out.append(
            f"  {a.name}  reply {json.dumps(a.reply, ensure_ascii=False)}" + (f"; {'; '.join(notes)}" if notes else "")
        )
    return out


def _command_lines(c) -> list[str]:
    import json

    from wsctl.cli.profile.common import param_line

    wire = f"  [{c.name}]" if c.name != c.key else ""
    out = [f"  {c.key}{wire}" + ("  DANGEROUS" if c.dangerous else "")]
    if c.summary:
        out.append(f"      {c.summary}")
    out.append(f"      roles {', '.join(c.roles)}; timeout {c.timeout:g} s")
    out += [f"      {param_line(p)}" for p in c.params]
    if c.success:
        out.append("      success when " + ", ".join(f"{ptr} = {json.dumps(v)}" for ptr, v in c.success))
    if c.success_regex is not None:
        out.append(f"      success when the reply matches {c.success_regex.pattern!r}")
    if c.dangerous and c.confirm:
        out.append(f"      confirm: {c.confirm}")
    return out


def _event_lines(profile, e) -> list[str]:
    import json

    from wsctl.cli.profile.common import param_line

    wire = f"  [{e.name}]" if e.name != e.key else ""
    kind = "telemetry"
    if e.kind == "request":
        kind = "device request, answered automatically"
        if e.reply is None:
            by_hub = profile.central is not None and e.name in profile.central.answers
            kind = "device request, answered by wsctl hub (CENTRAL)" if by_hub else "device request, not answered"
    out = [f"  {e.key}{wire}  {kind}"]
    if e.summary:
        out.append(f"      {e.summary}")
    out += [f"      {param_line(p)}" for p in e.fields]
    if e.kind == "request" and e.reply is not None:
        out.append(f"      reply {json.dumps(e.reply, ensure_ascii=False)}")
    return out


def _human(profile, loc) -> str:

    out = [f"{profile.id}  {profile.title}  (version {profile.version})", f"  file       {loc.path} ({loc.origin})"]
    sub = ", ".join(profile.subprotocols) or "none"
    who = "the device dials in" if profile.dialer == "device" else "wsctl dials the device"
    out.append(f"  transport  path {profile.path}, subprotocols {sub}, {who}")
    out.append(f"  framing    {_framing_summary(profile)}")
    if profile.description:
        out += ["", *("  " + line for line in profile.description.strip().splitlines())]
    out += ["", "COMMANDS"]
    for c in profile.commands.values():
        out += _command_lines(c)
    if profile.events:
        out += ["", "EVENTS"]
        for e in profile.events.values():
            out += _event_lines(profile, e)
    if profile.sim is not None:
        sim = profile.sim
        out += [
            "",
            f"SIMULATOR  state {', '.join(sim.state) or '-'}; telemetry "
            + (", ".join(f"{t.event} every {t.every_from or format(t.every, 'g')} s" for t in sim.telemetry) or "none"),
        ]
    if profile.central is not None:
        out += _central_lines(profile.central)
    return "\n".join(out)
