"""What the registry verbs share: `--registry FILE`, opening it, tables and times (click only)."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from wsctl.cli.support.errors import one_line
from wsctl.cli.support.hub_registry import registry_path

if TYPE_CHECKING:
    from wsctl.registry import Registry

#: the most a --secret-file may hold; a secret is at most 256 characters
SECRET_FILE_LIMIT = 4096


@contextmanager
def opened_registry(ctx: click.Context, *, create: bool = False) -> Iterator[Registry]:
    """The registry named by --registry; a verb that only reads or changes never creates one."""
    from wsctl.registry import Registry

    registry = Registry.open(registry_path(ctx), create=create)
    try:
        yield registry
    finally:
        registry.close()


def local_actor() -> str:
    """Who a registry change made on this machine is audited as."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local"


def audit_change(registry: Registry, *, device: str | None, action: str, params: dict[str, Any] | None = None) -> None:
    registry.audit(
        at=time.time(), actor=local_actor(), role=None, device=device, action=action, params=params, outcome="ok"
    )


def when(wall: float | None) -> str:
    """A registry time in a table: UTC to the second, or `-`."""
    return "-" if wall is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(wall))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns; every cell made one printable line (devices name their own
    vendor and firmware: a terminal escape in them must not reach the terminal)."""
    cells = [[one_line("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(headers), *cells]
    ]
    return "\n".join(lines)


def read_secret_file(path: str) -> str:
    """The secret in FILE (one trailing newline dropped, as editors and `echo` add one)."""
    from wsctl.core.errors import InvalidInput
    from wsctl.files.regular import decode_utf8, read_regular

    text = decode_utf8(read_regular(path, limit=SECRET_FILE_LIMIT, what="secret file"), path)
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    if not text:
        raise InvalidInput(f"{path}: the secret file is empty")
    return text


def secret_file_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--secret-file",
        type=click.Path(dir_okay=False),
        default=None,
        help="Set the secret in FILE (at least 16 characters) instead of generating one; it is never printed.",
    )(fn)


def examples(*lines: str) -> str:
    """A click epilog: EXAMPLES and LINES, as every verb's --help ends."""
    return "\b\nEXAMPLES\n" + "".join(f"  {line}\n" for line in lines)
