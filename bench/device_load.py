"""A bench/hub_devices.py process (one source address's devices) and its latest
status line, as the hub, telemetry and failover benches drive them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


class DeviceLoad:
    """``urls``: the central systems each device dials, in order; ``extra``: more
    hub_devices.py options (--no-boot, --meter S, --heartbeat S ...)."""

    def __init__(
        self, urls: Sequence[str], certs: Path, source: str, first: int, count: int, extra: Sequence[str] = ()
    ) -> None:
        self.count = count
        self.status = {"open": 0, "booted": 0, "dials": 0, "failures": 0, "received": 0, "sent": 0}
        self.ready = threading.Event()
        cmd = [sys.executable, str(HERE / "hub_devices.py"), *(a for u in urls for a in ("--url", u)),
               "--certs", str(certs), "--source", source, "--first", str(first), "--count", str(count), *extra]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            item = json.loads(line)
            if "ready" in item:
                self.ready.set()
            else:
                self.status = item

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
