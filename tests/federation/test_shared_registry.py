"""One registry for the site: devices added, blocked or removed on one hub hold
on the others, through retained records on a real mosquitto (TLS, the ACL of
docs/federation.md), with hub processes, `wsctl hub devices` run beside them,
a simulated charger, and mosquitto's own clients."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cli_runner import run_in_process
from federation_helpers import READER, Sub, charger, pub, start_broker, start_hub, tree

PROFILE = "ocpp16"


@pytest.fixture(scope="module")
def fed(fed_pki, tmp_path_factory):
    base = tmp_path_factory.mktemp("shared-registry")
    broker = start_broker(fed_pki, base)
    hubs: dict = {}
    try:
        for name in ("hub-a", "hub-b"):
            hubs[name] = start_hub(base, broker, name, devices=())
        yield {"base": base, "broker": broker, "hubs": hubs, "store": str(fed_pki.path)}
    finally:
        for hub in hubs.values():
            hub.process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)


def devices_cli(fed, hub: str, *args: str):
    done = run_in_process("hub", "devices", *args, "--registry", fed["hubs"][hub].registry)
    assert done.returncode == 0, done.stderr
    return done


def registry_of(fed, hub: str) -> dict[str, dict]:
    listed = run_in_process("--json", "hub", "devices", "--registry", fed["hubs"][hub].registry)
    assert listed.returncode == 0, listed.stderr
    return {doc["id"]: doc for doc in map(json.loads, listed.stdout.splitlines())}


def eventually(check, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_a_device_added_on_one_hub_is_admitted_and_commanded_through_the_other(fed, tmp_path):
    devices_cli(fed, "hub-a", "add", "CP-5", "--profile", PROFILE, "--group", "depot-a")
    found = eventually(lambda: registry_of(fed, "hub-b").get("CP-5"), "CP-5 in hub-b's registry")
    assert found["status"] == "approved" and found["groups"] == ["depot-a"] and found["profile"] == PROFILE
    states = Sub(fed["broker"], tree("devices", "CP-5", "state"), user=READER)
    device = charger(tmp_path, fed["broker"], "CP-5", fed["hubs"]["hub-b"])  # it knows only hub-b
    try:
        states.doc(tree("devices", "CP-5", "state"), lambda d: d["online"] and d["hub"] == "hub-b")
        sent = run_in_process(
            "--json", "send", fed["hubs"]["hub-a"].url("/devices/CP-5"), "get_configuration",
            "--profile", PROFILE, "--certs", fed["store"], "--operator", "alice",
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
    finally:
        states.stop()
        device.stop()


def test_block_and_remove_on_either_hub_hold_on_both(fed):
    devices_cli(fed, "hub-b", "add", "CP-6", "--profile", PROFILE)
    eventually(lambda: "CP-6" in registry_of(fed, "hub-a"), "CP-6 in hub-a's registry")
    devices_cli(fed, "hub-a", "block", "CP-6")
    eventually(lambda: registry_of(fed, "hub-b")["CP-6"]["status"] == "blocked", "CP-6 blocked on hub-b")
    devices_cli(fed, "hub-b", "remove", "CP-6")
    eventually(lambda: "CP-6" not in registry_of(fed, "hub-a"), "CP-6 removed from hub-a")


def test_the_records_are_retained_for_hubs_and_hidden_from_dashboards(fed):
    devices_cli(fed, "hub-a", "add", "CP-11", "--profile", PROFILE)
    topic = tree("registry", "devices", "CP-11")
    as_hub = Sub(fed["broker"], topic, user="hub-c")
    try:
        doc = as_hub.doc(topic)
    finally:
        as_hub.stop()
    assert doc["v"] == 1 and doc["device"] == "CP-11" and doc["by"] == "hub-a" and doc["status"] == "approved"
    assert doc["secret_hash"] is None  # a profile 3 device: its certificate, no secret
    dashboard = Sub(fed["broker"], tree("registry", "#"), user=READER)
    try:
        time.sleep(1.0)
        assert dashboard.lines == []  # the ACL gives plant tools no registry/ topic
    finally:
        dashboard.stop()


def test_a_bad_record_is_refused_and_the_hub_carries_on(fed):
    topic = tree("registry", "devices", "CP-9")
    for payload in ('{"v": 1, "device": "CP-9"}', '{"v": 1, "device": "CP-10", "updated": 1, "by": "hub-c"}', "[]"):
        published = pub(fed["broker"], topic, payload, user="hub-c")
        assert published.returncode == 0, published.stderr
    err = fed["hubs"]["hub-a"].process.err
    eventually(lambda: err.read_text().count("shared registry record refused") >= 3, "three refusals logged")
    assert "CP-9" not in registry_of(fed, "hub-a") and "CP-10" not in registry_of(fed, "hub-a")
    devices_cli(fed, "hub-a", "add", "CP-12", "--profile", PROFILE)  # still sharing
    eventually(lambda: "CP-12" in registry_of(fed, "hub-b"), "CP-12 in hub-b's registry")


def test_changes_made_while_a_hub_was_down_meet_the_sites_newer_and_older_ones(fed, tmp_path):
    hubs, base, broker = fed["hubs"], fed["base"], fed["broker"]
    for device in ("CP-7", "CP-8"):
        devices_cli(fed, "hub-a", "add", device, "--profile", PROFILE)
    eventually(lambda: {"CP-7", "CP-8"} <= set(registry_of(fed, "hub-b")), "CP-7 and CP-8 on hub-b")
    hubs["hub-b"].process.stop()
    devices_cli(fed, "hub-b", "block", "CP-7")  # hub-b is down: in its outbox
    time.sleep(0.05)
    devices_cli(fed, "hub-a", "remove", "CP-7")  # later, on the running hub: the site's newest
    devices_cli(fed, "hub-b", "block", "CP-8")  # hub-b's newest, nobody else's
    hubs["hub-b"] = start_hub(base, broker, "hub-b", devices=())
    eventually(lambda: "CP-7" not in registry_of(fed, "hub-b"), "hub-b takes the newer removal of CP-7")
    eventually(lambda: registry_of(fed, "hub-a")["CP-8"]["status"] == "blocked", "hub-a takes hub-b's block")
    assert "CP-7" not in registry_of(fed, "hub-a")  # hub-b's older block did not bring it back
    retained = Sub(broker, tree("registry", "devices", "CP-7"), user="hub-c")
    try:
        assert retained.doc(tree("registry", "devices", "CP-7")).get("removed") is True
    finally:
        retained.stop()


def test_a_hub_with_no_shared_registry_keeps_its_registry_to_itself(fed):
    loner = start_hub(fed["base"], fed["broker"], "hub-d", "--no-shared-registry", devices=("CP-1",))
    try:
        devices_cli(fed, "hub-a", "add", "CP-13", "--profile", PROFILE)
        eventually(lambda: "CP-13" in registry_of(fed, "hub-b"), "CP-13 on hub-b (the control)")
        time.sleep(1.5)
        assert set(registry_of({"hubs": {"hub-d": loner}}, "hub-d")) == {"CP-1"}
        assert "CP-1" not in registry_of(fed, "hub-a")  # nor is its own published
    finally:
        loner.process.stop()


def test_a_hub_that_joins_takes_thousands_of_retained_records(fed):
    """More than a batch of the outbox and of the reader, and more than
    mosquitto's default queue of 1,000 per client: hub-b is down while hub-a
    publishes them, then joins and is sent them all at once."""
    from wsctl.registry import Registry

    hubs = fed["hubs"]
    hubs["hub-a"].process.stop()
    hubs["hub-b"].process.stop()
    with Registry.open(hubs["hub-a"].registry) as reg:
        for n in range(2500):
            reg.add_device(f"bulk-{n}", profile=PROFILE)
    hubs["hub-a"] = start_hub(fed["base"], fed["broker"], "hub-a", devices=())
    retained = Sub(fed["broker"], tree("registry", "devices", "bulk-2499"), user="hub-c")
    try:
        retained.doc(tree("registry", "devices", "bulk-2499"), timeout=60)  # the last one is at the broker
    finally:
        retained.stop()
    hubs["hub-b"] = start_hub(fed["base"], fed["broker"], "hub-b", devices=())

    def arrived() -> bool:
        return sum(1 for d in registry_of(fed, "hub-b") if d.startswith("bulk-")) == 2500

    eventually(arrived, "2,500 devices on hub-b", timeout=60)


def test_id_tags_added_blocked_and_removed_on_one_hub_hold_on_the_other(fed):
    def tags_of(hub: str) -> dict[str, dict]:
        listed = run_in_process("--json", "hub", "id-tags", "--registry", fed["hubs"][hub].registry)
        assert listed.returncode == 0, listed.stderr
        return {doc["id_tag"]: doc for doc in map(json.loads, listed.stdout.splitlines())}

    def tags(hub: str, *args: str) -> None:
        done = run_in_process("hub", "id-tags", *args, "--registry", fed["hubs"][hub].registry)
        assert done.returncode == 0, done.stderr

    tags("hub-a", "add", "04E91C2A")
    tags("hub-a", "add", "VISITOR 7", "--expires", "2099-12-31T23:59:59Z")  # not a topic level: hashed there
    eventually(lambda: {"04E91C2A", "VISITOR 7"} <= set(tags_of("hub-b")), "both tags on hub-b")
    assert tags_of("hub-b")["VISITOR 7"]["expires"] is not None
    tags("hub-b", "add", "04E91C2A", "--status", "Blocked")  # a lost card, told to the other hub
    eventually(lambda: tags_of("hub-a")["04E91C2A"]["status"] == "Blocked", "the block on hub-a")
    tags("hub-a", "remove", "VISITOR 7")
    eventually(lambda: "VISITOR 7" not in tags_of("hub-b"), "the removal on hub-b")


def test_a_broker_that_lost_its_retained_records_gets_them_back(fed_pki, tmp_path):
    """A broker restarted without persistence holds no records: the hub, once
    reconnected and settled, publishes what the broker did not send it, so a
    hub that joins afterwards still learns every device."""
    broker = start_broker(fed_pki, tmp_path)
    hubs: list = []
    try:
        hubs.append(start_hub(tmp_path, broker, "hub-a", devices=()))
        local = {"hubs": {"hub-a": hubs[0]}}
        devices_cli(local, "hub-a", "add", "CP-21", "--profile", PROFILE)
        probe = Sub(broker, tree("registry", "devices", "CP-21"), user="hub-c")
        probe.doc(tree("registry", "devices", "CP-21"))
        probe.stop()
        port = broker.port
        broker.proc.terminate()
        broker.proc.wait(timeout=10)
        broker = start_broker(fed_pki, tmp_path, port=port)  # empty: persistence false
        again = Sub(broker, tree("registry", "devices", "CP-21"), user="hub-c")
        try:
            assert again.doc(tree("registry", "devices", "CP-21"), timeout=40)["by"] == "hub-a"
        finally:
            again.stop()
        hubs.append(start_hub(tmp_path, broker, "hub-b", devices=()))
        local["hubs"]["hub-b"] = hubs[1]
        eventually(lambda: "CP-21" in registry_of(local, "hub-b"), "CP-21 on the hub that joined after")
    finally:
        for hub in hubs:
            hub.process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)


def test_a_device_registered_by_profile_file_stays_on_its_hub(fed, tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text((Path(__file__).resolve().parents[2] / "wsctl" / "profiles" / "ocpp16.toml").read_text())
    devices_cli(fed, "hub-a", "add", "CP-31", "--profile", str(profile))
    devices_cli(fed, "hub-a", "add", "CP-32", "--profile", PROFILE)  # after it: when this one arrives, CP-31 went by
    eventually(lambda: "CP-32" in registry_of(fed, "hub-b"), "CP-32 on hub-b")
    assert "CP-31" not in registry_of(fed, "hub-b")
    err = fed["hubs"]["hub-a"].process.err.read_text()
    assert "registered with the profile file" in err and "not shared" in err
