"""kill -9 of a hub: its Last Will marks it offline, a call in flight to it
ends at once with a clear error, its charger (which knows two hub URLs)
reconnects to the other, presence moves, and an operator's next command
reaches it there.  The time from the kill to the new presence is measured
(printed; docs/scaling.md quotes it)."""

from __future__ import annotations

import json
import time

from federation_helpers import READER, SITE, Process, Sub, charger, start_broker, start_hub, tree

from wsctl.core.exit_table import ExitCode


def test_a_killed_hubs_devices_move_and_stay_commandable(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    started: list = []
    try:
        hubs = {name: start_hub(tmp_path, broker, name) for name in ("hub-d", "hub-b", "hub-c")}
        started += [h.process for h in hubs.values()]
        presence = Sub(broker, tree("hubs", "hub-d", "state"), tree("devices", "+", "state"), user=READER)
        calls = Sub(broker, tree("hubs", "hub-c", "calls", "hub-d"), user="hub-a")  # a hub reads the whole site
        cp5 = charger(tmp_path, broker, "CP-5", hubs["hub-d"], hubs["hub-b"], extra=("--reply-delay", "4"))
        cp8 = charger(tmp_path, broker, "CP-8", hubs["hub-d"], hubs["hub-b"])  # idle when hub-d dies
        started += [cp5, cp8]
        for name in ("CP-5", "CP-8"):
            presence.doc(
                tree("devices", name, "state"), lambda d: d["online"] and d["hub"] == "hub-d" and d["firmware"]
            )

        # a call in flight to hub-d (the charger takes 4 s to answer) when hub-d dies
        url = hubs["hub-c"].url("/devices/CP-5")
        tls = ("--profile", "ocpp16", "--certs", str(fed_pki.path), "--operator", "alice")
        in_flight = Process(tmp_path, "in-flight", "--json", "send", url, "get_configuration", *tls)
        calls.doc(tree("hubs", "hub-c", "calls", "hub-d"))
        hubs["hub-d"].process.kill9()
        killed = time.monotonic()

        will = presence.doc(tree("hubs", "hub-d", "state"), lambda d: d["online"] is False, timeout=40)
        assert will["reason"] == "connection lost (Last Will)"
        code = in_flight.proc.wait(timeout=30)
        failed_after = time.monotonic() - killed
        words = in_flight.out.read_text() + in_flight.err.read_text()
        assert code not in (0, ExitCode.TIMEOUT), words
        assert "hub hub-d went offline before CP-5 answered" in words and "may have run" in words, words

        on_b = lambda d: d["online"] and d["hub"] == "hub-b"  # noqa: E731
        presence.doc(tree("devices", "CP-8", "state"), on_b, timeout=40)
        idle_moved = time.monotonic() - killed
        moved = presence.doc(tree("devices", "CP-5", "state"), on_b, timeout=40)
        busy_moved = time.monotonic() - killed
        assert moved["since"].endswith("Z")
        print(
            f"\nfailover after kill -9 of hub-d: the call in flight failed after {failed_after:.2f} s; "
            f"CP-8 (idle) online on hub-b after {idle_moved:.2f} s, CP-5 (answering a call) after {busy_moved:.2f} s"
        )

        done = Process(tmp_path, "after", "--json", "send", url, "reset", "type=Soft", *tls, "--yes")
        assert done.proc.wait(timeout=60) == 0, done.err.read_text()
        assert json.loads(done.out.read_text().splitlines()[-1])["reply"] == {"status": "Accepted"}
        presence.stop()
        calls.stop()
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)


def test_a_hub_back_from_kill_9_corrects_the_presence_it_left_behind(fed_pki, tmp_path):
    """kill -9 leaves the charger's retained state saying "online on hub-a";
    the charger does not come back; the restarted hub-a says it is offline."""
    broker = start_broker(fed_pki, tmp_path)
    started: list = []
    try:
        hub = start_hub(tmp_path, broker, "hub-a")
        started.append(hub.process)
        cp4 = charger(tmp_path, broker, "CP-4", hub)
        started.append(cp4)
        presence = Sub(broker, tree("devices", "CP-4", "state"), user=READER)
        presence.doc(tree("devices", "CP-4", "state"), lambda d: d["online"] and d["hub"] == "hub-a")
        hub.process.kill9()
        cp4.stop()
        again = Process(
            tmp_path, "hub-a-again", "--json", "hub", "--listen", "127.0.0.1:0", "--certs", str(fed_pki.path),
            "--device", "hub-a", "--registry", hub.registry, "--broker", broker.url, "--hub-id", "hub-a",
            "--site", SITE, ready="listening",
        )  # fmt: skip
        started.append(again)
        corrected = presence.doc(tree("devices", "CP-4", "state"), lambda d: d["online"] is False, timeout=30)
        assert corrected["hub"] == "hub-a" and corrected["reason"] == "hub restarted"
        presence.stop()
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
