"""`wsctl profile`: find, inspect, check and export command profiles.

One module per verb, imported only when it runs.  Only click at module level:
the profile modules load tomllib, and `export` builds AsyncAPI documents.
"""

from __future__ import annotations

import click

from wsctl.cli.main import LazyGroup

VERBS = {
    "list": "wsctl.cli.profile.list:list_",
    "show": "wsctl.cli.profile.show:show",
    "validate": "wsctl.cli.profile.validate:validate",
    "export": "wsctl.cli.profile.export:export",
}

EPILOG = """\b
EXAMPLES
  wsctl profile list                                   # ./profiles, ~/.config/wsctl/profiles, shipped
  wsctl profile show conveyor                          # commands, parameters, units, ranges, roles
  wsctl profile show ocpp16-charger --framing          # the preset spelled out, to copy into a profile
  wsctl profile validate profiles/my-device.toml       # exit 0 "ok", exit 8 naming file and field
  wsctl profile export conveyor --asyncapi --out conveyor.asyncapi.yaml
  wsctl profile export psu --asyncapi --format json --server-url wss://bench-psu.local:8443/scpi
  wsctl --json profile list | jq -r .name
"""


@click.group("profile", cls=LazyGroup, lazy_commands=VERBS, epilog=EPILOG)
def profile() -> None:
    """Command profiles: one TOML file per kind of equipment.

    A profile NAME is looked up in ./profiles, then $XDG_CONFIG_HOME/wsctl/profiles
    (default ~/.config/wsctl/profiles), then the profiles shipped with wsctl; a
    path to a .toml file works wherever a NAME does. See docs/profiles.md.
    """
