"""`wsctl hub`: run the central side devices dial into, and manage its registry.

`wsctl hub --listen ... --certs DIR --device NAME` runs the hub (`run.py`);
the subcommands manage the registry it keeps (devices, id tags, audit).  Each
lives in its own module, imported only when it runs.
"""

from __future__ import annotations

import click

from wsctl.cli.main import LazyGroup

VERBS = {
    name: f"wsctl.cli.hub.{module}:{attr}"
    for name, module, attr in (
        ("devices", "devices", "devices"),
        ("id-tags", "id_tags", "id_tags"),
        ("audit", "audit", "audit"),
    )
}


@click.group("hub", cls=LazyGroup, lazy_commands=VERBS)
def hub() -> None:
    """Be the central side devices dial into; operators command them by name.

    See docs/hub.md.
    """
