"""Prometheus metrics of a running hub (`wsctl hub --metrics HOST:PORT`): the
server's own (`wsctl.net.metrics`) plus devices online, admissions by outcome,
and operators' calls by command and outcome with their time at the hub.
Names and labels are in docs/monitoring.md and kept stable."""

from __future__ import annotations

from typing import Any

from wsctl.net.metrics import LATENCY_BUCKETS, ReadCounter, ServerMetrics

#: distinct ``command`` label values; further names are counted as `OTHER_COMMANDS`
MAX_COMMAND_LABELS = 256
OTHER_COMMANDS = "(other)"


class HubMetrics(ServerMetrics):
    def __init__(self) -> None:
        super().__init__()
        self._commands: set[str] = set()
        from prometheus_client import Counter, Gauge, Histogram

        r = self.registry
        self.devices_online = Gauge("wsctl_hub_devices_online", "Devices connected to the hub now", registry=r)
        self.operators_open = Gauge("wsctl_hub_operators_open", "Operator connections open now", registry=r)
        self.devices_registered = Gauge(
            "wsctl_hub_devices_registered", "Devices in the hub's registry (online or not)", registry=r
        )
        self.queued = Gauge(
            "wsctl_hub_queued_commands", "Commands waiting in the registry for offline devices", registry=r
        )
        self.admissions = Counter(
            "wsctl_hub_admissions",
            "Upgrades judged by the hub, by outcome (device, operator, or the refusal's kind)",
            ["outcome"],
            registry=r,
        )
        self.calls = Counter(
            "wsctl_hub_calls",
            "Operators' calls through the hub, by command and outcome (ok, refused, device-error, timeout, offline ...)",
            ["command", "outcome"],
            registry=r,
        )
        self.broker_messages = Counter(
            "wsctl_hub_broker_messages",
            "Device messages for the broker (--broker), by kind (telemetry, events) and outcome "
            "(published, or dropped: no broker connection)",
            ["kind", "outcome"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "wsctl_hub_call_seconds",
            "Seconds from the hub sending an operator's call to the device to the device's answer",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def bind_hub(self, hub: Any) -> None:
        self.devices_online.set_function(lambda: len(hub.links))
        self.operators_open.set_function(lambda: hub.operators_open)
        # read at scrape time, in the exporter's thread (the registry serialises its connection)
        self.devices_registered.set_function(lambda: len(hub.registry.device_ids()))
        self.queued.set_function(hub.registry.queued_total)  # one count, not every record per scrape
        self.registry.register(
            ReadCounter(
                "wsctl_hub_recorded_bytes",
                "Bytes written to the recordings of device connections that have closed (--record-dir)",
                lambda: hub.recorded_bytes,
            )
        )

    def admitted(self, outcome: str) -> None:
        self.admissions.labels(outcome).inc()

    def broker_message(self, kind: str, published: bool) -> None:
        self.broker_messages.labels(kind, "published" if published else "dropped").inc()

    def call(self, command: str, outcome: str, seconds: float | None) -> None:
        # a command name can come from anyone who may publish a command (MQTT) or
        # connect as an operator: a label per name would grow without bound
        if command not in self._commands:
            if len(self._commands) >= MAX_COMMAND_LABELS:
                command = OTHER_COMMANDS
            else:
                self._commands.add(command)
        self.calls.labels(command, outcome).inc()
        if seconds is not None:
            self.call_seconds.labels(command).observe(seconds)
