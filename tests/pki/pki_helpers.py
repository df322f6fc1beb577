"""Helpers shared by the PKI tests (a module, not conftest, so test files can import it)."""

from __future__ import annotations

import json
from pathlib import Path

CA_PASS = b"ca-pass-for-tests"


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode, except the append-only audit log and the lock file."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in ("audit.log", ".lock"):
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mode & 0o777)
    return out


def audit_lines(store) -> list[dict]:
    return [json.loads(line) for line in store.audit_path.read_text().splitlines()]
