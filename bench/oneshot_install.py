"""A Python for start-up benchmarks: wsctl installed from a wheel (not editable), bytecode compiled.

An editable install adds an import hook that every process pays for (and this
machine sets PYTHONDONTWRITEBYTECODE=1, so a source tree's modules may never
have been compiled); users run a wheel install.  `non_editable_python` builds
one in a throwaway venv whose other packages are this venv's (a .pth line), so
wsctl and the anchor scripts run under the same interpreter and packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def non_editable_python(work: Path) -> Path:
    """The python of a venv in WORK with `pip install ROOT` (no deps) and everything compiled."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(ROOT)],
        check=True,
        timeout=600,
    )
    # this venv's packages (trio, click, cryptography, websockets ...), without its .pth hooks
    (site / "wsctl-bench-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "compileall", "-q", str(site / "wsctl")], check=True)
    return python


def imported_from(python: Path) -> str:
    """Where PYTHON, in the current directory, imports wsctl from (the benchmarks print it)."""
    out = subprocess.run([str(python), "-c", "import wsctl; print(wsctl.__file__)"], capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()[-200:]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for timed processes: bytecode is read (it was compiled), never written."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra}
