"""Prometheus metrics of a running server (`wsctl serve --metrics HOST:PORT`).

The reference client library, prometheus-client, is imported only when
metrics are asked for.  Gauges read the server's own counters when scraped
(connections open, handshakes pending, the CRL's time left); counters are fed
by the access record each connection leaves when it ends (outcome, messages,
bytes) and by the simulator (commands by result, and the time from a command's
arrival to its answer queued for sending).  Metric names and labels are listed in
docs/monitoring.md and kept stable.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

#: answering is sub-millisecond on loopback; the slow end is for faults (--reply-delay)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReadCounter:
    """A counter whose total is read from its owner when scraped (bytes a
    recorder has written): prometheus-client's `Counter` can only be
    incremented, and a gauge would not say the value only grows."""

    def __init__(self, name: str, documentation: str, read: Any) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def describe(self) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily

        return [CounterMetricFamily(self.name, self.documentation)]

    def collect(self) -> list[Any]:
        from prometheus_client.core import CounterMetricFamily

        return [CounterMetricFamily(self.name, self.documentation, value=self.read())]


class ServerMetrics:
    """One registry per server; `start` serves it over plain HTTP."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.connections_open = Gauge(
            "wsctl_connections_open", "Connections past their WebSocket upgrade, open now", registry=r
        )
        self.handshakes_pending = Gauge(
            "wsctl_handshakes_pending", "Connections in their TLS or WebSocket handshake now", registry=r
        )
        self.connections = Counter(
            "wsctl_connections",
            "Connections ended, by outcome (closed, rejected, refused, tls-failed, ...)",
            ["outcome"],
            registry=r,
        )
        self.messages = Counter(
            "wsctl_messages", "Messages of ended connections, by direction (in: from peers)", ["direction"], registry=r
        )
        self.bytes = Counter(
            "wsctl_bytes",
            "Message bytes of ended connections, by direction (in: from peers)",
            ["direction"],
            registry=r,
        )
        self.commands = Counter(
            "wsctl_commands",
            "Commands the simulated device handled, by command and result (ok, denied, error ...)",
            ["command", "result"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "wsctl_command_seconds",
            "Seconds from a command's arrival to its answer queued for sending",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._http: Any = None

    def bind(self, server: Any) -> None:
        """Read the live gauges from ``server`` (a `wsctl.net.server.Server`) at scrape time."""
        self.connections_open.set_function(lambda: server.admission.open)
        self.handshakes_pending.set_function(lambda: server.admission.pending)
        reloader = server.reloader
        if reloader is not None:
            # only with a CRL: a gauge left unset would read 0, "expires now"
            from prometheus_client import Gauge

            def left() -> float:
                if reloader.next_update is None:
                    return float("inf")
                return (reloader.next_update - _dt.datetime.now(_dt.UTC)).total_seconds()

            crl_seconds_left = Gauge(
                "wsctl_crl_seconds_left",
                "Seconds until the CRL checked against clients passes its nextUpdate (negative: expired)",
                registry=self.registry,
            )
            crl_seconds_left.set_function(left)

    def bind_recorder(self, recorder: Any) -> None:
        """`record --listen`: the bytes its recording (a `wsctl.net.recorder.Recorder`) has written, all parts."""
        self.registry.register(
            ReadCounter(
                "wsctl_recorded_bytes",
                "Bytes written to the recording (all its files, rotated ones too)",
                lambda: recorder.bytes,
            )
        )

    def access(self, record: Any) -> None:
        """Count one ended connection (an `AccessRecord`)."""
        self.connections.labels(record.outcome).inc()
        self.messages.labels("in").inc(record.messages_in)
        self.messages.labels("out").inc(record.messages_out)
        self.bytes.labels("in").inc(record.bytes_in)
        self.bytes.labels("out").inc(record.bytes_out)

    def command(self, record: dict[str, Any]) -> None:
        """Count one command record of the simulator (``{"event": "command", ...}``)."""
        if record.get("event") == "command":
            self.commands.labels(str(record.get("command")), str(record.get("result"))).inc()

    def answered(self, command: str, seconds: float) -> None:
        self.command_seconds.labels(command).observe(seconds)

    def start(self, host: str, port: int) -> tuple[str, int]:
        """Serve /metrics over plain HTTP (a thread of prometheus-client); returns where."""
        from prometheus_client import start_http_server

        self._http, _thread = start_http_server(port, addr=host, registry=self.registry)
        bound = self._http.server_address
        return bound[0], bound[1]

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http = None
