"""Running `wsctl` in-process with captured streams, for the `wsctl certs` tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cli_runner import run_in_process

STORE_PASS = "store-pass-for-tests"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def one_error_line(self) -> str:
        """The single `wsctl: error:` line every refusal must print (plus at most a hint)."""
        lines = [line for line in self.err.splitlines() if not line.startswith(("wsctl: hint:", "warning:"))]
        assert len(lines) == 1 and lines[0].startswith("wsctl: error: "), self.err
        assert "Traceback" not in self.err
        return lines[0]


def run_wsctl(*args: str, environ: dict[str, str] | None = None) -> Result:
    out = run_in_process(*(str(a) for a in args), environ=environ)
    return Result(out.returncode, out.stdout, out.stderr)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("audit.log", ".lock")
    }
