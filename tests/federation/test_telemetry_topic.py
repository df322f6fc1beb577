"""A device's telemetry on the plant's namespace, end to end: a simulated
conveyor gateway (JSON-RPC notifications, the profile's telemetry events)
dials a hub that runs with ``--broker``, and a dashboard reads
``devices/<id>/telemetry/<name>`` with mosquitto's own client (not wsctl),
as docs/federation.md documents it: the decoded payload and the raw frame."""

from __future__ import annotations

import json
from datetime import datetime

from federation_helpers import CONVEYORS, READER, Process, Sub, register, start_broker, start_hub, tree


def test_telemetry_reaches_a_mosquitto_sub_reader_decoded_and_raw(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    started: list[Process] = []
    try:
        hub = start_hub(tmp_path, broker, "hub-a")
        started.append(hub.process)
        register(hub.registry, CONVEYORS, profile="conveyor")
        # the documented subscription of a dashboard: every device's telemetry, every name
        sub = Sub(broker, tree("devices", "+", "telemetry", "+"), user=READER)
        started.append(
            Process(
                tmp_path,
                "sim-plc-1",
                "--json",
                "serve",
                "--profile",
                "conveyor",
                "--dial",
                hub.url("/devices/plc-1"),
                "--certs",
                str(fed_pki.path),
                "--device",
                "plc-1",
                "--telemetry-scale",
                "0.05",
            )
        )
        topic = tree("devices", "plc-1", "telemetry", "conveyor.telemetry")
        first = sub.doc(topic)
        second = sub.doc(topic, lambda doc: doc["payload"]["uptime"] != first["payload"]["uptime"])
        sub.stop()
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)

    for doc in (first, second):
        assert set(doc) == {"v", "device", "hub", "at", "kind", "name", "payload", "raw"}
        assert (doc["v"], doc["device"], doc["hub"], doc["kind"]) == (1, "plc-1", "hub-a", "telemetry")
        assert doc["name"] == "conveyor.telemetry"
        datetime.fromisoformat(doc["at"].replace("Z", "+00:00"))
        # decoded by the profile: the fields of [events.telemetry], plain JSON
        payload = doc["payload"]
        assert set(payload) == {"speed", "motor_temp", "state", "load", "uptime"}
        assert payload["state"] == "stopped" and payload["speed"] == 0
        assert 20.0 <= payload["motor_temp"] <= 85.0
        # the raw frame exactly as the device sent it: a JSON-RPC notification of the same values
        frame = json.loads(doc["raw"])
        assert frame["jsonrpc"] == "2.0" and frame["method"] == "conveyor.telemetry" and "id" not in frame
        assert frame["params"] == payload
    assert second["payload"]["uptime"] > first["payload"]["uptime"]
