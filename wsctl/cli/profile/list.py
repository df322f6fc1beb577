"""`wsctl profile list`: every profile wsctl can find, and where it comes from."""

from __future__ import annotations

from typing import Any

import click

from wsctl.cli.support.env import Environment


@click.command("list")
@click.option(
    "--all", "show_all", is_flag=True, help="Also list profiles hidden by one of the same name found earlier."
)
@click.pass_obj
def list_(env: Environment, show_all: bool) -> None:
    """List profiles: name, id, title, origin, path.

    Origin is project (./profiles), user (the config directory) or shipped
    (inside wsctl). A name found earlier hides later ones of the same name;
    --all shows those too, marked "shadowed". Only what is listed is read
    from each file: one that is not TOML or has no valid [profile] id is
    listed with its error; `wsctl profile validate NAME` checks a profile in
    full (and every verb does before it uses one).

    \b
    EXAMPLES
      wsctl profile list
      wsctl profile list --all                   # what ./profiles overrides
      wsctl --json profile list | jq -r 'select(.valid) | .name'
    """
    import os

    from wsctl.core.errors import InvalidInput
    from wsctl.files.profiles import list_profiles, summary_at

    cwd = os.getcwd()
    winners: set[str] = set()
    rows = []
    for loc in list_profiles(cwd=cwd, environ=env.environ, include_shadowed=show_all):
        shadowed = loc.name in winners
        winners.add(loc.name)
        row: dict[str, Any] = {
            "name": loc.name,
            "id": None,
            "title": None,
            "origin": loc.origin,
            "path": loc.path,
            "shadowed": shadowed,
            "valid": True,
        }
        try:
            summary = summary_at(loc)
            row.update(id=summary.id, title=summary.title, version=summary.version, commands=summary.commands)
        except InvalidInput as exc:
            row.update(valid=False, error=exc.message)
        rows.append(row)
    if env.json:
        for row in rows:
            env.emit(row)
        return
    if not rows:
        env.info("no profiles found")
        return
    from wsctl.cli.support.errors import one_line

    # names, ids, titles and errors come from profile files: escaped, so none drives the terminal
    shown = [
        {**r, **{k: one_line(str(r[k])) for k in ("name", "path", "title", "error") if r.get(k) is not None}}
        | {"id": one_line(str(r["id"] or "-"))}
        for r in rows
    ]
    width = max(len(r["name"]) for r in shown) + 2
    idw = max(len(r["id"]) for r in shown) + 2
    lines = [f"{'NAME':<{width}}{'ID':<{idw}}{'ORIGIN':<10}TITLE / PATH"]
    for r in shown:
        origin = r["origin"] + ("*" if r["shadowed"] else "")
        title = r["title"] if r["valid"] else f"INVALID: {r['error']}"
        lines.append(f"{r['name']:<{width}}{r['id']:<{idw}}{origin:<10}{title}")
        lines.append(f"{'':<{width + idw + 10}}{r['path']}")
    if any(r["shadowed"] for r in rows):
        lines.append("* shadowed by a profile of the same name listed above")
    env.emit({}, "\n".join(lines))
