"""What the federation benchmarks share (bench_federation, bench_telemetry,
bench_failover): a free port, a process's CPU seconds, and a real mosquitto with
mutual TLS and an ACL as docs/federation.md configures one.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_broker(
    store, run: Path, hubs: Sequence[str], *, site: str, settings: str = ""
) -> tuple[subprocess.Popen, int, Path]:
    """mosquitto on a free port: TLS with the store's ``broker`` device certificate,
    client certificates required (the CN is the user), read/write on the site's
    tree for each hub, read for ``reader``.  (process, port, the CA file clients
    need); its stderr is ``run/mosquitto.err``.  ``settings``: more mosquitto.conf
    lines (a bench's queue or connection limits)."""
    port = free_port()
    cafile = run / "plant-ca.pem"
    cafile.write_bytes(store.root_cert_path.read_bytes() + store.issuing_cert_path.read_bytes())
    acl = [f"user {h}\ntopic read wsctl/v1/{site}/#\ntopic write wsctl/v1/{site}/#\n" for h in hubs]
    acl.append(f"user reader\ntopic read wsctl/v1/{site}/#\n")
    (run / "acl").write_text("\n".join(acl))
    leaf = store.leaf_paths("device", "broker")
    (run / "mosquitto.conf").write_text(
        f"user {getpass.getuser()}\nset_tcp_nodelay true\nper_listener_settings false\nallow_anonymous false\n"
        f"persistence false\n{settings}acl_file {run / 'acl'}\nlistener {port} 127.0.0.1\n"
        f"cafile {cafile}\ncertfile {leaf.chain}\nkeyfile {leaf.key}\nrequire_certificate true\n"
        "use_identity_as_username true\n"
    )
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(run / "mosquitto.conf")], stderr=(run / "mosquitto.err").open("w"))
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, cafile
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"mosquitto did not start: {(run / 'mosquitto.err').read_text()[-500:]}")


def mosquitto_sub(certs: Path, run: Path, port: int, topics: Sequence[str], line_format: str) -> subprocess.Popen:
    """mosquitto_sub as the plant's ``reader`` (its device certificate in ``certs``),
    MQTT 5, one line per message as ``line_format`` says (-F), unbuffered."""
    leaf = Path(certs) / "devices" / "reader"
    binary = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
    cmd = ["stdbuf", "-oL", binary, "-h", "localhost", "-p", str(port), "--cafile", str(run / "plant-ca.pem"),
           "--cert", str(leaf / "chain.pem"), "--key", str(leaf / "key.pem"), "-V", "mqttv5",
           *(a for t in topics for a in ("-t", t)), "-F", line_format]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
