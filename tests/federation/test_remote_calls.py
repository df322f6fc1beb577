"""RemoteCalls' decisions, on fakes of the federation, the hub and its
registry (no broker): a queued command that the holding hub did not run
("busy") stays queued and is forwarded again; a busy answer is not remembered
as the outcome of a call; plant tools' commands have slots of their own; a
command with a response topic outside ``replies/`` is neither run nor answered.
Presence forgets a cleared state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import trio

from wsctl.core.hub import topics
from wsctl.core.hub.outcome import CallOutcome, refused
from wsctl.net.federation import remote_calls
from wsctl.net.federation.mqtt import Incoming
from wsctl.net.federation.presence import Presence
from wsctl.net.federation.remote_calls import MAX_COMMANDS, RemoteCalls

TREE = topics.Tree("plant-1")


@dataclass
class Queued:
    id: int
    device: str
    command: str = "reset"
    operator: str = "alice"
    role: str | None = "engineer"
    params: dict | None = None
    created: float = 1.0


class Registry:
    def __init__(self, queued: list[Queued]) -> None:
        self.queued = queued
        self.finished: list[tuple[int, str]] = []
        self.audits: list[dict[str, Any]] = []

    def due(self, device_id: str, *, at: float) -> list[Queued]:
        done = {qid for qid, _ in self.finished}
        return [q for q in self.queued if q.device == device_id and q.id not in done]

    def finish(self, qid: int, *, at: float, outcome: str, result: Any) -> None:
        self.finished.append((qid, outcome))

    def audit(self, **fields: Any) -> None:
        self.audits.append(fields)


class Hub:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.links: dict[str, Any] = {}
        self.claimed: set[int] = set()
        self.done: list[tuple[int, CallOutcome]] = []

    def wall(self) -> float:
        return 100.0

    def profile_of(self, device_id: str) -> Any:
        class Profile:
            def command(self, name: str) -> Any:
                return type("Command", (), {"timeout": 5.0})()

        return Profile()

    def claim_queued(self, qid: int) -> bool:
        if qid in self.claimed:
            return False
        self.claimed.add(qid)
        return True

    def release_queued(self, qid: int) -> None:
        self.claimed.discard(qid)

    def queued_done(self, qid: int, outcome: CallOutcome) -> None:
        self.done.append((qid, outcome))


class Link:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, payload: bytes, **kwargs: Any) -> bool:
        self.sent.append((topic, json.loads(payload)))
        return True


class Federation:
    def __init__(self, hub: Hub, nursery: trio.Nursery) -> None:
        self.hub = hub
        self.hub_id = "hub-c"
        self.tree = TREE
        self.link = Link()
        self.nursery = nursery

    def holder(self, device_id: str) -> str | None:
        return "hub-a"


async def test_a_queued_command_the_holding_hub_was_too_busy_for_stays_queued_and_goes_again(monkeypatch):
    monkeypatch.setattr(remote_calls, "BUSY_RETRY", 0.05)
    registry = Registry([Queued(7, "CP-1")])
    hub = Hub(registry)
    answers = [refused("device", "hub hub-a: 512 calls from other hubs already run", "busy"), CallOutcome("ok")]
    tried: list[bytes | None] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            calls = RemoteCalls(Federation(hub, nursery), None)

            async def call(*args: Any, correlation: bytes | None = None) -> CallOutcome:
                tried.append(correlation)
                return answers.pop(0)

            monkeypatch.setattr(calls, "_call", call)
            calls.forward_queued("CP-1", "hub-a")
            while not registry.finished:
                await trio.sleep(0.01)
    assert registry.finished == [(7, "delivered")]  # never "failed": the busy hub had not run it
    assert len(tried) == 2 and tried[0] == tried[1]  # the same correlation data: a repeat, if it ran
    assert [qid for qid, _ in hub.done] == [7]


async def test_a_busy_outcome_is_not_remembered_as_the_calls():
    async with trio.open_nursery() as nursery:
        calls = RemoteCalls(Federation(Hub(Registry([])), nursery), None)
        key = ("hub-a", b"q:hub-a:7:1.0")
        calls._ran[key] = remote_calls._Ran(0.0)
        calls._remember(key, refused("device", "CP-1 is busy", "busy"))
        assert key not in calls._ran  # a repeat of the forward runs it


async def test_plant_tools_commands_do_not_take_the_slots_of_other_hubs_calls():
    hub = Hub(Registry([]))
    async with trio.open_nursery() as nursery:
        fed = Federation(hub, nursery)
        calls = RemoteCalls(fed, "engineer")
        calls._commands = MAX_COMMANDS
        reply_to = TREE.base + "/replies/plant-tool/1"
        body = json.dumps({"command": "reset"}).encode()
        calls.incoming_command(Incoming(TREE.command("CP-1"), body, reply_to, b"c", False), "CP-1")
        [(topic, answer)] = fed.link.sent
        assert topic == reply_to and answer["outcome"] == "busy"
        call = json.dumps({"device": "CP-1", "command": "reset"}).encode()
        calls.incoming_call(Incoming(TREE.call("hub-a", "hub-c"), call, None, b"h", False), from_hub="hub-a")
        assert calls._running == 1 and len(fed.link.sent) == 1  # started, not answered busy
        nursery.cancel_scope.cancel()


async def test_a_command_with_a_response_topic_outside_replies_is_audited_not_run(autojump_clock):
    hub = Hub(Registry([]))
    async with trio.open_nursery() as nursery:
        fed = Federation(hub, nursery)
        calls = RemoteCalls(fed, "engineer")
        body = json.dumps({"command": "reset", "operator": "line-3"}).encode()
        for n in range(3):
            item = Incoming(TREE.command("CP-1"), body, TREE.device_state("CP-2"), b"%d" % n, False)
            calls.incoming_command(item, "CP-1")
        assert fed.link.sent == [] and calls._commands == 0
    assert [(a["actor"], a["action"], a["outcome"]) for a in hub.registry.audits] == [
        ("mqtt:line-3", "reset", "refused")
    ] * 3
    assert calls.bad_reply_topics == 3 and calls._bad_told == 1  # one warning told of the first; the rest wait


def test_presence_forgets_a_cleared_state_and_takes_a_valid_one():
    presence = Presence()
    presence.hub_state("hub-a", topics.hub_state("hub-a", online=True, at=None))
    presence.device_state("CP-1", topics.device_state("CP-1", "hub-a", online=True, at="t"))
    assert presence.holder("CP-1") == "hub-a"
    assert presence.device_state("CP-1", None).online is False
    assert "CP-1" not in presence.devices
    assert presence.hub_state("hub-a", None) is True and "hub-a" not in presence.hubs
