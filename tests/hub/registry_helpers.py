"""Shared by the registry tests: registries on real files in tmp_path, and
processes that write to one while the test does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wsctl.registry import Registry

#: a second schema version that exists only in the tests: the migration machinery
#: runs for real although the shipped schema has one version
V2 = "ALTER TABLE devices ADD COLUMN location TEXT;\nCREATE INDEX devices_by_location ON devices (location);\n"


def open_registry(tmp_path: Path, name: str = "hub.db", **kwargs) -> Registry:
    return Registry.open(tmp_path / name, **kwargs)


def start_writer(path: Path, prefix: str, count: int, *, go: Path | None = None) -> subprocess.Popen:
    """Another process adding `count` devices and audit entries, one short transaction each.

    With ``go``, it first says it is ready (``go`` + ``.PREFIX``) and waits (at
    most 60 s) for ``go`` to exist, so that several start at the same moment.
    """
    code = (
        "import sys, time, pathlib; from wsctl.registry import Registry\n"
        "if sys.argv[4]:\n"
        "    go = pathlib.Path(sys.argv[4]); pathlib.Path(f'{go}.{sys.argv[2]}').touch()\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not go.exists() and time.monotonic() < deadline: time.sleep(0.001)\n"
        "reg = Registry.open(sys.argv[1])\n"
        "for i in range(int(sys.argv[3])):\n"
        "    reg.add_device(f'{sys.argv[2]}-{i}', profile='ocpp16')\n"
        "    reg.audit(at=i, actor=sys.argv[2], role=None, device=None, action='add', outcome='ok')\n"
        "reg.close()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path), prefix, str(count), str(go or "")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
