"""The layering rule of DESIGN.md section 2: arrows only point down.

core  <- pki, net <- cli.  core imports neither trio nor click; pki and net never
import cli; core never imports pki or net.  Checked by walking every module's AST,
so a violation inside a function body (a lazy import) is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wsctl"

# layer -> prefixes it must never import
FORBIDDEN = {
    "core": ("wsctl.pki", "wsctl.net", "wsctl.cli", "trio", "trio_websocket", "click", "cryptography", "ssl", "socket"),
    "pki": ("wsctl.net", "wsctl.cli", "trio", "trio_websocket", "click"),
    "registry": ("wsctl.net", "wsctl.cli", "wsctl.pki", "trio", "trio_websocket", "click"),
    "net": ("wsctl.cli", "click"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imported_modules(path):
            for prefix in FORBIDDEN[layer]:
                if name == prefix or name.startswith(prefix + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down(layer):
    assert violations(layer) == []


def test_checker_catches_an_upward_import(tmp_path, monkeypatch):
    # the rule itself must be able to fail
    fake = tmp_path / "wsctl" / "core"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from wsctl.cli import main\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "wsctl")
    assert violations("core") == ["wsctl/core/bad.py imports wsctl.cli"]


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
