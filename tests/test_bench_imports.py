"""Every script in bench/ still imports: the benchmarks are not run by the
suite (never a timed assertion), so a helper renamed in one of them
(bench_serve_scale.py imported a `Devices` class that a refactoring had moved
and renamed) would otherwise be found only by the next person measuring."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"

_IMPORT_ALL = """
import importlib, sys, traceback
sys.argv = ["bench"]
sys.path.insert(0, {bench!r})
failed = []
for name in {names!r}:
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ": " + traceback.format_exc(limit=1).strip().splitlines()[-1])
print("\\n".join(failed))
"""


def test_every_bench_script_imports() -> None:
    names = sorted(p.stem for p in BENCH.glob("*.py"))
    assert "bench_roundtrip" in names and "bench_serve_scale" in names
    code = _IMPORT_ALL.format(bench=str(BENCH), names=names)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "", out.stdout
