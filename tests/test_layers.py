"""The layering rule of DESIGN.md section 2: arrows only point down, and every arrow is stated.

    core  <-  registry  <-  pki  <-  net  <-  cli.support  <-  cli (the verbs)
    core  <-  files (local files from elsewhere: profiles, bounded reads)  <-  net

`core` is pure (no trio, click, cryptography, ssl or sockets, no file reads); `files`
opens and reads what came from elsewhere (profiles, recordings) and writes recordings; `registry` is the
hub's SQLite store (it hashes secrets, so `pki` uses it); `pki` is cryptography;
`net` is trio; `cli/support` is what the verbs share and never imports a verb.
Checked by walking every module's AST, absolute and relative imports alike, so a
violation inside a function body (a lazy import) is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wsctl"

#: layer -> the wsctl layers it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "files": frozenset({"core"}),
    "registry": frozenset({"core"}),
    "pki": frozenset({"core", "registry"}),
    "net": frozenset({"core", "files", "registry", "pki"}),
    "cli.support": frozenset({"core", "files", "registry", "pki", "net"}),
    "cli": frozenset({"core", "files", "registry", "pki", "net", "cli.support"}),
}
#: layer -> third-party modules it must never import
FOREIGN = {
    "core": ("trio", "trio_websocket", "click", "cryptography", "ssl", "socket"),
    "files": ("trio", "trio_websocket", "click", "cryptography", "ssl", "socket"),
    "registry": ("trio", "trio_websocket", "click"),
    "pki": ("trio", "trio_websocket", "click"),
    "net": ("click",),
}


def layer_of(module: str) -> str | None:
    """The layer of a wsctl module path ("wsctl.cli.support.env" -> "cli.support")."""
    parts = module.split(".")
    if parts[0] != "wsctl" or len(parts) < 2:
        return None
    if parts[1] == "cli":
        return "cli.support" if len(parts) > 2 and parts[2] == "support" else "cli"
    return parts[1] if parts[1] in ALLOWED else None


def module_name(path: Path) -> tuple[str, str]:
    """(the module's dotted name, the package relative imports start from)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imported_modules(path: Path) -> set[str]:
    _, package = module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module)
            elif node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                names.add(".".join([*base, node.module]) if node.module else ".".join(base))
    return names


def _paths(layer: str) -> list[Path]:
    if layer == "cli":
        support = PACKAGE / "cli" / "support"
        return [p for p in sorted((PACKAGE / "cli").rglob("*.py")) if support not in p.parents]
    return sorted((PACKAGE / Path(*layer.split("."))).rglob("*.py"))


def violations(layer: str) -> list[str]:
    found = []
    for path in _paths(layer):
        for name in sorted(imported_modules(path)):
            target = layer_of(name)
            if target is not None and target != layer and target not in ALLOWED[layer]:
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
            for prefix in FOREIGN.get(layer, ()):
                if name == prefix or name.startswith(prefix + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


CORE_FILE_CALLS = ("open", "read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "scandir", "listdir")


def test_core_reads_no_files():
    # core gets bytes and text from its callers (files/, net/, cli/), never from the disk
    found = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name in CORE_FILE_CALLS:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} calls {name}")
    assert found == []


def test_no_module_imports_test_only_dependencies():
    # trio-websocket is a test dependency (traps, bench anchors): wsctl drives wsproto itself
    found = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in imported_modules(path)
        if name == "trio_websocket" or name.startswith("trio_websocket.")
    ]
    assert found == []


def test_every_layer_is_stated():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    data_only = {"profiles", "scenarios"}
    assert packages - data_only == {layer.split(".")[0] for layer in ALLOWED}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_down(layer):
    assert violations(layer) == []


@pytest.mark.parametrize(
    ("layer", "where", "source", "expected"),
    [
        ("core", "core/bad.py", "def f():\n    from wsctl.cli import main\n", "wsctl.cli"),
        ("core", "core/sub/bad.py", "from ...net import connect\n", "wsctl.net"),
        ("pki", "pki/bad.py", "from ..net import tls\n", "wsctl.net"),
        ("cli.support", "cli/support/bad.py", "from ..send import send\n", "wsctl.cli.send"),
        ("registry", "registry/bad.py", "import wsctl.pki.store\n", "wsctl.pki.store"),
    ],
)
def test_checker_catches_an_upward_import(tmp_path, monkeypatch, layer, where, source, expected):
    # the rule itself must be able to fail, for absolute and relative imports
    bad = tmp_path / "wsctl" / where
    bad.parent.mkdir(parents=True)
    bad.write_text(source)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "wsctl")
    assert violations(layer) == [f"wsctl/{where} imports {expected}"]


def test_help_does_not_import_heavy_modules():
    import subprocess
    import sys

    code = (
        "import sys; from wsctl.cli.main import run; run(['--help']);"
        "heavy=[m for m in ('trio','trio_websocket','cryptography','ssl') if m in sys.modules];"
        "print('heavy=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "heavy="
