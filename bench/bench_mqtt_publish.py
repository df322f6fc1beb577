"""The hub's MQTT publish path alone: CPU per telemetry message from `Federation`'s
document to the broker, against a real mosquitto (mutual TLS, ACL), read by mosquitto_sub.

    flock /tmp/wsctl-bench.lock .venv/bin/python bench/bench_mqtt_publish.py [--messages N] [--burst B] [--rounds R]

One `MqttLink` (as a hub makes it) publishes N device-message documents per
round in bursts of B per trio scheduling pass (a hub's device tasks woken by one
epoll wait), the way `Federation.device_message` does; the figure is the trio
thread's CPU per message (mosquitto_sub's lines are counted by another thread),
median and spread over the rounds.  The ways alternate round by round in one
process: the document and topic alone, paho's ``publish`` per message (the code
before coalescing), `MqttLink.publish_telemetry` (coalesced).
mosquitto_sub must read every one (missing = 0).  Isolates what docs/performance.md
"Telemetry at scale" calls the MQTT side of the hub's per-message cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # broker_fixture, hub_fixture (wsctl: the interpreter's, or PYTHONPATH)

import broker_fixture  # noqa: E402
import trio  # noqa: E402
from bench_telemetry import certificates  # noqa: E402
from hub_fixture import prepare  # noqa: E402

SITE = "bench"


def report(a, per: dict[str, list[float]], outcomes: dict[str, int], read: int, total: int) -> None:
    print(f"{a.rounds} rounds x {a.messages} messages, bursts of {a.burst}; the trio thread's CPU per message:")
    base = statistics.median(per["document only"])
    for name, values in per.items():
        med = statistics.median(values)
        extra = "" if name == "document only" else f"; the MQTT part {(med - base) * 1e6:.1f} us"
        print(
            f"  {name:30} median {med * 1e6:5.1f} us (min {min(values) * 1e6:.1f}, max {max(values) * 1e6:.1f}){extra}"
        )
    print(f"published {outcomes['published']}, dropped {outcomes['dropped']}, read by mosquitto_sub {read}, "
          f"missing {total - read - outcomes['dropped']}; load average {os.getloadavg()}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--burst", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/wsctl-bench-mqtt"))
    a = p.parse_args()
    from wsctl.core.hub import topics
    from wsctl.net.federation.broker_url import BrokerURL
    from wsctl.net.federation.mqtt import MqttLink
    from wsctl.net.tls import client_context
    from wsctl.pki.store import Store

    certs, _ = prepare(a.workdir, 1)
    certificates(certs, ["hub-a"])
    run = a.workdir / "run"
    run.mkdir(parents=True, exist_ok=True)
    store = Store(certs)
    broker, port, cafile = broker_fixture.start_broker(store, run, ["hub-a"], site=SITE)
    reader = broker_fixture.mosquitto_sub(certs, run, port, [f"wsctl/v1/{SITE}/devices/+/events/#"], "%t")
    read = [0]

    def count() -> None:
        assert reader.stdout is not None
        for _ in reader.stdout:
            read[0] += 1

    threading.Thread(target=count, daemon=True).start()
    leaf = store.leaf_paths("device", "hub-a")
    tree = topics.Tree(SITE)
    raw = '[2,"m17","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-12-02T18:00:00.000Z","sampledValue":[{"value":"17"}]}]}]'
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-12-02T18:00:00.000Z", "sampledValue": [{"value": "17"}]}],
    }
    outcomes = {"published": 0, "dropped": 0}

    def outcome(kind: str, ok: bool) -> None:
        outcomes["published" if ok else "dropped"] += 1

    per: dict[str, list[float]] = {}

    async def body() -> None:
        options = dict(
            client_id=f"wsctl-{SITE}-hub-a",
            tls=client_context(ca=str(cafile), cert=str(leaf.chain), key=str(leaf.key)),
            will=(tree.hub_state("hub-a"), b"{}"),
            on_message=lambda item: None,
            on_connected=lambda: None,
        )
        broker_url = BrokerURL("localhost", port, True)
        coalesced = hasattr(MqttLink, "publish_telemetry")
        link = MqttLink(broker_url, on_telemetry=outcome, **options) if coalesced else MqttLink(broker_url, **options)

        def one_by_one(topic: str, payload: bytes, kind: str) -> None:
            """paho's publish per message, written at once (the code before coalescing)."""
            outcome(kind, link.publish(topic, payload))

        def nothing(topic: str, payload: bytes, kind: str) -> None:
            """the document and topic only: what is not the MQTT path"""

        ways = {"document only": nothing, "paho publish per message": one_by_one}
        if coalesced:
            ways["coalesced (publish_telemetry)"] = link.publish_telemetry

        async def round_of(send) -> float:
            t0 = time.thread_time()
            for n in range(a.messages):
                device = f"CP-{n % 1000:05d}"
                doc = topics.device_message(device, "hub-a", at="2026-12-02T18:00:00.000Z", kind="request",
                                            name="MeterValues", payload=payload, raw=raw)  # fmt: skip
                send(tree.device_message(device, "events", "MeterValues"), topics.encode(doc), "events")
                if n % a.burst == a.burst - 1:
                    await trio.sleep(0)
            while (coalesced and link._batch) or link._client.want_write():
                await trio.sleep(0.01)
            return (time.thread_time() - t0) / a.messages

        async with trio.open_nursery() as nursery:
            await link.open(nursery)
            await trio.sleep(0.5)
            for k in range(a.rounds):  # the ways in turn, each round in another order
                order = list(ways) if k % 2 == 0 else list(reversed(ways))
                for name in order:
                    per.setdefault(name, []).append(await round_of(ways[name]))
                    await trio.sleep(0.2)
            await link.close()

    try:
        trio.run(body)
        total = a.messages * a.rounds * (len(per) - 1)
        deadline = time.monotonic() + 30
        while read[0] < total and time.monotonic() < deadline:
            time.sleep(0.1)
        report(a, per, outcomes, read[0], total)
    finally:
        reader.kill()
        broker.kill()


if __name__ == "__main__":
    main()
