"""Reconnect pauses with jitter: the hub's MQTT link after losing a real
mosquitto, and a simulated charger's rounds over its --dial URLs.  The jitter
comes from the caller's random source (core draws nothing by itself)."""

from __future__ import annotations

import ast
import inspect
import random

import pytest
import trio
from federation_helpers import Process, free_ports, start_broker, tree

import wsctl.core.backoff
from wsctl.core.backoff import Backoff
from wsctl.net.federation.broker_url import BrokerURL
from wsctl.net.federation.mqtt import RECONNECT, MqttLink
from wsctl.net.tls import client_context


class Recorded:
    """A random source that says what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.asked.append((a, b))
        return b


def test_backoff_draws_only_from_the_callers_source():
    source = Recorded()
    assert Backoff(initial=1, maximum=4, jitter="equal").delay(1, source) == 2
    assert Backoff(initial=1, maximum=4, jitter="full").delay(5, source) == 4
    assert source.asked == [(0, 1), (0, 4)]
    with pytest.raises(ValueError, match="random source"):
        Backoff(jitter="full").delay(0, None)
    assert Backoff(initial=1, jitter="none").delay(2, None) == 4
    imported = {
        alias.name
        for node in ast.walk(ast.parse(inspect.getsource(wsctl.core.backoff)))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert "random" not in imported


def test_the_mqtt_link_reconnects_after_jittered_pauses(fed_pki, tmp_path):
    """The broker dies and returns on the same port: the link waits the pauses
    `RECONNECT` draws from the random source it was given, then connects again."""
    broker = start_broker(fed_pki, tmp_path)
    leaf = fed_pki.leaf("hub-a")
    waits: list[float] = []
    connects: list[int] = []

    async def main() -> None:
        nonlocal broker
        link = MqttLink(
            BrokerURL("localhost", broker.port, True),
            client_id="wsctl-plant-1-hub-a",
            tls=client_context(ca=str(fed_pki.cafile), cert=str(leaf.chain), key=str(leaf.key)),
            will=(tree("hubs", "hub-a", "state"), b'{"v": 1}'),
            on_message=lambda item: None,
            on_connected=lambda: connects.append(len(waits)),
            rng=random.Random(7),
            on_reconnect_wait=waits.append,
        )
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await link.open(nursery)
                broker.proc.terminate()
                await trio.to_thread.run_sync(broker.proc.wait)
                while len(waits) < 3:
                    await trio.sleep(0.05)
                broker = await trio.to_thread.run_sync(lambda: start_broker(fed_pki, tmp_path, port=broker.port))
                while len(connects) < 2:
                    await trio.sleep(0.05)
                assert link.connected
                await link.close()

    try:
        trio.run(main)
    finally:
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
    drawn = random.Random(7)
    expected = [RECONNECT.delay(attempt, drawn) for attempt in range(len(waits))]
    assert waits == expected
    assert all(RECONNECT.cap(n) / 2 <= w <= RECONNECT.cap(n) for n, w in enumerate(waits))
    assert any(w != RECONNECT.cap(n) for n, w in enumerate(waits))  # jittered, not paho's fixed doubling


def test_a_chargers_dial_rounds_back_off_with_jitter(fed_pki, tmp_path):
    urls = [f"wss://localhost:{port}/ocpp/CP-1" for port in free_ports(2)]
    dials = [a for u in urls for a in ("--dial", u)]
    sims = [
        Process(tmp_path, f"sim-{seed}", "--json", "serve", "--profile", "ocpp16-charger", *dials,
                "--certs", str(fed_pki.path), "--device", "CP-1", "--redial", "0.1", "--seed", str(seed))
        for seed in (1, 2)
    ]  # fmt: skip
    from test_dial_fallback import wait_events

    try:
        pauses = [[r["redial_in"] for r in wait_events(sim, "disconnected", 4)[:4]] for sim in sims]
    finally:
        for sim in sims:
            sim.stop()
    for seen in pauses:
        assert all(cap / 2 <= p <= cap for cap, p in zip((0.1, 0.2, 0.4, 0.8), seen, strict=True)), seen
    assert pauses[0] != pauses[1]  # two chargers that lost the same hubs do not redial in lockstep
