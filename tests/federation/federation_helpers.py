"""A real federation for tests/federation: a throwaway plant store
(`wsctl.pki.store.Store`), a real mosquitto with a TLS listener on a free port
and the ACL file of docs/federation.md, hub processes (`python -m wsctl hub
--broker ...`), simulated chargers dialing them, and the broker read with
mosquitto's own clients (never wsctl's).  Every wait is bounded."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

PW = b"pw"
SITE = "plant-1"
HUBS = ("hub-a", "hub-b", "hub-c", "hub-d")
CHARGERS = tuple(f"CP-{n}" for n in range(1, 9))
#: a conveyor gateway (profile conveyor): JSON-RPC notifications, the profile's telemetry events
CONVEYORS = ("plc-1",)
#: the named plant tool of the ACL (may command), and a reader that may not
TOOL, READER = "plant-tool", "dashboard"
DOC = Path(__file__).resolve().parents[2] / "docs" / "federation.md"


def need(binary: str) -> str:
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if found is None:
        pytest.skip(f"{binary} is not installed (Debian: apt-get install mosquitto mosquitto-clients)")
    return found


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """COUNT different free ports (bound at once: one after the other, the
    kernel may hand out the same port twice)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclasses.dataclass
class FedPKI:
    store: Any
    path: Path
    cafile: Path

    def leaf(self, name: str) -> Any:
        return self.store.leaf_paths("device", name)


def build_fed_pki(base: Path) -> FedPKI:
    from wsctl.pki.store import Store

    store = Store(base / "store")
    store.init(name="Plant CA", key_type="p256", password=PW)
    for name in ("broker", *HUBS):
        store.issue_device(name, dns=["localhost"], ips=["127.0.0.1"], days=30, password=PW, key_password=None)
    for name in (*CHARGERS, *CONVEYORS, TOOL, READER):
        store.issue_device(name, dns=[f"{name.lower()}.plant.test"], ips=[], days=30, password=PW, key_password=None)
    store.issue_operator("alice", role="engineer", days=30, password=PW, key_password=None)
    store.issue_operator("bob", role="observer", days=30, password=PW, key_password=None)
    cafile = base / "plant-ca.pem"  # root and issuing CA: what mosquitto verifies clients with
    cafile.write_bytes(store.root_cert_path.read_bytes() + store.issuing_cert_path.read_bytes())
    return FedPKI(store, store.path, cafile)


def acl_text() -> str:
    """The ACL file of docs/federation.md, as written there (site plant-1)."""
    (block,) = re.findall(r"```acl\n(.*?)```", DOC.read_text(), re.S)
    return block


@dataclasses.dataclass
class Broker:
    proc: subprocess.Popen
    port: int
    pki: FedPKI
    log: Path

    @property
    def url(self) -> str:
        return f"mqtts://localhost:{self.port}"

    def client_tls(self, name: str) -> list[str]:
        leaf = self.pki.leaf(name)
        return [
            "-h",
            "localhost",
            "-p",
            str(self.port),
            "--cafile",
            str(self.pki.cafile),
            "--cert",
            str(leaf.chain),
            "--key",
            str(leaf.key),
            "-V",
            "mqttv5",
        ]


