"""A call from another hub that arrives twice (same hub, same correlation
data: a queued command forwarded again by a hub that died after the first
forward ran and before it recorded it) runs once; the repeat is answered
with the first outcome.  The calling hub is played by mosquitto's own
clients with hub-b's certificate, so the repeat is exactly a repeat."""

from __future__ import annotations

import json

from cli_runner import run_in_process
from federation_helpers import Process, Sub, charger, pub, start_broker, start_hub, tree


def ran(registry: str, action: str) -> list[dict]:
    listed = run_in_process("--json", "hub", "audit", "--registry", registry, "--device", "CP-1")
    return [
        a for line in listed.stdout.splitlines() if line.strip() for a in [json.loads(line)] if a["action"] == action
    ]


def test_a_call_repeated_by_the_calling_hub_runs_once_and_gets_the_first_reply(fed_pki, tmp_path):
    broker = start_broker(fed_pki, tmp_path)
    started: list[Process] = []
    try:
        hub = start_hub(tmp_path, broker, "hub-a")
        started.append(hub.process)
        states = Sub(broker, tree("devices", "CP-1", "state"))
        started.append(charger(tmp_path, broker, "CP-1", hub))
        states.doc(tree("devices", "CP-1", "state"), lambda d: d["online"] and d["hub"] == "hub-a")
        states.stop()
        replies = Sub(broker, tree("hubs", "hub-a", "replies", "hub-b"), user="hub-b")
        call = json.dumps(
            {
                "v": 1,
                "device": "CP-1",
                "operator": "alice",
                "role": "engineer",
                "command": "change_configuration",
                "params": {"key": "HeartbeatInterval", "value": "77"},
                "timeout": 10,
            }
        )
        answers: list[dict] = []
        for _ in range(2):
            sent = pub(
                broker,
                tree("hubs", "hub-b", "calls", "hub-a"),
                call,
                user="hub-b",
                response=tree("hubs", "hub-a", "replies", "hub-b"),
                correlation="queued-7",
            )
            assert sent.returncode == 0, sent.stderr
            # nothing else answers on this topic: each reply is the answer to this call
            answers.append(replies.doc(tree("hubs", "hub-a", "replies", "hub-b")))
        replies.stop()
        audited = ran(hub.registry, "change_configuration")
    finally:
        for process in started:
            process.stop()
        broker.proc.terminate()
        broker.proc.wait(timeout=10)

    assert answers[0]["outcome"] == "ok" and answers[0]["hub"] == "hub-a", answers
    assert answers[1] == answers[0]
    # run (and audited) once, under the operator's name
    assert [(a["actor"], a["outcome"]) for a in audited] == [("alice", "ok")], audited
