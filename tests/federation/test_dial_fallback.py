"""`wsctl serve --dial URL --dial URL ...`: a simulated charger that knows
several hubs tries them in order, and backs off (with jitter) while none answers."""

from __future__ import annotations

import json
import time

from federation_helpers import Process, free_port, free_ports, register


def events(process: Process, kind: str) -> list[dict]:
    lines = [json.loads(line) for line in process.out.read_text().splitlines() if line.startswith("{")]
    return [e for e in lines if e.get("event") == kind]


def wait_events(process: Process, kind: str, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(events(process, kind)) < count:
        assert time.monotonic() < deadline, (process.out.read_text()[-2000:], process.err.read_text()[-2000:])
        time.sleep(0.05)
    return events(process, kind)


def dialing(tmp_path, store, *urls: str) -> Process:
    dials = [a for u in urls for a in ("--dial", u)]
    return Process(
        tmp_path,
        "sim",
        "--json",
        "serve",
        "--profile",
        "ocpp16-charger",
        *dials,
        "--certs",
        str(store),
        "--device",
        "CP-1",
        "--redial",
        "0.1",
    )


def test_the_next_url_is_tried_at_once_and_whole_rounds_back_off(fed_pki, tmp_path):
    urls = [f"wss://localhost:{port}/ocpp/CP-1" for port in free_ports(2)]
    sim = dialing(tmp_path, fed_pki.path, *urls)
    try:
        assert wait_events(sim, "dialing", 1)[0]["urls"] == urls
        rounds = wait_events(sim, "disconnected", 4)
        # doubling, each pause jittered between half and all of it (test_reconnect_backoff.py)
        caps = (0.1, 0.2, 0.4, 0.8)
        assert all(cap / 2 <= r["redial_in"] <= cap for cap, r in zip(caps, rounds, strict=False))
        assert all(r["url"] == ", ".join(urls) for r in rounds)
    finally:
        sim.stop()


def test_a_charger_reaches_the_second_hub_when_the_first_is_down(fed_pki, tmp_path):
    registry = str(tmp_path / "hub.db")
    register(registry, ("CP-1",))
    hub = Process(
        tmp_path,
        "hub",
        "--json",
        "hub",
        "--listen",
        "127.0.0.1:0",
        "--certs",
        str(fed_pki.path),
        "--device",
        "hub-b",
        "--registry",
        registry,
        ready="listening",
    )
    port = int(hub.first["url"].rsplit(":", 1)[1].split("/")[0])
    down, up = f"wss://localhost:{free_port()}/ocpp/CP-1", f"wss://localhost:{port}/ocpp/CP-1"
    sim = dialing(tmp_path, fed_pki.path, down, up)
    try:
        dialed = wait_events(sim, "dialed", 1)
        assert dialed[0]["url"] == up and not events(sim, "disconnected")
    finally:
        sim.stop()
        hub.stop()
