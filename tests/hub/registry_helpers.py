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


def start_writer(path: Path, prefix: str, count: int) -> subprocess.Popen:
    """Another process adding `count` devices and audit entries, one short transaction each."""
    code = (
        "import sys; from wsctl.registry import Registry\n"
        "reg = Registry.open(sys.argv[1])\n"
        "for i in range(int(sys.argv[3])):\n"
        "    reg.add_device(f'{sys.argv[2]}-{i}', profile='ocpp16')\n"
        "    reg.audit(at=i, actor=sys.argv[2], role=None, device=None, action='add', outcome='ok')\n"
        "reg.close()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path), prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
