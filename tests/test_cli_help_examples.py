"""Every command and group of the whole tree ends its --help with EXAMPLES that
call wsctl (README: "Every command has --help ending in examples")."""

from __future__ import annotations

import click

from wsctl.cli.main import cli


def _tree(command: click.Command, path: tuple[str, ...], parent: click.Context | None):
    ctx = click.Context(command, info_name=path[-1] if path else "wsctl", parent=parent)
    yield " ".join(path), command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            yield from _tree(command.get_command(ctx, name), (*path, name), ctx)


def test_every_command_help_ends_in_examples():
    missing = []
    for name, text in _tree(cli, (), None):
        examples = text.split("EXAMPLES\n", 1)[1] if "EXAMPLES\n" in text else ""
        if "wsctl " not in examples.split("\nOptions:", 1)[0]:
            missing.append(name or "wsctl")
    assert missing == []


def test_the_tree_is_walked_whole():
    names = [name for name, _ in _tree(cli, (), None)]
    assert {"hub devices approve", "hub id-tags remove", "certs issue device", "record proxy"} <= set(names)
