"""The public API is exactly the documented list, importable from `wsctl`,
lazily, and visible to type checkers (docs/python-api.md, wsctl/__init__.py)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import wsctl

ROOT = Path(__file__).resolve().parent.parent


def _documented() -> set[str]:
    text = (ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- public-api: begin -->(.*?)<!-- public-api: end -->", text, re.S)
    assert block, "docs/python-api.md has no public-api block"
    names = set()
    for row in block.group(1).splitlines():
        cells = row.split("|")
        if len(cells) < 4 or set(cells[2].strip()) <= {"-"}:
            continue
        # the names column; methods in parentheses are Device's, not exports
        names.update(re.findall(r"`([A-Za-z_]+)`", re.sub(r"\([^)]*\)", "", cells[2])))
    names.discard("names")
    return names


def test_the_exports_are_exactly_the_documented_list():
    assert set(wsctl.__all__) - {"__version__"} == _documented()


@pytest.mark.parametrize("name", sorted(set(wsctl.__all__) - {"__version__"}))
def test_every_export_resolves_to_what_its_module_defines(name):
    value = getattr(wsctl, name)
    assert getattr(sys.modules[wsctl._LAZY[name]], name) is value
    assert name in dir(wsctl)


def test_the_type_checking_imports_are_the_same_names_from_the_same_modules():
    tree = ast.parse((ROOT / "wsctl" / "__init__.py").read_text(encoding="utf-8"))
    block = next(
        node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    imported = {
        alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert imported == wsctl._LAZY


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'ProfileSession'"):
        wsctl.ProfileSession  # noqa: B018


def test_import_wsctl_stays_cheap_until_a_name_is_used():
    code = (
        "import sys, wsctl; heavy = {'trio', 'trio_websocket', 'cryptography', 'ssl'}; "
        "print(sorted(heavy & set(sys.modules))); wsctl.Telemetry; print('trio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "False"], out.stdout


def test_all_is_a_literal_list_of_the_lazy_names():
    """A literal, so `mypy --strict` (no implicit re-export) sees what is exported."""
    tree = ast.parse((ROOT / "wsctl" / "__init__.py").read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "__all__"]
    assert ast.literal_eval(node.value) == ["__version__", *sorted(wsctl._LAZY)]


def test_the_package_is_marked_typed_and_ships_the_marker():
    assert (ROOT / "wsctl" / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


_USER_SCRIPT = """
import functools
from pathlib import Path

import trio
import wsctl
from wsctl import Telemetry, Timeout


async def handler(conn: wsctl.ServerConnection) -> None:
    await wsctl.echo_handler(conn)


async def main(store: wsctl.Store) -> None:
    dev, op = store.leaf_paths("device", "plc-17"), store.leaf_paths("operator", "alice")
    async with trio.open_nursery() as nursery:
        serving = functools.partial(
            wsctl.serve, handler, port=0, cert_chain=dev.chain, key=dev.key, ca=store.root_cert_path,
            crl=store.crl_pem_path,
        )
        server: wsctl.Server = await nursery.start(serving)
        async with wsctl.open_device(server.url, ca=Path("root.crt"), cert=op.chain, key=op.key) as device:
            await device.send(bytearray(b"x"))
            await device.send(memoryview(b"x"))
            message: str | bytes = await device.receive(timeout=1)
            async for event in device.events():
                if isinstance(event, Telemetry):
                    print(event.name, message)
        try:
            pass
        except Timeout:
            pass
"""


def test_a_user_script_type_checks_with_mypy_strict(tmp_path):
    script = tmp_path / "user.py"
    script.write_text(_USER_SCRIPT)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental", str(script)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**__import__("os").environ, "MYPYPATH": str(ROOT)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
