"""`wsctl profile validate FILE...`: check profiles before they go to a plant."""

from __future__ import annotations

import click

from wsctl.cli.support.env import Environment
from wsctl.cli.support.render import count


@click.command("validate")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.pass_obj
def validate(env: Environment, files: tuple[str, ...]) -> int:
    """Check profiles: exit 0 and "ok" when all are valid, exit 8 otherwise.

    Each error is one line naming the file, the section and the field at
    fault (commands.set_speed.params.speed.maximum ...). A profile name works
    as well as a path. Every file is checked, even after a failure.

    \b
    EXAMPLES
      wsctl profile validate profiles/*.toml
      wsctl profile validate conveyor                    # a name: ./profiles, config dir, shipped
      wsctl --json profile validate my-device.toml       # {"file", "ok", "id" | "error", "message", "exit_code"}
    """
    from wsctl.cli.profile.common import load
    from wsctl.core.errors import InvalidInput
    from wsctl.core.exit_table import ExitCode

    failed = 0
    for name in files:
        try:
            profile, loc = load(env, name)
        except InvalidInput as exc:
            failed += 1
            if env.json:
                from wsctl.cli.support.errors import error_object

                env.emit({"file": name, "ok": False, **error_object(exc.exit_code, exc.cause, exc.message, exc.hint)})
            else:
                env.stderr.write(f"wsctl: error: {exc.message}\n")
                env.stderr.flush()
            continue
        counts = {"commands": len(profile.commands), "events": len(profile.events)}
        env.emit(
            {"file": name, "path": loc.path, "ok": True, "id": profile.id, **counts},
            f"{name}: ok ({profile.id}: {count(counts['commands'], 'command')}, {count(counts['events'], 'event')}"
            f"{', simulator' if profile.sim else ''})",
        )
    return ExitCode.INVALID if failed else ExitCode.OK