def start_broker(pki: FedPKI, base: Path, port: int | None = None) -> Broker:
    """mosquitto on a free port (or PORT: a broker restarted where the hubs look for it)."""
    binary = need("mosquitto")
    port = port or free_port()
    leaf = pki.leaf("broker")
    (base / "acl").write_text(acl_text())
    log = base / "mosquitto.log"
    (base / "mosquitto.conf").write_text(
        "\n".join(
            [
                "per_listener_settings false",
                # as root mosquitto drops to the user "mosquitto", who may not read the test's files
                f"user {getpass.getuser()}",
                "allow_anonymous false",
                "persistence false",
                "set_tcp_nodelay true",
                "max_queued_messages 100000",  # as docs/federation.md: a joining hub's retained flood
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                f"acl_file {base / 'acl'}",
                f"listener {port} 127.0.0.1",
                f"cafile {pki.cafile}",
                f"certfile {leaf.chain}",
                f"keyfile {leaf.key}",
                f"crlfile {pki.store.crl_pem_path}",
                "require_certificate true",
                "use_identity_as_username true",
                "tls_version tlsv1.2",
                "",
            ]
        )
    )
    proc = subprocess.Popen(
        [binary, "-c", str(base / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mosquitto exited: {log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Broker(proc, port, pki, log)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"mosquitto did not listen: {log.read_text()}")


class Process:
    """`python -m wsctl ARGS` in the background, its output to files."""

    def __init__(self, base: Path, name: str, *args: str, ready: str | None = None, timeout: float = 30) -> None:
        self.out = base / f"{name}.out"
        self.err = base / f"{name}.err"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsctl", *args],
            stdout=self.out.open("w"),
            stderr=self.err.open("w"),
            stdin=subprocess.DEVNULL,
        )
        self.first: dict = {}
        if ready is not None:
            self.first = self.wait_for(ready, timeout)

    def wait_for(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out.read_text().splitlines():
                if line.startswith("{") and json.loads(line).get("event") == event:
                    return json.loads(line)
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.err.read_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no {event!r} within {timeout} s: {self.err.read_text()[-3000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@dataclasses.dataclass
class Hub:
    name: str
    process: Process
    port: int
    registry: str

    def url(self, path: str) -> str:
        return f"wss://localhost:{self.port}{path}"


def register(registry: str, devices=CHARGERS, profile: str = "ocpp16") -> None:
    from cli_runner import run_in_process

    for name in devices:
        added = run_in_process("hub", "devices", "add", name, "--profile", profile, "--registry", registry)
        assert added.returncode == 0, added.stderr


def start_hub(base: Path, broker: Broker, name: str, *extra: str, devices=CHARGERS) -> Hub:
    """A hub joined to the broker, ``devices`` registered (default: every charger, any may turn up here)."""
    registry = str(base / f"{name}.db")
    register(registry, devices)
    process = Process(
        base,
        name,
        "--json",
        "hub",
        "--listen",
        "127.0.0.1:0",
        "--certs",
        str(broker.pki.path),
        "--device",
        name,
        "--registry",
        registry,
        "--broker",
        broker.url,
        "--hub-id",
        name,
        "--site",
        SITE,
        *extra,
        ready="listening",
    )
    port = int(process.first["url"].rsplit(":", 1)[1].split("/")[0])
    return Hub(name, process, port, registry)


def charger(base: Path, broker: Broker, name: str, *hubs: Hub, extra: tuple[str, ...] = ()) -> Process:
    dials = [a for h in hubs for a in ("--dial", h.url(f"/ocpp/{name}"))]
    return Process(
        base,
        f"sim-{name}",
        "--json",
        "serve",
        "--profile",
        "ocpp16-charger",
        *dials,
        "--certs",
        str(broker.pki.path),
        "--device",
        name,
        "--redial",
        "0.2",
        "--telemetry-scale",
        "0.05",
        *extra,
    )


class Sub:
    """`mosquitto_sub` on TOPICS; lines 'TOPIC PAYLOAD' (retained ones first),
    read by a thread (a pipe read with select would miss lines already buffered)."""

    def __init__(self, broker: Broker, *topics: str, user: str = TOOL, fmt: str = "%t %p") -> None:
        binary = need("mosquitto_sub")
        # line-buffered: a pipe would hold mosquitto_sub's lines until exit
        args = ["stdbuf", "-oL", binary, *broker.client_tls(user), "-d", "-F", fmt]
        for topic in topics:
            args += ["-t", topic]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._debug: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait(lambda: any("SUBACK" in line for line in self._debug), 10, "SUBACK")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            (self._debug if line.startswith(("Client ", "Subscribed")) else self.lines).append(line)

    def _wait(self, done, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError(
            f"mosquitto_sub: no {what} within {timeout} s; got {self.lines[-20:]} {self._debug[-5:]}: "
            f"{self.proc.stderr.read()[-2000:] if self.proc.stderr else ''}"
        )

    def until(self, match, timeout: float = 20, what: str = "match") -> str:
        found: list[str] = []

        def done() -> bool:
            found[:] = [line for line in list(self.lines) if match(line)][:1]
            return bool(found)

        self._wait(done, timeout, what)
        return found[0]

    def doc(self, topic: str, check=lambda doc: True, timeout: float = 20) -> dict:
        """The first payload on TOPIC (exactly) that passes CHECK; taken off the list."""

        def match(line: str) -> bool:
            t, _, payload = line.partition(" ")
            return t == topic and payload.startswith("{") and check(json.loads(payload))

        line = self.until(match, timeout, f"{topic} passing the check")
        self.lines.remove(line)
        return json.loads(line.partition(" ")[2])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def pub(
    broker: Broker,
    topic: str,
    payload: str,
    *,
    user: str = TOOL,
    response: str | None = None,
    correlation: str | None = None,
    retain: bool = False,
) -> subprocess.CompletedProcess:
    binary = need("mosquitto_pub")
    args = [binary, *broker.client_tls(user), "-q", "1", "-t", topic, "-m", payload, *(["-r"] if retain else [])]
    if response:
        args += ["-D", "publish", "response-topic", response]
    if correlation:
        args += ["-D", "publish", "correlation-data", correlation]
    return subprocess.run(args, capture_output=True, text=True, timeout=20)


def tree(*levels: str) -> str:
    return "/".join(("wsctl", "v1", SITE, *levels))
